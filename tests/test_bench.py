"""`oadn-bench bench` runs end to end on a CPU with tiny settings and reports every figure it promises.

torch.compile is left out here (--no-compile): compiling two models on a shared 2-core CPU takes minutes; the
compiled path is the same code with ``torch.compile`` wrapped around the model.
"""

from __future__ import annotations

import json

from typer.testing import CliRunner

from oadn.cli import app

TINY = ["--set", "data.options={train_size: 70, test_size: 14}", "--set", "data.image_size=32",
        "--set", "model.backbone=cnn-tiny", "--set", "train.batch_size=8", "--set", "data.num_workers=1",
        "--steps", "2", "--warmup", "1", "--repeats", "2", "--loop-steps", "3", "--no-compile"]
WIDE = {"COLUMNS": "200"}  # rich wraps a label when the figures' widths leave it too little of 80 columns


def test_bench_prints_the_table_and_writes_json(tmp_path):
    result = CliRunner().invoke(app, ["bench", *TINY, "--json", str(tmp_path / "bench.json"),
                                      "--profile", str(tmp_path / "profile")], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "OADN / backbone" in result.output and "loop (loader + OADN step)" in result.output
    figures = json.loads((tmp_path / "bench.json").read_text())
    assert {(row["mode"], row["method"]) for row in figures["step"]} == {("eager", "baseline"), ("eager", "oadn")}
    assert all(len(row["runs"]) == 2 and row["img_per_s"] > 0 for row in figures["step"])
    (loop,) = figures["loop"]
    assert loop["workers"] == 1 and loop["input_img_per_s"] > 0 and loop["loop_img_per_s"] > 0
    assert loop["loop_data_wait_ms"] >= 0 and "of it, data wait" in result.output
    assert loop["image_mb_per_batch"] == 8 * 3 * 32 * 32 / 2**20 and "MB faces/batch" in result.output  # RGB uint8
    ratios = figures["ratios"]["eager"]
    step = {row["method"]: row["img_per_s"] for row in figures["step"]}
    assert abs(ratios["oadn_over_backbone_rate"] - step["oadn"] / step["baseline"]) < 1e-9
    assert abs(ratios["loop_over_step"] - loop["loop_img_per_s"] / step["oadn"]) < 1e-9
    assert figures["attention_faces_per_s"] > 0
    for method in ("baseline", "oadn"):  # a table of the heaviest operators per method
        table = (tmp_path / "profile" / f"eager_{method}.txt").read_text()
        assert table.startswith("2 steps,") and "aten::convolution" in table
    (scored,) = figures["scoring"]  # the run's first test split, by default
    assert scored["split"] == "test_clean" and scored["faces"] == 14
    for when in ("first", "again"):
        assert scored[f"{when}_faces_per_s"] > 0 and f"scoring test split, {when}" in result.output
        rate = scored[f"{when}_over_forward"] * figures["forward_faces_per_s"]
        assert abs(rate - scored[f"{when}_faces_per_s"]) < 1e-6
    costs = figures["cpu_ms_per_face"]
    assert set(costs) == {"read a training face", "baseline training step", "oadn training step", "oadn forward",
                          "read a test face of 'test split', first", "read a test face of 'test split', again"}
    assert all(ms > 0 for ms in costs.values()) and "CPU ms per face, one thread" in result.output


def test_other_methods_columns_and_the_base_data_set_get_their_own_figures(tmp_path):
    """--method adds a step and its ratio to the backbone's; --column scores a test set of another data set or
    options; an occluded training set is also read without its occluders."""
    occluded = ("data.options={base: synthetic, train_size: 70, test_size: 14, kind: [rect], area: any, "
                "probability: 0.5}")
    args = [occluded if arg == TINY[1] else arg for arg in TINY]
    result = CliRunner().invoke(app, ["bench", *args, "--set", "data.name=occluded", "--method", "ran",
                                      "--column", "{name: rect 30%, options: {kind: rect, area: 0.3, probability: 1}}",
                                      "--json", str(tmp_path / "bench.json")], env=WIDE)
    assert result.exit_code == 0, result.output
    figures = json.loads((tmp_path / "bench.json").read_text())
    assert {row["method"] for row in figures["step"]} == {"baseline", "oadn", "ran"}
    assert figures["ratios"]["eager"]["ran_over_backbone_rate"] > 0 and "ran / backbone" in result.output
    assert [c["column"] for c in figures["scoring"]] == ["rect 30%"]
    costs = figures["cpu_ms_per_face"]
    assert {"ran training step", "read a training face, no occluder",
            "read a test face of 'rect 30%', first"} <= set(costs)


def test_a_column_that_is_not_a_mapping_is_a_usage_error():
    result = CliRunner().invoke(app, ["bench", *TINY, "--column", "eyes"])
    assert result.exit_code == 2 and "--column 'eyes': expected a mapping" in result.output


def test_each_compile_mode_is_measured_and_cuda_graph_modes_mark_every_step(tmp_path, monkeypatch):
    """The plumbing of --compile-mode, with torch.compile replaced by a recorder (compiling is what takes minutes
    on this CPU): every mode asked for gets its rows under its own name, compiled in that mode, and a mode that
    replays CUDA graphs marks the start of every step (else a step would overwrite tensors the last one returned)."""
    import torch

    compiled_modes, marks = [], []
    monkeypatch.setattr(torch, "compile", lambda fn, mode=None: compiled_modes.append(mode) or fn)
    monkeypatch.setattr(torch.compiler, "cudagraph_mark_step_begin", lambda: marks.append(1))
    args = [arg for arg in TINY if arg != "--no-compile"]
    result = CliRunner().invoke(app, ["bench", *args, "--compile-mode", "default", "--compile-mode", "reduce-overhead",
                                      "--json", str(tmp_path / "bench.json")])
    assert result.exit_code == 0, result.output
    figures = json.loads((tmp_path / "bench.json").read_text())
    modes = ["eager", "compiled", "compiled:reduce-overhead"]
    assert figures["settings"]["modes"] == modes and list(figures["ratios"]) == modes and not figures["errors"]
    assert [loop["mode"] for loop in figures["loop"]] == modes
    assert compiled_modes == ["default"] * 4 + ["reduce-overhead"] * 4  # model and loss, for both methods
    # reduce-overhead steps: warm-up 1 + 2 repeats x 2 steps per method, then the loop's 1 + 3 + 3 batches
    assert len(marks) == 2 * (1 + 2 * 2) + (1 + 3)


def test_an_unknown_compile_mode_is_a_usage_error():
    result = CliRunner().invoke(app, ["bench", *TINY, "--compile-mode", "fastest"])
    assert result.exit_code == 2 and "unknown torch.compile mode fastest" in result.output

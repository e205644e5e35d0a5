"""The command line as a whole: every command answers ``--help`` at once (no torch imported), runs under the one
failure policy (a usage error exits 2, a known failure 1, each in one named line; a bug keeps its traceback),
reads ``KEY=VALUE`` options one way, and takes ``--no-progress`` where it draws a bar."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from helpers import one_named_line
from oadn.cli import app, command_infos

runner = CliRunner()
#: every command's words on the command line, from the app itself (a command added later is covered too)
COMMANDS = [[info.name] for info in app.registered_commands] + [
    [group.name, info.name] for group in app.registered_groups for info in group.typer_instance.registered_commands]
#: commands that draw no progress bar (quick, or printing a table); every other command takes --no-progress
WITHOUT_A_BAR = {("models",), ("datasets", "list"), ("report",), ("show-landmarks",), ("bench",), ("migrate",)}
#: modules --help must not import: the heavy stack the commands use when they run
HEAVY = ("torch", "torchvision", "pandas", "matplotlib", "timm", "scipy")


@pytest.mark.parametrize("command", [[], *COMMANDS], ids=lambda c: " ".join(c) or "app")
def test_help_of_every_command(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_help_and_version_import_no_torch():
    """Every command's --help and --version in a fresh interpreter, then what it imported."""
    script = "\n".join([
        "import sys",
        "from oadn.cli import app",
        f"for words in {[[]] + COMMANDS!r} + [['--version']]:",
        "    try:",
        "        app(words if words == ['--version'] else [*words, '--help'], prog_name='oadn-bench')",
        "    except SystemExit as done:",
        "        assert done.code == 0, (words, done.code)",
        f"print(sorted(name for name in {HEAVY!r} if name in sys.modules))",
    ])
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout[-2000:]


def test_every_command_runs_under_the_failure_policy():
    infos = command_infos()
    assert len(infos) == len(COMMANDS) and all(getattr(info.callback, "guarded", False) for info in infos)


def test_a_usage_error_exits_2_and_a_known_failure_1_in_one_named_line(tmp_path):
    unknown = runner.invoke(app, ["pack", "nosuch", "--root", str(tmp_path), "--out", str(tmp_path / "x.pack"),
                                  "--size", "48", "--no-progress"])
    assert "NAME = 'nosuch': unknown data set" in one_named_line(unknown, 2)
    missing = runner.invoke(app, ["pack", "ferplus", "--root", str(tmp_path / "nowhere"), "--out",
                                  str(tmp_path / "x.pack"), "--size", "48", "--cache-dir", str(tmp_path / "cache"),
                                  "--no-progress"])
    assert "no prepared cache for 'ferplus'" in one_named_line(missing, 1)


def test_bench_fails_in_one_named_line(tmp_path):
    result = runner.invoke(app, ["bench", "--no-compile", "--set", "data.name=ferplus", "--set",
                                 f"data.root={tmp_path / 'nowhere'}", "--set", "model.backbone=cnn-tiny",
                                 "--set", "data.image_size=32"])
    assert "missing directory" in one_named_line(result, 1)


def test_a_bug_keeps_its_traceback(monkeypatch):
    import oadn.experiments.ablations as ablations

    def broken(*args, **kwargs):
        raise TypeError("a bug")

    monkeypatch.setattr(ablations, "resolve_ablation", broken)
    result = runner.invoke(app, ["ablate", "--param", "T", "--dry-run"])
    assert isinstance(result.exception, TypeError) and "error:" not in result.output


@pytest.mark.parametrize("args, option", [
    (["evaluate", "RUN", "-o", "label_mode"], "--option 'label_mode'"),
    (["evaluate", "RUN", "--model-option", "threshold"], "--model-option 'threshold'"),
    (["run", "--suite", "demo", "--dry-run", "--executor-option", "partition"], "--executor-option 'partition'"),
    (["prepare", "ferplus", "--root", ".", "-o", "protocol"], "--option 'protocol'"),
    (["datasets", "check", "ferplus", "--root", ".", "-o", "protocol"], "--option 'protocol'"),
])
def test_key_value_options_are_read_one_way(args, option, tmp_path):
    from oadn.config import RunConfig
    from oadn.engine.run_dir import save_config

    run = tmp_path / "run"
    run.mkdir()
    save_config(RunConfig(), run)
    result = runner.invoke(app, [str(run) if a == "RUN" else a for a in args])
    assert f"{option}: expected KEY=VALUE" in one_named_line(result, 2)


@pytest.mark.parametrize("command", [c for c in COMMANDS if tuple(c) not in WITHOUT_A_BAR],
                         ids=lambda c: " ".join(c))
def test_every_command_with_a_bar_takes_no_progress(command):
    result = runner.invoke(app, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0 and "--no-progress" in result.output, command


@pytest.mark.parametrize("command", [c for c in COMMANDS if tuple(c) not in WITHOUT_A_BAR],
                         ids=lambda c: " ".join(c))
def test_every_commands_progress_flag_reaches_the_bars_it_cannot_pass_down(command):
    from oadn.common.console import show_progress

    click_command = typer.main.get_command(app)
    for word in command:
        click_command = click_command.commands[word]
    flag = next(p for p in click_command.params if p.name == "progress")
    assert getattr(flag.callback, "__wrapped__", flag.callback) is show_progress  # typer wraps a callback

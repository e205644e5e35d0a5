"""Tables of `oadn-bench bench` JSON files side by side: two folders written by measure.sh (before and after a
change, or two machines), one column per folder.

    python benchmarks/bench/summarise.py docs/results/bench-cpu/before docs/results/bench-cpu/after
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

CONFIGS = ("synthetic-64", "prepared-72", "pack-72", "prepared-96", "pack-96")


def figures(result: dict) -> dict[str, float]:
    """The figures of one bench run, flat: ratios, rates and CPU ms per face."""
    ratios = result["ratios"]["eager"]
    out = {"OADN / backbone step rate": ratios["oadn_over_backbone_rate"],
           "loop / step": ratios["loop_over_step"],
           "OADN step (img/s)": next(r["img_per_s"] for r in result["step"] if r["method"] == "oadn"),
           "loop's wait for data (ms/batch)": result["loop"][0]["loop_data_wait_ms"]}
    out.update({f"{key.removesuffix('_over_backbone_rate')} / backbone step rate": value
                for key, value in ratios.items() if key.endswith("_over_backbone_rate") and not key.startswith("oadn")})
    for column in result["scoring"]:
        for when in ("first", "again"):
            out[f"scoring {column['column']} / forward, {when}"] = column[f"{when}_over_forward"]
    out.update({f"CPU ms/face: {stage}": ms for stage, ms in result["cpu_ms_per_face"].items()})
    return out


def table(folders: list[Path], config: str) -> str:
    runs = {folder.name: json.loads((folder / f"{config}.json").read_text()) for folder in folders
            if (folder / f"{config}.json").is_file()}
    if not runs:
        return ""
    rows = {name: figures(result) for name, result in runs.items()}
    keys = list(dict.fromkeys(k for values in rows.values() for k in values))
    precision = " / ".join(f"{name}: {r['settings'].get('precision', 'fp32')}" for name, r in runs.items())
    lines = [f"### {config} ({precision})", "", "| figure | " + " | ".join(rows) + " |",
             "|---|" + "---:|" * len(rows)]
    for key in keys:
        cells = [f"{rows[name][key]:,.3f}" if key in rows[name] else "-" for name in rows]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    args = parser.parse_args()
    print("\n".join(t for t in (table(args.folders, config) for config in CONFIGS) if t))


if __name__ == "__main__":
    main()

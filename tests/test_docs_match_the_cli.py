"""The README and docs/ say only what the command line does: every ``oadn-bench COMMAND`` they show is a command,
every ``--option`` shown with it is one of that command's options, and no page links outside the repository or
names an issue or a commit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

from oadn.cli import app

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: one shown command: ``oadn-bench`` and its words up to the end of a code span, a line or a shell operator
SHOWN = re.compile(r"oadn-bench((?:[ \t]+(?:\\\n[ \t]*)?[^\s`|;&)]+)+)")


def commands() -> dict:
    """Every command by its words ("train", "datasets check")."""
    group = typer.main.get_command(app)
    out = {}
    for name, command in group.commands.items():
        out.update({f"{name} {sub}": c for sub, c in getattr(command, "commands", {}).items()})
        out[name] = command
    return out


def shown_commands(text: str) -> list[list[str]]:
    """The words after each ``oadn-bench`` in ``text``."""
    out = []
    for match in SHOWN.finditer(text):
        words = match.group(1).replace("\\\n", " ").split()
        words = words[:words.index("#")] if "#" in words else words  # a shell comment ends the command
        out.append([w.strip("`,.:;") for w in words])
    return out


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_command_and_option_shown_exists(page):
    known = commands()
    problems = []
    for words in shown_commands(page.read_text()):
        if not words or words[0].startswith("-") or words[0][0].isdigit():  # --version, --help; a version number
            continue
        name = " ".join(words[:2]) if " ".join(words[:2]) in known else words[0]
        if name not in known:
            if words[0] not in {"COMMAND", "...", "CMD"}:
                problems.append(f"{' '.join(words[:3])}: no such command")
            continue
        options = {opt for param in known[name].params for opt in (*param.opts, *param.secondary_opts)}
        for word in words:
            flag = word.split("=", 1)[0]
            if re.fullmatch(r"--?[a-zA-Z][\w-]*", flag) and flag not in options and flag != "--help":
                problems.append(f"oadn-bench {name} {flag}: not an option of {name}")
    assert not problems, f"{page.name}: " + "; ".join(problems)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_page_links_outside_the_repository_or_names_an_issue_or_a_commit(page):
    text = page.read_text()
    links = re.findall(r"\]\(([^)]+)\)", text)
    outside = [link for link in links if link.startswith(("http", "/", "..")) or
               not (page.parent / link.split("#")[0]).resolve().is_relative_to(ROOT)]
    issues = re.findall(r"\bissue\s+#?\d+|#\d{2,}\b", text, flags=re.IGNORECASE)
    commits = re.findall(r"\b(?:commit|at)\s+([0-9a-f]{7,40})\b", text) + [  # and short hashes alone
        word for word in re.findall(r"\b[0-9a-f]{7}\b", text) if re.search(r"\d", word) and re.search(r"[a-f]", word)]
    assert not outside and not issues and not commits, (outside, issues, commits)
    assert "../shared" not in text and "DESIGN.md" not in text


def test_the_docs_name_every_built_in_suite_and_ablation():
    from oadn.experiments.ablations import ablations_dir
    from oadn.experiments.suites import builtin_suites

    listed = (ROOT / "docs" / "experiments.md").read_text()
    names = builtin_suites() + [p.stem for p in ablations_dir().glob("*.yaml") if not p.stem.startswith("synthetic-")]
    assert [name for name in names if f"`{name}`" not in listed] == []

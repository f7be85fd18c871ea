"""Every ``foretell`` command shown in the shell blocks of README.md and docs/*.md runs as written,
with counts shrunk to a few episodes, so the docs cannot drift from the CLI."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from foretell.cli import app

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"--episodes": "2", "--seeds": "2", "--attempts": "2", "--steps": "3"}
AT_LEAST = {("eval", "first-frame"): {"--episodes": "24"}}
EXTRA = {("eval", "puzzles"): ["--tasks-per-template", "1"], ("eval", "first-frame"): ["--folds", "2"],
         ("generate",): ["--image-size", "32"]}


def shell_commands(text: str) -> list[list[str]]:
    """``foretell`` invocations in a Markdown file's fenced shell blocks, comments and ``[...]`` dropped."""
    found, fence, pending = [], None, ""
    for line in text.splitlines():
        if line.startswith("```"):
            fence = line.strip()[3:] if fence is None else None  # the language of the open fence
            continue
        if fence not in ("", "bash", "sh", "console"):
            continue
        pending += line.rstrip().removesuffix("\\") + " "
        if line.rstrip().endswith("\\"):
            continue
        command, pending = pending.strip(), ""
        for part in command.split(" && "):
            argv = [a for a in shlex.split(part, comments=True) if not (a.startswith("[") and a.endswith("]"))]
            if argv and argv[0] == "foretell":
                found.append(argv[1:])
    return found


def shrink(argv: list[str]) -> list[str]:
    """The same command on a tiny budget."""
    group = tuple(argv[:2]) if argv[:1] in (["eval"], ["data"], ["envs"]) else tuple(argv[:1])
    small = {**SMALL, **AT_LEAST.get(group, {})}
    out = [small[argv[i - 1]] if i and argv[i - 1] in small else a for i, a in enumerate(argv)]
    if group == ("generate",) and not out[1].startswith("--") and "Puzzle" not in out[1]:
        out += ["--max-steps", "8"]  # a recipe sets it per task (below); a puzzle is one attempt
    return out + EXTRA.get(group, [])


def _small_recipes(folder: Path) -> None:
    """The repo's recipes with one episode per task, where the docs expect them."""
    (folder / "recipes").mkdir()
    for recipe in (ROOT / "recipes").glob("*.yaml"):
        raw = yaml.safe_load(recipe.read_text())
        for task in raw["tasks"]:
            task.update(episodes=1, **({} if "Puzzle" in task["env"] else {"max_steps": 8}))
        (folder / "recipes" / recipe.name).write_text(yaml.safe_dump(raw))


DOCS = [doc for doc in ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]
        if shell_commands((ROOT / doc).read_text())]


def test_the_readme_shows_commands():
    assert "README.md" in DOCS


@pytest.mark.parametrize("doc", DOCS)
def test_documented_commands_run(doc, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _small_recipes(tmp_path)
    commands = shell_commands((ROOT / doc).read_text())
    runner = CliRunner()
    for argv in commands:
        small = shrink(argv)
        result = runner.invoke(app, small)
        assert result.exit_code == 0, f"{doc}: foretell {shlex.join(argv)}\n(ran as {shlex.join(small)})\n" \
                                      f"{result.output}\n{result.exception!r}"

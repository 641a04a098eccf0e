"""The exercise pages (book/exercises/<chapter stem>.md): their shape, their place in the table of contents, and
their solutions, whose python code runs here.

Each page holds 3 to 5 ``{exercise}`` directives, each with a hidden ``{solution}`` (``:class: dropdown``); at least
one solution per page checks its own answer with ``assert``; each page ends with a "Teacher's notes" section. Every
python block inside a solution is executed in a fresh namespace, so a solution that stopped working (a renamed
library function, a changed signature, a broken assert) fails here, not in front of a class. The solutions use
synthetic data only: nothing is downloaded.
"""

from __future__ import annotations

import importlib
import re
import time
import unicodedata
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXERCISES = ROOT / "book" / "exercises"
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PAGES = sorted(EXERCISES.glob("*.md"))
# Characters of the book's code font that fit one line of a code block without scrolling sideways. The page's code
# column holds 89 (tests/book/conftest.py); a solution sits inside an admonition, whose padding leaves 87 (measured
# by the browser test on a scratch build), and 84 keeps a margin for other fonts.
CODE_WIDTH = 84

# a colon fence of 3+ colons opening a directive, up to the same fence closing it
DIRECTIVE = re.compile(r"^(?P<fence>:{3,})\{(?P<name>exercise|solution)\}(?P<arg>[^\n]*)\n(?P<body>.*?)^(?P=fence)\s*$",
                       re.M | re.S)
PYTHON = re.compile(r"^```python\n(.*?)^```\s*$", re.M | re.S)
OPTION = re.compile(r"^:(\w+):\s*(.*)$", re.M)


def directives(text: str, name: str) -> list[dict]:
    """Every ``{name}`` directive of a page: its argument, options and body."""
    out = []
    for m in DIRECTIVE.finditer(text):
        if m["name"] == name:
            out.append({"arg": m["arg"].strip(), "options": dict(OPTION.findall(m["body"])), "body": m["body"]})
    return out


def solution_blocks() -> list[tuple[str, str, str]]:
    """``(page stem, exercise label, python code)`` for every python block of every solution."""
    blocks = []
    for page in PAGES:
        for sol in directives(page.read_text(encoding="utf-8"), "solution"):
            for i, code in enumerate(PYTHON.findall(sol["body"])):
                blocks.append((page.stem, sol["arg"] + (f"#{i}" if i else ""), code))
    return blocks


def display_width(line: str) -> int:
    """Columns ``line`` takes in a monospace font: wide and full-width (CJK) characters count two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line.expandtabs(4))


def toc_sections() -> dict[str, list[str]]:
    """``{chapter file: [its sections' files]}`` from _toc.yml."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    out = {}
    for part in toc.get("parts", []):
        for chapter in part.get("chapters", []):
            out[chapter["file"]] = [s["file"] for s in chapter.get("sections", [])]
    return out


def test_parser_finds_directives_and_code():
    text = ("::::{exercise} Title\n:label: ex-a\n\nDo it.\n::::\n\n"
            "::::{solution} ex-a\n:class: dropdown\n\n```python\nx = 1\nassert x == 1\n```\n::::\n")
    (ex,), (sol,) = directives(text, "exercise"), directives(text, "solution")
    assert ex["options"]["label"] == "ex-a" and sol["arg"] == "ex-a" and sol["options"]["class"] == "dropdown"
    assert PYTHON.findall(sol["body"]) == ["x = 1\nassert x == 1\n"]


def test_every_chapter_has_an_exercise_page_under_it_in_the_toc():
    sections = toc_sections()
    assert {p.stem for p in PAGES} == {c.stem for c in CHAPTERS}, "one exercise page per chapter notebook"
    for chapter in CHAPTERS:
        assert f"book/exercises/{chapter.stem}" in sections.get(f"notebooks/{chapter.stem}", []), (
            f"_toc.yml: put book/exercises/{chapter.stem} in the sections of notebooks/{chapter.stem}")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_page_shape(page):
    text = page.read_text(encoding="utf-8")
    exercises, solutions = directives(text, "exercise"), directives(text, "solution")
    labels = [e["options"].get("label") for e in exercises]
    assert 3 <= len(exercises) <= 5, f"{page.name}: {len(exercises)} exercises, want 3 to 5"
    assert all(labels) and len(set(labels)) == len(labels), f"{page.name}: every exercise needs its own :label:"
    prefix = f"ex-{page.stem[:2]}-"
    assert all(lab.startswith(prefix) for lab in labels), f"{page.name}: labels start {prefix}"
    assert sorted(s["arg"] for s in solutions) == sorted(labels), f"{page.name}: one solution per exercise"
    assert all(s["options"].get("class") == "dropdown" for s in solutions), f"{page.name}: solutions are hidden"
    assert all(PYTHON.findall(s["body"]) for s in solutions), f"{page.name}: every solution has python code"
    assert any(re.search(r"^\s*assert ", "".join(PYTHON.findall(s["body"])), re.M) for s in solutions), (
        f"{page.name}: at least one solution checks its own answer with assert")
    assert re.search(r"^## Teacher's notes\s*$", text, re.M), f"{page.name}: a '## Teacher's notes' section"
    notes = text.split("## Teacher's notes", 1)[1]
    assert "Common mistakes" in notes and "Questions for discussion" in notes, page.name
    wide = [line for block in re.findall(r"^```\w*\n(.*?)^```", text, re.M | re.S) for line in block.splitlines()
            if display_width(line) > CODE_WIDTH]
    assert not wide, f"{page.name}: code lines wider than {CODE_WIDTH} characters scroll sideways: {wide}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_api_roles_name_real_library_objects(page):
    """Each page links its library calls to the API reference; a renamed function must not leave a dead name."""
    targets = re.findall(r"\{py:(?:func|class)\}`~?([\w.]+)`", page.read_text(encoding="utf-8"))
    assert targets, f"{page.name}: link the library calls of the page to the API reference"
    for target in targets:
        module, _, name = target.rpartition(".")
        assert module.startswith("xlrec_lib") and hasattr(importlib.import_module(module), name), target


@pytest.mark.parametrize("stem,label,code", solution_blocks(), ids=lambda v: v if len(v) < 40 else None)
def test_solution_runs(stem, label, code):
    start = time.perf_counter()
    exec(compile(code, f"book/exercises/{stem}.md:{label}", "exec"), {"__name__": f"solution_{label}"})
    # a solution is meant for a classroom laptop: seconds, not minutes (generous: the test machine is shared)
    assert time.perf_counter() - start < 60, f"{stem} {label} took too long for an exercise"

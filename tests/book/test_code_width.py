"""Every code line of every chapter (code cells, and code blocks fenced in markdown cells) and of every page of
``book/`` (its fenced blocks) fits the book's code column, so no code block scrolls sideways.

The width is CODE_WIDTH characters of the book's code font (tests/book/conftest.py; measured on a built page by
tests/book/test_browser.py). A CJK character counts as two: its glyph is about 1.7 code characters wide.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PAGES = sorted((ROOT / "book").rglob("*.md"))


def display_width(line: str) -> int:
    """Columns ``line`` takes in a monospace font: wide and full-width characters count two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line.expandtabs(4))


def code_lines(cell: dict) -> list[tuple[int, str]]:
    """``(line number, line)`` of the code a cell shows: all of a code cell, the fenced blocks of a markdown cell."""
    source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
    lines = list(enumerate(source.splitlines(), 1))
    if cell["cell_type"] == "code":
        return lines
    shown, fence = [], None
    for n, line in lines:
        mark = line.lstrip()[:3]
        if fence is None and mark in ("```", "~~~"):
            fence = mark
        elif fence is not None and mark == fence:
            fence = None
        elif fence is not None:
            shown.append((n, line))
    return shown


def long_lines(path: Path, width: int) -> list[str]:
    """``notebook:cell:line (columns): text`` for each code line wider than ``width``; cells and lines from 1."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [f"{path.name}:{c}:{n} ({display_width(line)}): {line.strip()[:60]}"
            for c, cell in enumerate(cells, 1) for n, line in code_lines(cell) if display_width(line) > width]


def test_display_width_counts_wide_characters_twice():
    assert display_width("x = 1") == 5 and display_width("神说要有光") == 10 and display_width("\tx") == 5


def test_long_lines_are_found_and_located(tmp_path, code_width):
    fenced = "prose " * 40 + "\n```python\nz = '" + "b" * code_width + "'\n```\n" + "more prose " * 20
    nb = {"cells": [{"cell_type": "markdown", "source": fenced},
                    {"cell_type": "code", "source": ["ok = 1\n", "y = '" + "a" * code_width + "'\n"]}]}
    (tmp_path / "99_x.ipynb").write_text(json.dumps(nb))
    assert long_lines(tmp_path / "99_x.ipynb", code_width) == [f"99_x.ipynb:1:3 ({code_width + 6}): z = '{'b' * 55}",
                                                               f"99_x.ipynb:2:2 ({code_width + 6}): y = '{'a' * 55}"]


def test_every_notebook_code_line_fits_the_book(code_width):
    found = [line for path in NOTEBOOKS for line in long_lines(path, code_width)]
    assert not found, f"{len(found)} code lines wider than {code_width} characters:\n" + "\n".join(found)


def shown_page_source(text: str) -> str:
    """A page without its MyST directive blocks (```{name} ... ```, e.g. eval-rst or the results table's data),
    which Sphinx renders as something other than a code block; code blocks stay."""
    out, skipping = [], False
    for line in text.splitlines():
        mark = line.lstrip()
        if not skipping and mark.startswith("```{") and not mark.startswith(("```{code", "```{code-block")):
            skipping = True
        elif skipping and mark.startswith("```"):
            skipping = False
        elif not skipping:
            out.append(line)
    return "\n".join(out)


def test_every_page_code_line_fits_the_book(code_width):
    """The pages' fenced code blocks (the browser test found a setup.md comment too wide; this finds it sooner)."""
    found = [f"{path.relative_to(ROOT)}:{n} ({display_width(line)}): {line.strip()[:60]}"
             for path in PAGES
             for n, line in code_lines({"cell_type": "markdown",
                                        "source": shown_page_source(path.read_text(encoding="utf-8"))})
             if display_width(line) > code_width]
    assert PAGES and not found, f"{len(found)} code lines wider than {code_width} characters:\n" + "\n".join(found)

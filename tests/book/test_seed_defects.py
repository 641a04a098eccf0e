"""The page "What the seed code gets wrong" (book/seed_defects.md): every entry names its seed section and either
links the chapter section that shows the defect failing and fixed, or says which chapter (still being written) will.

A link reads ``[chapter N: Section title](../notebooks/NN_stem.ipynb#section-title)``: the notebook must be in the
table of contents, its number must be N, a markdown heading of that notebook must carry the section title, and the
anchor must be the one MyST gives that heading (``myst_heading_anchors`` in ``_config.yml``), so that the reader
lands on the section and a renamed section fails here instead of leaving the reader to search. A chapter that is
not written yet is named as "chapter N (coming)" and must indeed have no notebook yet.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "book" / "seed_defects.md"
ENTRY = re.compile(r"^ ?\d+\. \*\*(.+?)\*\*(.*?)(?=^ ?\d+\. \*\*|^## |\Z)", re.M | re.S)
CHAPTER_LINK = re.compile(r"\[chapter (\d+): (.+?)\]\((\.\./notebooks/[^)\s#]+\.ipynb)(#[^)\s]*)?\)", re.S)
ANY_LINK = re.compile(r"\]\(([^)\s]+)\)")
COMING = re.compile(r"chapter (\d+) \(coming\)")
SEED = re.compile(r"^## Seed (\d{3}):", re.M)


def plain(text: str) -> str:
    """A heading or link text without markdown: code ticks, emphasis and extra spaces removed."""
    return re.sub(r"\s+", " ", re.sub(r"[`*]", "", text)).strip()


def anchor(title: str) -> str:
    """The id MyST gives a heading with this text (myst_parser's default_slugify, GitHub's rule)."""
    from myst_parser.mdit_to_docutils.base import default_slugify

    return default_slugify(plain(title))


def anchor_depth() -> int:
    """``myst_heading_anchors`` of ``_config.yml``: MyST gives ids to headings down to this level."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    return int(config["sphinx"]["config"].get("myst_heading_anchors", 0))


def test_heading_anchors_are_on():
    assert anchor_depth() >= 3, "section links need MyST's heading anchors"


def headings(notebook: Path, depth: int | None = None) -> set[str]:
    """The markdown headings of ``notebook`` down to level ``depth`` (default :func:`anchor_depth`: the ones MyST
    gives an id, so the only ones a link can land on)."""
    depth = anchor_depth() if depth is None else depth
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    lines = ("".join(c["source"]).splitlines() for c in cells if c["cell_type"] == "markdown")
    levels = (re.match(r"(#+)\s", line) for cell in lines for line in cell)
    return {plain(m.string[m.end():]) for m in levels if m and len(m.group(1)) <= depth}


def test_headings_stop_at_the_anchor_depth(tmp_path):
    cell = {"cell_type": "markdown", "source": ["# One\n", "### Three `x`\n", "#### Four\n", "#hashtag\n"]}
    nb = tmp_path / "n.ipynb"
    nb.write_text(json.dumps({"cells": [cell]}), encoding="utf-8")
    assert headings(nb, 3) == {"One", "Three x"}
    assert headings(nb, 4) == {"One", "Three x", "Four"}


def toc_files() -> set[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    return {c["file"] for part in toc["parts"] for c in part["chapters"]} | {toc["root"]}


def entries() -> list[tuple[str, str, str]]:
    """``(seed, title, body)`` for every numbered entry of the page."""
    text = PAGE.read_text(encoding="utf-8")
    out = []
    for section in re.split(r"(?=^## Seed \d{3}:)", text, flags=re.M)[1:]:
        seed = SEED.match(section).group(1)
        out.extend((seed, m.group(1), m.group(2)) for m in ENTRY.finditer(section))
    return out


def test_parser_reads_entries_and_links():
    body = "1. **§1: `x`.** Why. Shown in [chapter 7: What `a` is](../notebooks/07_s.ipynb).\n"
    (m,) = ENTRY.finditer(body)
    assert m.group(1) == "§1: `x`."
    assert CHAPTER_LINK.findall(m.group(2)) == [("7", "What `a` is", "../notebooks/07_s.ipynb", "")]
    assert anchor("What `a` is?") == "what-a-is"
    assert anchor("The seeds' loop, and the fix") == "the-seeds-loop-and-the-fix"
    assert plain("### `[CLS]` or mean pooling?".lstrip("#")) == "[CLS] or mean pooling?"


def test_exercise_references_exist():
    labels = {m for page in (ROOT / "book" / "exercises").glob("*.md")
              for m in re.findall(r"^:label: (\S+)", page.read_text(encoding="utf-8"), re.M)}
    refs = re.findall(r"\{ref\}`([^`]+)`", PAGE.read_text(encoding="utf-8"))
    assert refs and set(refs) <= labels, f"unknown exercise labels: {set(refs) - labels}"


def test_page_is_in_the_toc():
    assert "book/seed_defects" in toc_files()


def test_every_defect_names_its_place_and_its_fix():
    found = entries()
    assert len(found) >= 30
    assert {seed for seed, _, _ in found} == {"000", "001", "002", "003", "004"}
    numbers = [int(n) for n in re.findall(r"^ ?(\d+)\. \*\*", PAGE.read_text(encoding="utf-8"), re.M)]
    assert numbers == list(range(1, len(numbers) + 1)), "entries are numbered 1, 2, 3, ... across the page"
    files = toc_files()
    written = {int(p.stem[:2]): p for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    for seed, title, body in found:
        assert title.startswith("§") or re.match(r"(Every|Later) listing|§", title), f"seed {seed} {title}: say where"
        links, coming = CHAPTER_LINK.findall(body), COMING.findall(body)
        assert links or coming, f"seed {seed} {title}: link the fixing chapter or say 'chapter N (coming)'"
        for number, section, target, fragment in links:
            notebook = (PAGE.parent / target).resolve()
            assert notebook.exists() and str(notebook.relative_to(ROOT).with_suffix("")) in files, target
            assert int(notebook.name[:2]) == int(number), f"{target} is not chapter {number}"
            assert plain(section) in headings(notebook), f"{notebook.name} has no section {section!r}"
            assert fragment == f"#{anchor(section)}", f"link {section!r} with #{anchor(section)}, got {fragment!r}"
        for number in coming:
            assert int(number) not in written, f"chapter {number} exists now: link it instead of '(coming)'"
        for link in ANY_LINK.findall(body):
            assert link.startswith("../notebooks/"), f"seed {seed} {title}: unexpected link {link}"

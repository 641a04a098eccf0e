"""The results page's table (book/_ext/results_table.py), built from fixture results files: every recorded number
in reading order, its anchor beside it, and what is missing or stale flagged."""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import results_table as rt  # noqa: E402

T1 = "2026-12-02T01:00:00+00:00"


def _write(folder: Path, stem: str, entries: dict) -> None:
    (folder / f"{stem}.quick.json").write_text(json.dumps(entries), encoding="utf-8")


@pytest.fixture
def recorded(tmp_path, monkeypatch):
    """Two chapters' quick results as xlrec_lib.results wrote them, read back through the library."""
    from xlrec_lib import results

    monkeypatch.setenv("XLREC_RESULTS", str(tmp_path))
    _write(tmp_path, "07_scoring", {"ndcg10_popularity": {"value": 0.19544, "k": 10, "recorded": T1},
                                    "alpha_chosen": {"value": 8.0, "chosen_on": "validation", "recorded": T1}})
    _write(tmp_path, "08_cf", {"ndcg10_best": {"value": 0.4916, "setting": {"factors": 64, "reg": 30.0},
                                               "recorded": T1},
                               "ratings": {"value": 100000, "recorded": T1}})
    return {stem: (results.read_results(stem, True) if (tmp_path / f"{stem}.quick.json").exists() else None)
            for stem in ("07_scoring", "08_cf", "09_missing")}


def test_anchors_are_parsed_from_the_page_source():
    lines = ["# a comment", "", "07_scoring.ndcg10_popularity: 0.196, cited in issue 15: rating >= 4"]
    assert rt.parse_anchors(lines) == {("07_scoring", "ndcg10_popularity"): "0.196, cited in issue 15: rating >= 4"}
    with pytest.raises(ValueError, match="07_scoring: no name"):
        rt.parse_anchors(["07_scoring: no name"])


def test_one_row_per_number_with_its_anchor_and_context(recorded):
    anchors = {("07_scoring", "ndcg10_popularity"): "0.196 (issue 15)"}
    found = rt.rows(recorded, anchors)
    assert [(r[0], r[1], r[2], r[5], r[6]) for r in found] == [
        ("07_scoring", "ndcg10_popularity", "0.1954", "0.196 (issue 15)", ""),
        ("07_scoring", "alpha_chosen", "8", "", ""),
        ("08_cf", "ndcg10_best", "0.4916", "", ""),
        ("08_cf", "ratings", "100,000", "", ""),
        ("09_missing", "", "", "", "09_missing recorded no numbers"),
    ]
    assert found[0][3] == "k=10" and found[2][3] == "setting=(factors=64, reg=30)"
    assert found[0][4] == T1


def test_stale_numbers_missing_chapters_and_wrong_anchors_are_flagged(recorded):
    anchors = {("07_scoring", "ndcg10_renamed"): "0.2", ("06_unknown", "x"): "1"}
    later = datetime(2026, 12, 2, 2, 0, tzinfo=timezone.utc)
    problems = [r[6] for r in rt.rows(recorded, anchors, since=later) if r[6]]
    assert "07_scoring.ndcg10_popularity was recorded at 2026-12-02T01:00:00+00:00, before this build" in problems
    assert "anchor 07_scoring.ndcg10_renamed: the chapter recorded no number of that name" in problems
    assert "09_missing recorded no numbers" in problems
    assert "anchor for 06_unknown: not a chapter of the book" in problems
    assert len(problems) == 4 + 3  # and the three other numbers recorded before `later`
    assert not [r for r in rt.rows(recorded, {}, since=datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc)) if r[6]
                and "before this build" in r[6]]


def test_the_table_shows_every_number_and_links_each_chapter_once(recorded):
    found = rt.rows(recorded, {("08_cf", "ndcg10_best"): ">= 0.48 (goal)"})
    tab = rt.table(found, link=lambda s: (f"{s}.html", f"Title {s}"))
    body = [[entry.astext() for entry in row.children] for row in tab.findall(lambda n: n.tagname == "row")]
    assert body[0] == ["Chapter", "Number", "Value", "Anchor"]
    assert body[1] == ["Title 07_scoring\n\nrecorded 2026-12-02 01:00 UTC", "ndcg10_popularity\n\nk=10", "0.1954", ""]
    assert body[3] == ["Title 08_cf\n\nrecorded 2026-12-02 01:00 UTC", "ndcg10_best\n\nsetting=(factors=64, reg=30)",
                       "0.4916", ">= 0.48 (goal)"]
    assert body[4] == ["", "ratings", "100,000", ""]
    assert body[5] == ["Title 09_missing", "09_missing recorded no numbers", "", ""]
    links = [ref["refuri"] for ref in tab.findall(lambda n: n.tagname == "reference")]
    assert links == ["07_scoring.html", "08_cf.html", "09_missing.html"]
    later = datetime(2026, 12, 2, 2, 0, tzinfo=timezone.utc)
    stale = rt.table(rt.rows(recorded, {}, since=later))
    assert "0.1954 (recorded before this build)" in stale.astext()


def test_values_are_shown_readably():
    assert [rt.fmt(v) for v in (0.123456, 1234567, 12345.6, "e5-small", True, [1, 2])] == [
        "0.1235", "1,234,567", "12,346", "e5-small", "True", "[1, 2]"]


def recorded_names(notebook: Path) -> list[str]:
    """Regexes of the names a notebook's code records: ``record("name", ...)``, f-string fields as ``\\w+``."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    names = []
    for f, name in re.findall(r'record\(\s*(f?)"([^"]+)"', code):
        parts = re.split(r"\{[^}]*\}", name) if f else [name]
        names.append(r"\w+".join(re.escape(p) for p in parts))
    return names


def test_every_anchor_on_the_results_page_names_a_recorded_number():
    page = (ROOT / "book" / "results.md").read_text(encoding="utf-8")
    block = re.search(r"```\{xlrec-results\}\n(.*?)```", page, re.S)
    assert block, "book/results.md: no xlrec-results directive"
    anchors = rt.parse_anchors(block.group(1).splitlines())
    assert anchors
    wrong = []
    for stem, name in anchors:
        notebook = ROOT / "notebooks" / f"{stem}.ipynb"
        if not notebook.is_file():
            wrong.append(f"{stem}: no notebooks/{stem}.ipynb")
        elif not any(re.fullmatch(pattern, name) for pattern in recorded_names(notebook)):
            wrong.append(f"{stem}.{name}: the notebook records no number of that name")
    assert not wrong, "book/results.md anchors:\n" + "\n".join(wrong)

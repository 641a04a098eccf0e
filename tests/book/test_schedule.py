"""The timing pages: the classroom schedule (book/schedule.md) gives every chapter of the book a time row and a
session, and on it and on the set-up page (book/setup.md) the only result-like numbers are the measured times listed
here with their source (the scanner of tests/test_prose_numbers.py), so that no time is typed from memory."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "book" / "schedule.md"
SETUP_PAGE = ROOT / "book" / "setup.md"

# Wall-clock times measured by the maintainers on two CPU cores with warm caches (issue 20). Quick mode: the quick
# book build of CI on 0a7267b, 2026-12-05, the AMD EPYC build machine ("Executed notebook in": 01 15.83, 02 9.89,
# 03 46.94, 04 55.06, 05 74.64, 06 133.12, 07 14.17, 08 14.08, 09 37.95, 10 106.08, 11 15.50 s). Full mode: single
# runs on the earlier build machine, 2026-12-02 and 03 (08 and 11 at a load of about 9). GPU times: none measured.
MEASURED = {
    "16 s": "01 and 11 quick", "10 s": "02 quick", "47 s": "03 quick", "55 s": "04 quick", "75 s": "05 quick",
    "133 s": "06 quick", "14 s": "07 and 08 quick", "38 s": "09 quick", "106 s": "10 quick",
    "464 s": "09 full (a single run, encodings cached, 2026-12-03)",
    "50 min": "09 full, first run: encodings and the two towers (258 + 236 + 263 + 363 + 526 + 1274 s = 2920 s, "
              "2026-12-03; e5's English encoding was made by a side job and is not in it)",
    "21 min": "09 full: encoding the catalogue of every translation (1274 s, partly beside another job)",
    "552 s": "06 full (a single run, e5-small's fine-tuning cached)",
    "92 s": "06 full: e5-small's fine-tuning, first run; 03 full, models cached",
    "561 s": "10 full (a single run, its title encodings cached)",
    "322 s": "08 full", "386 s": "11 full",
    "29 min": "03 full: training of its three models",
    "43 min": "04 full, first run of the six-language edition (2588 s, 2026-12-03)",
    "20 min": "04 full: the six-language alignment (1215 s)",
    "28 s": "01 full", "20 s": "02 full", "21 s": "07 full",
    "388 s": "05 full, models cached", "17 min": "05 full, first run with chapter 4's model cached (1663 s - 639 s)",
}

# book/setup.md: quick mode on 2026-12-05, the AMD EPYC 2-core build machine, otherwise idle. First run: each chapter
# alone with papermill, in reading order, XLREC_CACHE empty at the start (01 21, 02 21, 03 203, 04 271, 05 152, 06 186,
# 07 18, 08 16, 09 249, 10 112, 11 19 s). Cached: "Executed notebook in" of the quick book build of CI on 0a7267b
# (01 15.83, 02 9.89, 03 46.94, 04 55.06, 05 74.64, 06 133.12, 07 14.17, 08 14.08, 09 37.95, 10 106.08, 11 15.50 s).
SETUP_MEASURED = {
    "21 s": "01 and 02 first run", "203 s": "03 first run", "271 s": "04 first run", "152 s": "05 first run",
    "186 s": "06 first run", "18 s": "07 first run", "16 s": "08 first run; 01 and 11 cached",
    "249 s": "09 first run", "112 s": "10 first run", "19 s": "11 first run",
    "10 s": "02 cached", "47 s": "03 cached", "55 s": "04 cached", "75 s": "05 cached", "133 s": "06 cached",
    "14 s": "07 and 08 cached", "38 s": "09 cached", "106 s": "10 cached",
    "3.10": "a Python version (a requirement, not a result)",
}


def prose_scanner():
    spec = importlib.util.spec_from_file_location("prose_numbers", ROOT / "tests" / "test_prose_numbers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.result_like_numbers


def test_only_measured_times_are_typed():
    typed = set(prose_scanner()(PAGE.read_text(encoding="utf-8")))
    assert typed, "the page gives the measured times"
    unmeasured = typed - set(MEASURED)
    assert not unmeasured, f"numbers on book/schedule.md with no measurement behind them: {unmeasured}"
    assert not set(MEASURED) - typed, f"listed but no longer on the page: {set(MEASURED) - typed}"


def test_setup_page_types_only_measured_times():
    typed = set(prose_scanner()(SETUP_PAGE.read_text(encoding="utf-8")))
    assert typed, "the page gives the measured times"
    unmeasured = typed - set(SETUP_MEASURED)
    assert not unmeasured, f"numbers on book/setup.md with no measurement behind them: {unmeasured}"
    assert not set(SETUP_MEASURED) - typed, f"listed but no longer on the page: {set(SETUP_MEASURED) - typed}"


def test_every_chapter_has_a_time_and_a_session():
    text = PAGE.read_text(encoding="utf-8")
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    assert any(c["file"] == "book/schedule" for part in toc["parts"] for c in part["chapters"])
    chapters = [c["file"] for part in toc["parts"] for c in part["chapters"] if c["file"].startswith("notebooks/")]
    assert chapters
    for chapter in chapters:
        number = int(Path(chapter).name[:2])
        assert re.search(rf"^\| {number} [A-Z]", text, re.M), f"no time row for chapter {number}"
        assert f"(../{chapter}.ipynb)" in text, f"no session links {chapter}"


def test_eight_sessions_in_order():
    headings = re.findall(r"^### Session (\d+):", PAGE.read_text(encoding="utf-8"), re.M)
    assert headings == [str(i) for i in range(1, 9)], headings

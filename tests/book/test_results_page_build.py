"""The results page in a real Sphinx build: a chapter notebook executed during the build (myst-nb's ``force``, or
``cache`` with parallel_execution, as the book builds) records a number; the results page, written after it, shows
that number beside its anchor, and a number the file held from before the build is a warning (so `-W` fails the
book build)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONF = f"""import sys
sys.path.insert(0, {str(ROOT / "book" / "_ext")!r})
extensions = ["myst_nb", "results_table"{{extra}}]
nb_execution_mode = {{mode!r}}
nb_execution_timeout = 120
exclude_patterns = ["_build", "results"]
"""
CELL = """from xlrec_lib import results
results.use_chapter("01_chapter", quick=True)
results.record("answer", 0.4212345, k=10)"""
PAGE = """# Results

```{xlrec-results}
01_chapter.answer: 0.40, the anchor
```
"""


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["force", "cache"])  # cache: the book's way, parallel_execution runs the notebook
def test_the_page_shows_what_the_build_recorded(tmp_path, monkeypatch, sphinx_build, mode):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    monkeypatch.setenv("XLREC_RESULTS", str(src / "results"))
    monkeypatch.setenv("XLREC_QUICK", "1")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the kernel imports this checkout's library
    (src / "results").mkdir()
    (src / "results" / "01_chapter.quick.json").write_text(json.dumps(
        {"old_number": {"value": 1.0, "recorded": "2020-01-01T00:00:00+00:00"}}))
    extra = ', "parallel_execution"' if mode == "cache" else ""
    (src / "conf.py").write_text(CONF.replace("{extra}", extra).replace("{mode!r}", repr(mode)))
    (src / "index.md").write_text("# Book\n\n```{toctree}\n01_chapter\nresults_page\n```\n")
    (src / "results_page.md").write_text(PAGE)
    nb = {"cells": [{"id": "title", "cell_type": "markdown", "metadata": {}, "source": "# Chapter"},
                    {"id": "record", "cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                     "source": CELL}],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    (src / "01_chapter.ipynb").write_text(json.dumps(nb))
    assert sphinx_build(src, out, tmp_path / "warnings.txt") == 0
    page = (out / "results_page.html").read_text(encoding="utf-8")
    assert "answer" in page and "0.4212" in page and "0.40, the anchor" in page and "k=10" in page
    assert "Mode: quick" in page and "the notebooks ran in this build" in page
    assert 'href="01_chapter.html">Chapter</a>' in page  # the chapter's title, linked
    warnings = (tmp_path / "warnings.txt").read_text()
    assert "01_chapter.old_number was recorded at 2020-01-01T00:00:00+00:00, before this build" in warnings
    assert warnings.count("WARNING") == 1, warnings

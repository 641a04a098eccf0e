"""book/_ext/page_fixes.py: with the book's theme and extensions, each inline script is written once per page (Sphinx
7.4 writes sphinx-thebe's twice, and the second copy throws in the browser's console)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONF = f"""import sys
sys.path.insert(0, {str(ROOT / "book" / "_ext")!r})
extensions = ["sphinx_thebe", "sphinx_togglebutton"{{extra}}]
html_theme = "sphinx_book_theme"
"""


def _build(tmp_path: Path, extra: str, sphinx_build) -> str:
    src = tmp_path / extra.strip(', "') if extra else tmp_path / "plain"
    src.mkdir()
    (src / "conf.py").write_text(CONF.replace("{extra}", extra))
    (src / "index.rst").write_text("Title\n=====\n\ntext\n")
    assert sphinx_build(src, src / "_build") == 0
    return (src / "_build" / "index.html").read_text(encoding="utf-8")


def test_inline_scripts_appear_once(tmp_path, sphinx_build):
    assert _build(tmp_path, "", sphinx_build).count("const THEBE_JS_URL") >= 1  # doubled without the fix (Sphinx 7.4)
    page = _build(tmp_path, ', "page_fixes"', sphinx_build)
    assert page.count("const THEBE_JS_URL") == 1 and page.count("var togglebuttonSelector") == 1
    assert page.count("sphinx-thebe.js") == 1

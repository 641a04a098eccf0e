"""The browser checks flag what they should: a deliberately broken page fails every one of them, a good page none.

Runs with the unit tests (no book build needed), in headless Chromium; without Chromium it fails and says how to
install it. The good page typesets its formula with the book's own MathJax from file://, offline.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import offline_math  # noqa: E402  (book/_ext: where the build finds the pinned MathJax)

PIXEL = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9"
         "awAAAABJRU5ErkJggg==")


def _page(tmp_path: Path, name: str, body: str, head: str = "") -> str:
    path = tmp_path / name
    path.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'>{head}</head><body>{body}</body></html>",
                    encoding="utf-8")
    return path.as_uri()


def _mathjax() -> str:
    entry = offline_math.static_dir() / "mathjax" / "tex-mml-chtml.js"
    if not entry.is_file():
        pytest.fail(f"{entry} is missing: run make setup (it fetches the book's MathJax)")
    return f"<script defer src='{entry.as_uri()}'></script>"


def test_a_broken_page_fails_every_check(inspect_page, tmp_path):
    wide = "x = 1  # " + "a long comment " * 12
    body = f"""
      <h1>Broken</h1>
      <img src="missing.png" alt="a broken image">
      <div class="cell"><div class="cell_output"><div class="output traceback highlight-ipythontb">
        <div class="highlight"><pre>ValueError: boom</pre></div></div></div></div>
      <p>Untypeset: $$a^2 + b^2$$ and \\(x\\).</p>
      <span class="math notranslate nohighlight">\\(y\\)</span>
      <div class="cell_input"><div class="highlight"><pre>short = 1\n{wide}\nok = 2</pre></div></div>
      <script>console.error("a console error")</script>"""
    found = inspect_page(_page(tmp_path, "broken.html", body))
    assert found["errors"] and "boom" in found["errors"][0], found
    assert found["images"] == ["missing.png"], found
    assert any("raw TeX" in m and "$$" in m for m in found["math"]), found
    assert any(m.startswith("not typeset") for m in found["math"]), found
    assert [w["block"] for w in found["wide"]] == [1] and found["wide"][0]["lines"] == [[2, wide]], found
    assert any("a console error" in c for c in found["console"]), found
    assert not found["colab"]


def test_an_intended_failure_and_a_good_page_pass(inspect_page, tmp_path):
    body = f"""
      <h1>Good</h1><img src="{PIXEL}" alt="one pixel">
      <p>Typeset offline: <span class="math notranslate nohighlight">\\(a^2 + b^2 = c^2\\)</span></p>
      <div class="math notranslate nohighlight">\\[\\sum_i x_i\\]</div>
      <div class="cell tag_raises-exception"><div class="cell_output"><div class="output traceback">
        <div class="highlight"><pre>Traceback (most recent call last): shown on purpose</pre></div></div></div></div>
      <div class="cell_input"><div class="highlight"><pre>{"y = 1  # fits" + " " * 60}</pre></div></div>
      <a href="https://colab.research.google.com/github/o/r/blob/main/x.ipynb">Colab</a>"""
    found = inspect_page(_page(tmp_path, "good.html", body, head=_mathjax()), shot=tmp_path / "good.png")
    assert {k: v for k, v in found.items() if v and k not in ("colab", "codeChars")} == {}, found
    assert found["colab"] == ["https://colab.research.google.com/github/o/r/blob/main/x.ipynb"]
    assert (tmp_path / "good.png").read_bytes()[:4] == b"\x89PNG"


def test_a_page_that_needs_the_network_logs_an_error(inspect_page, tmp_path):
    found = inspect_page(_page(tmp_path, "cdn.html", "<p>cdn</p>",
                               head="<script src='https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js'>"
                                    "</script>"))
    assert found["console"], "the network is not blocked: a CDN script loaded"

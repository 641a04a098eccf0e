"""Fixtures of the book tests: a headless Chromium with the network blocked, and what it checks on a page.

``inspect_page(url)`` opens one page from ``file://`` and returns what a reader would see wrong (error output,
broken images, untypeset math, console errors, code lines wider than the code block, the Colab links), after
MathJax has typeset. The book tests (tests/book/test_browser.py) run it on every page of a build; the unit test
runs it on a deliberately broken page. No network: every host name resolves to nothing and the proxy is a closed
port, so a page that needs a CDN shows a console error.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The window the book is checked at: its code column stops growing at 1440 px (measured: 1280 px gives 75
# characters of the code font, 1366 px 84, 1440 px and wider 89).
WINDOW = (1440, 900)
# Characters of the book's code font (14 px DejaVu Sans Mono / Menlo, 8.43 px each) that fit one line of a code
# cell at WINDOW: 754 px of line. tests/book/test_browser.py measures it again on the built book.
CODE_WIDTH = 89
INSTALL = ("install Chromium and its driver: `apt-get install -y chromium chromium-driver` (Debian/Ubuntu, as "
           "root; .ci/run does it), or set CHROME_BIN and CHROMEDRIVER to a Chromium and its matching chromedriver")
NO_NETWORK = ["--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
              "--proxy-bypass-list=<-loopback>"]

# Runs in the page (selenium's execute_async_script): waits for images and MathJax, then reports.
PAGE_JS = r"""
const done = arguments[arguments.length - 1];
const sleep = ms => new Promise(r => setTimeout(r, ms));
const snippet = s => s.replace(/\s+/g, ' ').trim().slice(0, 120);
(async () => {
  const t0 = Date.now();
  while ([...document.images].some(i => !i.complete) && Date.now() - t0 < 10000) await sleep(50);
  // The page has loaded, so MathJax's script has run if it could: window.MathJax.startup exists. Only a config
  // object (window.MathJax without startup) means the script did not load; then there is nothing to wait for.
  const t1 = Date.now();
  while (window.MathJax && !MathJax.startup && Date.now() - t1 < 3000) await sleep(50);
  if (window.MathJax && MathJax.startup && MathJax.startup.promise)
    await Promise.race([MathJax.startup.promise, sleep(30000)]);
  const out = {errors: [], images: [], math: [], wide: [], colab: [], codeChars: null};
  const intended = el => el.closest('.tag_raises-exception') !== null;  // a cell shown failing on purpose
  const errorSel = 'div.output.error, div.output.traceback, div.traceback, div.system-message, .problematic';
  for (const el of document.querySelectorAll(errorSel))
    if (!intended(el)) out.errors.push(el.className + ': ' + snippet(el.textContent));
  for (const el of document.querySelectorAll('pre, div.output'))
    if (!intended(el) && el.textContent.includes('Traceback (most recent call last)'))
      out.errors.push('Traceback: ' + snippet(el.textContent));
  for (const img of document.images)
    if (!img.complete || img.naturalWidth === 0) out.images.push((img.getAttribute('src') || '').slice(0, 120));
  for (const el of document.querySelectorAll('span.math, div.math'))
    if (!el.querySelector('mjx-container')) out.math.push('not typeset: ' + snippet(el.textContent));
  for (const el of document.querySelectorAll('mjx-merror, [data-mjx-error]'))
    out.math.push('MathJax error: ' + snippet(el.getAttribute('data-mjx-error') || el.textContent));
  const skip = 'pre, code, script, style, textarea, mjx-container, .highlight';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const t = n.textContent;
    if (/\$\$|\\\(|\\\[|\\begin\{/.test(t) && !n.parentElement.closest(skip)) out.math.push('raw TeX: ' + snippet(t));
  }
  for (const a of document.querySelectorAll('a[href*="colab.research.google.com"]')) out.colab.push(a.href);
  const ruler = document.createElement('canvas').getContext('2d');
  const blocks = [...document.querySelectorAll('div.highlight pre')].filter(p => !p.closest('.cell_output, .output'));
  blocks.forEach((pre, k) => {
    const cs = getComputedStyle(pre);
    const inner = pre.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
    const scrolls = pre.scrollWidth > pre.clientWidth + 1;
    ruler.font = cs.font;  // measures text in the block's own font, without touching the page's layout
    const chars = Math.floor(inner / ruler.measureText('x'.repeat(100)).width * 100);
    if (out.codeChars === null && pre.closest('.cell_input')) out.codeChars = chars;
    const lines = pre.textContent.split('\n').map((line, i) => [i + 1, line]);
    const over = lines.filter(([, l]) => ruler.measureText(l).width > inner + 0.5);
    if (scrolls) out.wide.push({block: k + 1, lines: over});
  });
  done(out);
})().catch(e => done({fatal: String(e)}));
"""


def _find(env: str, *names: str) -> str | None:
    """The program ``$env`` names, else the first of ``names`` on PATH; None when it is not an executable."""
    if os.environ.get(env):
        return shutil.which(os.environ[env])
    return next((shutil.which(n) for n in names if shutil.which(n)), None)


def make_driver():
    """A headless Chromium at WINDOW with no network and the console log kept; fails with how to install it."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed: pip install -r requirements.txt (or make setup)")
    binary = _find("CHROME_BIN", "chromium", "chromium-browser", "google-chrome")
    driver = _find("CHROMEDRIVER", "chromedriver")
    if not binary or not driver:
        pytest.fail(f"the browser test needs Chromium ({binary or 'not found'}) and chromedriver "
                    f"({driver or 'not found'}): {INSTALL}")
    options = Options()
    options.binary_location = binary
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--force-device-scale-factor=1", f"--window-size={WINDOW[0]},{WINDOW[1]}", *NO_NETWORK]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(driver), options=options)
    browser.set_script_timeout(60)
    browser.set_page_load_timeout(60)
    return browser


def screenshot(browser, path: Path, max_height: int = 20000) -> None:
    """The whole page (up to ``max_height`` px) as a PNG at ``path``."""
    import base64

    size = browser.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], max_height), "scale": 1}
    shot = browser.execute_cdp_cmd("Page.captureScreenshot",
                                   {"format": "png", "captureBeyondViewport": True, "clip": clip})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))


def inspect(browser, url: str, shot: Path | None = None) -> dict:
    """What is wrong on the page at ``url``: ``{errors, images, math, wide, colab, console, codeChars}``, each a list
    (``codeChars``: the characters that fit a code cell's line, or None without one)."""
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(url)
    # Under load Chromium has been seen to hand back control before the new document has a body; wait for it.
    ready = "return document.readyState === 'complete' && document.body !== null && location.href === arguments[0]"
    WebDriverWait(browser, 30).until(lambda b: b.execute_script(ready, url),
                                     f"{url}: not loaded after 30 s")
    found = browser.execute_async_script(PAGE_JS)
    if "fatal" in found:
        raise RuntimeError(f"{url}: the page check itself failed: {found['fatal']}")
    found["console"] = [f"{e['level']}: {e['message'][:300]}" for e in browser.get_log("browser")
                        if e["level"] == "SEVERE"]
    if shot is not None:
        screenshot(browser, shot)
    return found


@pytest.fixture(scope="session")
def browser():
    b = make_driver()
    yield b
    b.quit()


@pytest.fixture(scope="session")
def inspect_page(browser):
    """``inspect_page(url, shot=None)``: see ``inspect``."""
    return lambda url, shot=None: inspect(browser, url, shot)


@pytest.fixture(scope="session")
def code_width() -> int:
    """Characters of the book's code font that fit one line of a code cell (see CODE_WIDTH)."""
    return CODE_WIDTH


def _sphinx(src: Path, out: Path, warnings: Path | None = None) -> int:
    """``sphinx-build -q -b html src out`` in a fresh process (Sphinx and its extensions keep global state: two
    builds in one process interfere); ``warnings`` gets the warnings. Returns the exit code."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "sphinx", "-q", "-b", "html", str(src), str(out)]
    return subprocess.run(cmd + (["-w", str(warnings)] if warnings else []), timeout=600).returncode


@pytest.fixture(scope="session")
def sphinx_build():
    """``sphinx_build(src, out, warnings=None) -> exit code``: see ``_sphinx``."""
    return _sphinx

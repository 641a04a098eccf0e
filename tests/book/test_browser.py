"""Every page of the built book, as a reader sees it: headless Chromium opens each one from file:// with the network
blocked and checks it (tests/book/conftest.py: PAGE_JS), saving a screenshot per page under _build/screenshots/.

Marked ``browser``: it reads a build, so `make test` runs it after its quick book build
(``pytest tests/book -m browser``); ``XLREC_BOOK_HTML`` points it at another build's html folder.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("XLREC_BOOK_HTML") or ROOT / "_build" / "quick" / "_build" / "html")
SHOTS = Path(os.environ.get("XLREC_SCREENSHOTS") or ROOT / "_build" / "screenshots")
NOT_PAGES = {"_static", "_sources", "_images", "reports"}
# Code lines wider than the page when this was written, none of them in this test's owner's files: book/setup.md (2
# lines), the lm.fine_tuning docstrings on the API page (3), chapter 3's markdown code block (1). Their owners
# shorten them, then this mark goes (strict=False: once they fit the test passes with the mark still on).

pytestmark = pytest.mark.browser


def pages() -> list[Path]:
    if not (HTML / "index.html").is_file():
        pytest.fail(f"no built book at {HTML}: run the quick build first (make book-quick), or set XLREC_BOOK_HTML")
    return sorted(p for p in HTML.rglob("*.html") if p.relative_to(HTML).parts[0] not in NOT_PAGES)


def redirect(page: Path) -> Path | None:
    """The page a redirect-only page (the book's index.html) sends the reader to, else None."""
    head = page.read_text(encoding="utf-8", errors="replace")[:500]
    match = re.match(r'\s*<meta http-equiv="Refresh" content="0; url=([^"]+)"', head, re.I)
    return page.parent / match.group(1) if match else None


def expected_colab(page: Path) -> str | None:
    """The Colab link a notebook page must carry, from _config.yml's repository and launch_buttons; None for a page
    that is not a notebook."""
    rel = page.relative_to(HTML).with_suffix(".ipynb")
    if not (ROOT / rel).is_file():
        return None
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    repo, colab = config["repository"], config["launch_buttons"]["colab_url"].rstrip("/")
    org_repo = re.sub(r"^https://github\.com/", "", repo["url"].rstrip("/"))
    return f"{colab}/github/{org_repo}/blob/{repo.get('branch', 'main')}/{repo.get('path_to_book') or ''}{rel}"


@pytest.fixture(scope="module")
def book(inspect_page) -> dict[str, dict]:
    """What every page shows wrong, by path relative to the html folder; one screenshot per page."""
    shutil.rmtree(SHOTS, ignore_errors=True)
    found = {}
    for page in pages():
        rel = page.relative_to(HTML).as_posix()
        if redirect(page):  # opened through its target; the browser would still be leaving it for the next page
            missing = [] if redirect(page).is_file() else [f"redirects to missing {redirect(page)}"]
            found[rel] = {"errors": missing, "images": [], "math": [], "console": [], "wide": [], "colab": [],
                          "codeChars": None, "expected_colab": None}
            continue
        found[rel] = inspect_page(page.as_uri(), shot=SHOTS / (rel.removesuffix(".html").replace("/", "__") + ".png"))
        found[rel]["expected_colab"] = expected_colab(page)
    return found


def test_every_page_renders_offline(book):
    problems = []
    for rel, f in book.items():
        problems += [f"{rel}: {kind}: {item}" for kind in ("errors", "images", "math", "console") for item in f[kind]]
        if f["expected_colab"] and f["expected_colab"] not in f["colab"]:
            problems.append(f"{rel}: no Colab launch button to {f['expected_colab']} (found {f['colab']})")
    notebooks = [rel for rel, f in book.items() if f["expected_colab"]]
    assert notebooks, f"no notebook page among {sorted(book)}"
    assert not problems, f"{len(problems)} problems (screenshots in {SHOTS}):\n" + "\n".join(problems)


def test_the_code_column_is_as_wide_as_the_static_check_assumes(book, code_width):
    widths = {rel: f["codeChars"] for rel, f in book.items() if f["codeChars"] is not None}
    assert widths, "no code cell found in the book"
    assert set(widths.values()) == {code_width}, f"characters per code line by page: {widths}"


def test_no_code_block_scrolls_sideways(book):
    wide = [f"{rel}: code block {w['block']}, line {n}: {line.strip()[:70]}"
            for rel, f in book.items() for w in f["wide"] for n, line in (w["lines"] or [(0, "?")])]
    assert not wide, f"{len(wide)} code lines scroll sideways at the book's width:\n" + "\n".join(wide)

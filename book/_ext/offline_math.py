"""Sphinx extension: the book's MathJax comes from the built book itself, never from a CDN.

The pinned MathJax (``fetch_mathjax.py``, run by ``make setup``) lives in ``<env>/share/xlrec/static/mathjax``
(``XLREC_BOOK_STATIC`` moves the folder that holds ``mathjax/``). That folder is added to ``html_static_path``,
so the build copies it into ``_static/``; ``mathjax_path`` must be relative (``mathjax/tex-mml-chtml.js``).
The build stops with a clear error when either is not so.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from sphinx.errors import ConfigError

ENV_STATIC = "XLREC_BOOK_STATIC"


def static_dir() -> Path:
    """The folder holding ``mathjax/``: ``XLREC_BOOK_STATIC``, else ``<sys.prefix>/share/xlrec/static``."""
    return Path(os.environ.get(ENV_STATIC) or Path(sys.prefix) / "share" / "xlrec" / "static")


def check_and_add(app, config) -> None:
    path = str(config.mathjax_path or "")
    if "://" in path or path.startswith("/"):
        raise ConfigError(f"mathjax_path is {path!r}: the book serves MathJax itself; give a path relative to "
                          "_static such as mathjax/tex-mml-chtml.js")
    folder = static_dir()
    if not (folder / path).is_file():
        raise ConfigError(f"{folder / path} is missing: the book's offline MathJax is fetched by `make setup` "
                          f"(python book/_ext/fetch_mathjax.py {folder})")
    config.html_static_path = [*config.html_static_path, str(folder)]


def setup(app):
    app.connect("config-inited", check_and_add)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

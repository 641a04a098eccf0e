"""Sphinx extension: the API reference lists every module of a package, each with every public name.

In ``book/api.md``, inside an ``{eval-rst}`` block (autodoc writes reStructuredText)::

    .. xlrec-api:: xlrec_lib.rec

documents ``xlrec_lib.rec`` and every module below it, in alphabetical order, each under a rubric with its name,
through ``automodule`` with ``:members:`` and ``:undoc-members:`` (a public function without a docstring is listed
too); ``:no-subpackages:`` documents the package's own modules only. Modules are found by walking the package, so
a new module appears without editing the page; tests/book/test_api_reference.py checks that the page's directives
cover every module of ``xlrec_lib``.
"""

from __future__ import annotations

import importlib
import pkgutil
import re

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles


def modules(package: str, subpackages: bool = True) -> list[str]:
    """``package`` and its modules (and, with ``subpackages``, everything below), sorted, private ones left out."""
    pkg = importlib.import_module(package)
    found = [package]
    for info in pkgutil.iter_modules(pkg.__path__, prefix=package + "."):
        if info.name.rsplit(".", 1)[1].startswith("_"):
            continue
        if info.ispkg:
            if subpackages:
                found += modules(info.name)
        else:
            found.append(info.name)
    return sorted(found)


CODE = re.compile(r"(``.+?``|`[^`]+`)")
BARS = re.compile(r"(?<![\\|])\|(\w+)\|(?!_)")


def escape_bars(lines: list[str]) -> list[str]:
    """Docstrings write |R| for a set's size; reStructuredText reads it as an undefined substitution (an error).
    Escape such bars outside inline code, where they are literal anyway."""
    return ["".join(p if CODE.fullmatch(p) else BARS.sub(r"\\|\1\\|", p) for p in CODE.split(line)) for line in lines]


def plain_bars(app, what, name, obj, options, lines) -> None:
    lines[:] = escape_bars(lines)


class ApiDirective(SphinxDirective):
    required_arguments = 1
    option_spec = {"no-subpackages": directives.flag}

    def run(self):
        names = modules(self.arguments[0], subpackages="no-subpackages" not in self.options)
        lines = []
        for name in names:
            module = importlib.import_module(name)
            # A package's own docstring only: its names are re-exports documented in their modules (and a re-export
            # such as data.cedict, a function named like its module, would be described twice).
            members = [] if hasattr(module, "__path__") else ["   :members:", "   :undoc-members:",
                                                              "   :show-inheritance:"]
            lines += [f".. rubric:: ``{name}``", "", f".. automodule:: {name}", *members, ""]
            self.env.note_dependency(module.__file__)
        node = nodes.container(classes=["xlrec-api"])
        nested_parse_with_titles(self.state, StringList(lines, source=f"<xlrec-api {self.arguments[0]}>"), node)
        return [node]


def setup(app):
    app.setup_extension("sphinx.ext.autodoc")
    app.add_directive("xlrec-api", ApiDirective)
    app.connect("autodoc-process-docstring", plain_bars)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

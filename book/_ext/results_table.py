"""Sphinx extension: the results page's table of every chapter's headline numbers, from this very build.

The chapters record their numbers while the book build executes them (``xlrec_lib.results``: one JSON file per
chapter and mode). Notebooks execute in Sphinx's read phase, so the ``xlrec-results`` directive only leaves a
placeholder; at ``doctree-resolved`` (write phase, every notebook has run) the placeholder becomes a table of every
chapter of the table of contents, in reading order, with the mode (``XLREC_QUICK``), when each chapter recorded
and the machine that built the book (the notebooks ran in this same build, on this machine). The directive's
content names the anchors, one per line, ``<chapter stem>.<name>: <anchor text>``::

    ```{xlrec-results}
    08_collaborative_filtering_and_fusion.ndcg10_ease: 0.480, EASE in recommenders 1.2.1 (issue 15)
    ```

When the build executes every notebook (``execute_notebooks: force``, or ``cache`` with ``parallel_execution``,
which executes every notebook into the cache first), a chapter without a results file, a number recorded before this
build started, or an anchor naming a number its chapter did not record is a Sphinx warning, so `-W` fails the
build. Otherwise (execution off) the table shows what the files hold, marked as older.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

from docutils import nodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)
HIDDEN = {"value", "recorded"}  # entry keys shown in their own columns, not among the context


class results_placeholder(nodes.General, nodes.Element):
    """Where the table goes; ``anchors`` = {(stem, name): text}."""


def parse_anchors(lines: list[str]) -> dict[tuple[str, str], str]:
    """``["<stem>.<name>: text", ...]`` -> ``{(stem, name): text}``; a malformed line raises ValueError."""
    anchors = {}
    for line in (raw.strip() for raw in lines):
        if not line or line.startswith("#"):
            continue
        key, sep, text = line.partition(":")
        stem, dot, name = key.strip().partition(".")
        if not (sep and dot and stem and name and text.strip()):
            raise ValueError(f"anchor line {line!r}: write '<chapter stem>.<name>: <anchor text>'")
        anchors[(stem, name)] = text.strip()
    return anchors


def fmt(value) -> str:
    """A recorded value as the table shows it: 4 significant digits, thousands separators, text as is."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:.4g}"
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "(" + ", ".join(f"{k}={fmt(v)}" for k, v in value.items()) + ")"
    return json.dumps(value, ensure_ascii=False)


def rows(records: dict[str, dict | None], anchors: dict[tuple[str, str], str], since: datetime | None = None):
    """One row per recorded number: ``(stem, name, value, context, recorded, anchor, problem)``.

    ``records`` maps each chapter stem, in reading order, to its results (None: no file). ``since``: the build's
    start; a number recorded before it gets a problem. A chapter without results, and an anchor naming a number
    that is not there, give a row with a problem too.
    """
    out = []
    for stem, entries in records.items():
        if entries is None:
            out.append((stem, "", "", "", "", "", f"{stem} recorded no numbers"))
            continue
        for name, entry in entries.items():
            context = ", ".join(f"{k}={fmt(v)}" for k, v in entry.items() if k not in HIDDEN)
            recorded = entry.get("recorded", "")
            problem = ""
            if since is not None and (not recorded or datetime.fromisoformat(recorded) < since):
                problem = f"{stem}.{name} was recorded at {recorded or 'an unknown time'}, before this build"
            out.append((stem, name, fmt(entry["value"]), context, recorded, anchors.get((stem, name), ""), problem))
        for (a_stem, a_name) in anchors:
            if a_stem == stem and a_name not in entries:
                out.append((stem, a_name, "", "", "", anchors[(a_stem, a_name)],
                            f"anchor {stem}.{a_name}: the chapter recorded no number of that name"))
    unknown = sorted({s for s, _ in anchors} - set(records))
    out += [(s, "", "", "", "", "", f"anchor for {s}: not a chapter of the book") for s in unknown]
    return out


def machine() -> str:
    """The build machine in words: OS, CPU model and cores, GPU if torch sees one."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = "no GPU"
    try:
        import torch

        if torch.cuda.is_available():
            gpu = f"GPU {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    return f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} logical cores, {gpu}"


def table(table_rows, link=lambda stem: None) -> nodes.table:
    """A docutils table of ``rows(...)``: Chapter (with when it recorded), Number (with its context), Value, Anchor.
    An anchor without its number is left out (the build warns about it). ``link(stem)`` gives the chapter's
    ``(URI, title)``, or None for the stem as plain text."""
    head = ["Chapter", "Number", "Value", "Anchor"]
    tab = nodes.table(classes=["xlrec-results", "colwidths-given"])  # the HTML keeps the widths below
    group = nodes.tgroup(cols=len(head))
    tab += group
    group += [nodes.colspec(colwidth=w) for w in (24, 36, 10, 30)]
    thead, tbody = nodes.thead(), nodes.tbody()
    group += [thead, tbody]

    def row(cells):
        r = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            entry += cell if isinstance(cell, list) else nodes.paragraph(text=cell)
            r += entry
        return r

    thead += row(head)
    times = {}
    for stem, _, _, _, recorded, _, _ in table_rows:
        if recorded:
            times.setdefault(stem, []).append(recorded.replace("T", " ").removesuffix("+00:00")[:16])
    previous = None
    for stem, name, value, context, _, anchor, problem in table_rows:
        if problem and not value and name:
            continue
        chapter = []
        if stem != previous:
            target = link(stem)
            text = nodes.reference(text=target[1], refuri=target[0]) if target else nodes.Text(stem)
            chapter.append(nodes.paragraph("", "", text))
            if stem in times:
                first, last = min(times[stem]), max(times[stem])
                when = f"recorded {first}" + (f" to {last}" if last != first else "") + " UTC"
                chapter.append(nodes.paragraph("", "", nodes.emphasis(text=when)))
        previous = stem
        if name:
            number = [nodes.paragraph("", "", nodes.literal(text=name))]
            number += [nodes.paragraph(text=context)] if context else []
        else:  # a chapter without results, or an anchor for an unknown chapter
            number = [nodes.paragraph(text=problem)]
        stale = " (recorded before this build)" if problem and value else ""
        tbody += row([chapter, number, value + stale, anchor])
    return tab


class ResultsDirective(SphinxDirective):
    has_content = True

    def run(self):
        try:
            anchors = parse_anchors(list(self.content))
        except ValueError as err:
            raise self.error(str(err)) from None
        self.env.note_dependency(__file__)
        pages = getattr(self.env, "xlrec_results_pages", set())
        pages.add(self.env.docname)
        self.env.xlrec_results_pages = pages
        return [results_placeholder(anchors=anchors)]


def chapters(app) -> list[str]:
    """The book's notebook chapters (docnames of .ipynb sources), in reading order: the toctrees, depth first."""
    env, order = app.env, []

    def walk(doc):
        if doc not in order:
            order.append(doc)
            for child in env.toctree_includes.get(doc, []):
                walk(child)

    walk(app.config.root_doc)
    return [d for d in order if str(env.doc2path(d)).endswith(".ipynb")]


def fill(app, doctree, docname) -> None:
    placeholders = list(doctree.findall(results_placeholder))
    if not placeholders:
        return
    from xlrec_lib import config, results

    quick = config.is_quick()
    executed = (getattr(app.config, "nb_execution_mode", "off") == "force"
                or getattr(app, "xlrec_notebooks_executed", False))  # parallel_execution ran every notebook
    docs = {Path(d).name: d for d in chapters(app)}
    records = {}
    for stem in docs:
        try:
            records[stem] = results.read_results(stem, quick)
        except FileNotFoundError:
            records[stem] = None
    since = app.xlrec_build_start if executed else None
    for node in placeholders:
        found = rows(records, node["anchors"], since)
        for *_, problem in found:
            if problem:
                msg = f"results page: {problem}" + ("" if executed else " (notebooks were not executed)")
                if executed or "anchor" in problem:
                    logger.warning(msg, location=node)
        when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        ran = "the notebooks ran in this build" if executed else "the notebooks did not run in this build"
        intro = nodes.paragraph(text=f"Mode: {'quick' if quick else 'full'} (XLREC_QUICK={int(quick)}). Built {when} "
                                     f"on {machine()}; {ran}.")
        def link(stem):
            title = app.env.titles.get(docs[stem])
            return app.builder.get_relative_uri(docname, docs[stem]), (title.astext() if title else stem)

        node.replace_self([intro, table(found, link)])


def start(app) -> None:
    app.xlrec_build_start = datetime.now(timezone.utc).replace(microsecond=0)


def always_rewrite(app, env, added, changed, removed):
    return sorted(getattr(env, "xlrec_results_pages", set()))


def setup(app):
    app.add_node(results_placeholder)
    app.add_directive("xlrec-results", ResultsDirective)
    app.connect("builder-inited", start)
    app.connect("doctree-resolved", fill)
    app.connect("env-get-outdated", always_rewrite)
    return {"parallel_read_safe": False, "parallel_write_safe": True, "env_version": 1}

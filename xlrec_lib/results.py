"""Each chapter's headline numbers, recorded once and read by the results page, the tests and the closing notes.

``record(name, value, **context)`` writes into one JSON file per chapter and mode,
``<results dir>/<notebook stem>.<quick|full>.json`` = ``{name: {"value": v, ...context}}``. The results dir is
``XLREC_RESULTS``, else ``_build/results`` under the repository root. The chapter is the notebook being run
named once at the top of the notebook with ``use_chapter("07_scoring")``; ``XLREC_CHAPTER`` or a ``chapter=``
argument name it elsewhere.

``measured_runs(name)`` reads the other kind of number a chapter prints: a benchmark run once on hardware the
chapter cannot assume (a GPU), shipped with the library as ``xlrec_lib/measured/<name>.json``.
Ground floor: imports nothing of ours but ``config``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from xlrec_lib import config

ROOT = Path(__file__).resolve().parents[1]
_MEASURED = Path(__file__).resolve().parent / "measured"
ENV_DIR, ENV_CHAPTER = "XLREC_RESULTS", "XLREC_CHAPTER"
_chapter: str | None = None
_quick: bool | None = None


def use_chapter(stem: str, quick: bool | None = None) -> None:
    """Name the chapter that later ``record`` calls write to: the notebook's file stem, e.g. ``"07_scoring"``, and
    its mode (the notebook's ``QUICK``; default ``XLREC_QUICK``), so a papermill ``-p QUICK True`` run records
    into the quick file even when the environment says otherwise."""
    global _chapter, _quick
    if not stem or "/" in stem or stem.endswith(".ipynb"):
        raise ValueError(f"use_chapter: give the notebook's stem such as '07_scoring', got {stem!r}")
    _chapter, _quick = stem, quick


def results_dir() -> Path:
    """``XLREC_RESULTS`` or ``<repository>/_build/results``, created if missing."""
    path = Path(os.environ.get(ENV_DIR) or ROOT / "_build" / "results").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def results_path(chapter: str, quick: bool) -> Path:
    """The JSON file of ``chapter`` (a notebook stem such as ``"07_scoring"``) in quick or full mode."""
    return results_dir() / f"{chapter}.{'quick' if quick else 'full'}.json"


def _plain(value, name: str):
    """A JSON-ready copy of ``value``: numpy and torch scalars become Python numbers; NaN and inf are refused."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"record: {name} is {value}; only finite numbers are recorded")
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v, name) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{name}.{k}") for k, v in value.items()}
    raise ValueError(f"record: {name} has type {type(value).__name__}; give a number, string, list or dict")


def record(name: str, value, chapter: str | None = None, quick: bool | None = None, **context) -> dict:
    """Store ``value`` (a finite number, or a string such as a model name) under ``name`` for this chapter and mode,
    with ``context`` (units, k, split, ...) beside it; returns the stored entry. Recording a name again replaces it.

    ``chapter`` defaults to the one named by ``use_chapter``, else ``XLREC_CHAPTER``; ``quick`` to the mode given
    to ``use_chapter``, else ``config.is_quick()``.
    """
    chapter = chapter or _chapter or os.environ.get(ENV_CHAPTER)
    if not chapter:
        raise ValueError(f"record({name!r}): which chapter? Call use_chapter('<notebook stem>') first, "
                         f"set {ENV_CHAPTER}, or pass chapter=")
    quick = config.is_quick(_quick if quick is None else quick)
    path = results_path(chapter, quick)
    entries = read_results(chapter, quick) if path.exists() else {}
    entry = {"value": _plain(value, name), **{k: _plain(v, f"{name}.{k}") for k, v in context.items()},
             "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    entries[name] = entry
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False, encoding="utf-8") as f:
        json.dump(entries, f, indent=1, ensure_ascii=False)
    os.replace(f.name, path)  # atomic: a reader never sees half a file
    return entry


def read_results(chapter: str, quick: bool) -> dict:
    """``{name: {"value": ..., ...}}`` recorded by ``chapter`` in that mode; a missing file is an error."""
    path = results_path(chapter, quick)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no results recorded for {chapter} ({'quick' if quick else 'full'} mode); "
                                "run the chapter first (make chapter NB=..)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); delete it and run the chapter again") from None


def pick_recipes(recipes: tuple, names: list[str] | None, required: tuple[str, ...] = ("cpu",)) -> tuple:
    """The recipes of a benchmark that writes measured runs (``benchmarks/*.py --recipes``): all of ``recipes``
    (objects with a ``name``) when ``names`` is empty, else those named, in the order named, once each. Unknown names
    and a selection without every name of ``required`` (the recipes a RESULT line compares) raise ``ValueError``."""
    if not names:
        return tuple(recipes)
    by_name = {r.name: r for r in recipes}
    unknown = sorted(set(names) - set(by_name))
    if unknown:
        raise ValueError(f"unknown recipes {unknown}; known: {list(by_name)}")
    missing = [name for name in required if name not in names]
    if missing:
        raise ValueError(f"the RESULT line compares the recipes {list(required)}: include {missing} in --recipes")
    return tuple(by_name[n] for n in dict.fromkeys(names))


def measured_run_args(description: str, recipes: tuple, quick_recipes: tuple, quick_help: str,
                      inputs: dict[str, str], argv: list[str] | None = None, required: tuple[str, ...] = ("cpu",)):
    """``(args, recipes)``: the command line of a benchmark that writes measured runs. ``--quick`` (``quick_help``)
    takes ``quick_recipes`` instead of ``recipes``, ``--recipes`` picks among them (``pick_recipes``; a bad
    choice is a usage error; ``required``: the recipes it must keep), one option per entry of ``inputs``
    (``{"--checkpoint": help}``: a file or folder that replaces what the cache would give, for a machine without
    the cache), ``--out`` and ``--note``."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--recipes", nargs="*",
                        help=f"names of the recipes to run, in this order (default: all; needed: "
                             f"{', '.join(required)})")
    for option, help_text in inputs.items():
        parser.add_argument(option, help=help_text)
    parser.add_argument("--out", help="merge the rows into this JSON file")
    parser.add_argument("--note", help="a sentence stored with the rows in --out (how the run differs)")
    args = parser.parse_args(argv)
    try:
        return args, pick_recipes(quick_recipes if args.quick else recipes, args.recipes, required)
    except ValueError as err:
        parser.error(str(err))


def measured_runs(name: str):
    """The rows of ``xlrec_lib/measured/<name>.json`` (written by ``benchmarks/<name>.py --out``) as a DataFrame
    indexed by recipe ``name``; ``.attrs`` holds the file's other fields (machine, date, versions, command)."""
    import pandas as pd

    known = sorted(f.stem for f in _MEASURED.glob("*.json"))
    if not isinstance(name, str) or name not in known:
        raise ValueError(f"measured_runs: no measured run named {name!r}; the library ships {known}")
    path = _MEASURED / f"{name}.json"
    content = json.loads(path.read_text(encoding="utf-8"))
    rows = content.pop("rows", None)
    if not rows or not all(isinstance(r, dict) and "name" in r for r in rows):
        raise ValueError(f"{path}: expected a non-empty 'rows' list of objects with a 'name'")
    table = pd.DataFrame(rows).set_index("name")
    table.attrs.update(content)
    return table


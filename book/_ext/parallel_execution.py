"""Sphinx extension: execute every notebook of the build before Sphinx reads it, several at a time.

myst-nb executes notebooks one after another, as Sphinx reads them. On two cores one chapter rarely keeps both
busy (kernel start-up, pandas, tokenising and Python loops run on one), so two chapters at a time, each with one
torch/BLAS thread, finish sooner. The quick build on the 2-core build machine, cache filled, 2026-12-07: 617 s two
at a time against 903 s one at a time, in the same hour.

How: ``_config.yml`` sets ``execute_notebooks: cache``. Before the read phase (``env-before-read-docs``) this
extension executes every notebook about to be read, always (the book's rule: a build executes every notebook),
in ``XLREC_BOOK_JOBS`` processes, and stores each executed notebook in myst-nb's jupyter-cache, emptied first.
myst-nb then finds every notebook there and executes none itself (checked: a notebook the cache would not match
fails the build). Each notebook runs with jupyter-cache's ``single_nb_execution``, as myst-nb's own cache mode
does, in the notebook's folder and with the build's ``timeout`` and ``allow_errors``; myst-nb's
``execution_excludepatterns`` and ``execution_in_temp`` are not supported (set, they fail the build). Each
notebook's time and its cells' times (cell index -> seconds) go to ``notebook_timings.json`` beside the output
folder (``_build/quick/_build/`` for the quick build), and the log names each notebook's three slowest cells.

Order: the notebooks named in ``xlrec_execution_first`` (``_config.yml``) start first, in that order, then the rest
in the order Sphinx lists them (by file name: the chapters' numbers). Chapters that train what later chapters
load go first, so that on an empty model cache a later chapter seldom waits for them
(``xlrec_lib.cache.load_or_build`` lets one process build an artefact while another waits for it).

``XLREC_BOOK_JOBS`` unset or 1: one notebook at a time, with the default threads (as myst-nb would). Above 1, each
kernel gets one thread (``THREAD_VARIABLES``, unless the environment sets them), so that the processes do not fight
over the cores. Every notebook runs even after one fails, as myst-nb with ``--keep-going`` did; each failure's
traceback goes to ``reports/<docname>.err.log`` of the output folder (where myst-nb writes its own) and the build
fails, naming them.

Run as a script, the module executes one notebook (the worker that the extension starts for each).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS",
                    "RAYON_RS_NUM_CPUS")  # torch and faiss (OpenMP), BLAS, tokenizers (Rust)


def jobs_from_environment() -> int:
    """``XLREC_BOOK_JOBS`` as a positive int (1 when unset); anything else raises ValueError naming it."""
    raw = os.environ.get("XLREC_BOOK_JOBS", "").strip() or "1"
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"XLREC_BOOK_JOBS={raw!r}: give how many notebooks to execute at once (1, 2, ...)")
    return int(raw)


def execution_order(docnames: list[str], first: list[str]) -> list[str]:
    """``docnames`` with those in ``first`` moved to the front, in ``first``'s order (names not built are ignored)."""
    head = [d for d in first if d in docnames]
    return head + [d for d in docnames if d not in head]


def worker_environment(jobs: int, base: dict | None = None) -> dict:
    """The environment of each worker (and so of its kernel): one thread per library when ``jobs`` > 1."""
    env = dict(os.environ if base is None else base)
    if jobs > 1:
        for name in THREAD_VARIABLES:
            env.setdefault(name, "1")
    return env


def execute_one(source: Path, executed: Path, timeout: int | None, allow_errors: bool, env: dict) -> dict:
    """Execute ``source`` in a fresh process (this module as a script) into ``executed``.

    Returns ``{"seconds": ..., "cells": {index: seconds}, "error": None}``, or ``{"seconds": None, "error": the
    traceback's text}``; the notebook is written only on success.
    """
    args = [sys.executable, __file__, str(source), str(executed), json.dumps(timeout), json.dumps(allow_errors)]
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    result, traceback = executed.with_suffix(".result.json"), executed.with_suffix(".traceback.txt")
    if done.returncode == 0 and result.exists():
        return {**json.loads(result.read_text()), "error": None}
    error = traceback.read_text(encoding="utf-8") if traceback.exists() else done.stdout + done.stderr
    return {"seconds": None, "error": error.strip() or f"the worker ended with exit status {done.returncode}"}


def execute_all(items: list[tuple[str, Path]], jobs: int, timeout: int | None, allow_errors: bool, workdir: Path,
                log=print) -> dict[str, dict]:
    """Execute ``items`` (``(name, notebook path)``, in order of start) ``jobs`` at a time into ``workdir``.

    Returns ``{name: {"seconds", "error", "executed": path or None}}``. A failure does not stop the others.
    """
    env = worker_environment(jobs)
    results: dict[str, dict] = {}

    def run(index: int, name: str, source: Path) -> None:
        out = workdir / f"{index:03d}.ipynb"
        try:
            result = execute_one(source, out, timeout, allow_errors, env)
        except Exception as err:  # noqa: BLE001 (reported with the notebook's name, like a cell's error)
            result = {"seconds": None, "error": f"{type(err).__name__}: {err}"}
        result["executed"] = out if result["error"] is None else None
        results[name] = result
        if result["error"] is None:
            slowest = sorted(result["cells"].items(), key=lambda kv: -kv[1])[:3]
            log(f"Executed notebook {name} in {result['seconds']:.2f} seconds [{jobs} at a time]; slowest cells: "
                + ", ".join(f"#{i} {t:.1f} s" for i, t in slowest))
        else:
            log(f"Executing notebook {name} failed")

    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        for future in [pool.submit(run, i, name, path) for i, (name, path) in enumerate(items)]:
            future.result()
    except BaseException:  # Ctrl-C: start nothing more (running workers get the signal too)
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return results


def _main(argv: list[str]) -> int:
    """Worker: ``parallel_execution.py SOURCE EXECUTED TIMEOUT_JSON ALLOW_ERRORS_JSON``."""
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution

    source, executed = Path(argv[0]), Path(argv[1])
    nb = nbformat.read(source, as_version=4)
    result = single_nb_execution(nb, cwd=str(source.parent.resolve()), timeout=json.loads(argv[2]),
                                 allow_errors=json.loads(argv[3]), meta_override=True, record_timing=True)
    cells = cell_seconds(nb)  # and the timing metadata removed: myst-nb's cache lookup hashes cell metadata
    if result.err is not None:  # the cell's traceback, without the terminal colours IPython puts in it
        text = re.sub(r"\x1b\[[0-9;]*m", "", result.exc_string)
        executed.with_suffix(".traceback.txt").write_text(text, encoding="utf-8")
        return 1
    nbformat.write(nb, executed)
    executed.with_suffix(".result.json").write_text(json.dumps({"seconds": result.time, "cells": cells}))
    return 0


def cell_seconds(nb) -> dict[str, float]:
    """``{cell index: seconds}`` of each executed code cell (nbclient's ``record_timing`` metadata: from the kernel
    taking the input to its reply), removing that metadata from ``nb``."""
    from datetime import datetime

    seconds = {}
    for index, cell in enumerate(nb.cells):
        timing = cell.get("metadata", {}).pop("execution", None) if cell.cell_type == "code" else None
        if timing and "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            took = datetime.fromisoformat(timing["shell.execute_reply"]) - datetime.fromisoformat(
                timing["iopub.execute_input"])
            seconds[str(index)] = round(took.total_seconds(), 2)
    return seconds


# ---- the Sphinx side ----

def _execute_before_reading(app, env, docnames: list[str]) -> None:
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from sphinx.errors import ExtensionError
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    config = env.mystnb_config
    if config.execution_mode != "cache":
        return
    if config.execution_excludepatterns or config.execution_in_temp:
        raise ExtensionError("parallel_execution executes every notebook in its own folder: remove "
                             "execute.exclude_patterns and execute.run_in_temp from _config.yml, or the extension")
    notebooks = {d: path for d in docnames if (path := Path(env.doc2path(d))).suffix == ".ipynb"}
    if not notebooks:
        return
    jobs = jobs_from_environment()
    order = execution_order(list(notebooks), list(app.config.xlrec_execution_first))
    cache = get_cache(config.execution_cache_path)
    cache.clear_cache()
    logger.info(f"xlrec: executing {len(order)} notebooks, {jobs} at a time")
    with tempfile.TemporaryDirectory(prefix="xlrec-executed-") as tmp:
        results = execute_all([(d, notebooks[d]) for d in order], jobs, config.execution_timeout,
                              config.execution_allow_errors, Path(tmp), log=logger.info)
        for name in order:
            if results[name]["executed"] is not None:
                nb = nbformat.read(results[name]["executed"], as_version=4)
                cache.cache_notebook_bundle(
                    CacheBundleIn(nb, str(notebooks[name]), data={"execution_seconds": results[name]["seconds"]}),
                    check_validity=False, overwrite=True)
                try:  # what myst-nb will look up: the notebook as it reads it
                    cache.match_cache_notebook(nbformat.read(notebooks[name], as_version=4))
                except KeyError:
                    raise ExtensionError(f"{notebooks[name]}: executed, but myst-nb's cache does not match it, so "
                                         "myst-nb would execute it again") from None
    timings = {n: {"seconds": results[n]["seconds"], "cells": results[n]["cells"]} for n in order
               if results[n]["error"] is None}
    (Path(app.outdir).parent / "notebook_timings.json").write_text(json.dumps(timings, indent=1) + "\n")
    failures = {n: results[n]["error"] for n in order if results[n]["error"] is not None}
    if failures:
        reports = Path(app.outdir) / "reports"
        for name, error in failures.items():
            path = reports / f"{name}.err.log"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(error + "\n", encoding="utf-8")
        lines = [f"  {notebooks[n]}: {e.strip().splitlines()[-1]}" for n, e in failures.items()]
        raise ExtensionError(f"{len(failures)} of {len(order)} notebooks failed (tracebacks in {reports}):\n"
                             + "\n".join(lines))
    app.xlrec_notebooks_executed = True


def setup(app):
    app.add_config_value("xlrec_execution_first", [], "env")
    app.connect("env-before-read-docs", _execute_before_reading)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))

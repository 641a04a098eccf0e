"""book/_ext/parallel_execution.py: every notebook executed before Sphinx reads it, several at a time, into myst-nb's
cache (which then executes nothing itself); the configured ones first; a failure fails the build and names it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import parallel_execution as pe  # noqa: E402

CONF = f"""import sys
sys.path.insert(0, {str(ROOT / "book" / "_ext")!r})
extensions = ["myst_nb", "parallel_execution"]
nb_execution_mode = "cache"
nb_execution_timeout = 120
xlrec_execution_first = {{first!r}}
exclude_patterns = ["_build", "*.log"]
"""
CELL = """import json, os, time
from pathlib import Path
start = time.time()
Path({log!r}).with_name({name!r} + ".started").touch()
{extra}
with open({log!r}, "a") as f:
    f.write(json.dumps([{name!r}, start, time.time(), os.environ.get("OMP_NUM_THREADS")]) + "\\n")
print("ran", {name!r}, "threads", os.environ.get("OMP_NUM_THREADS"))"""
# a notebook that goes on only once ``other`` has started too: two run side by side, or this one times out
WAIT_FOR = """deadline = time.time() + 60
while not Path({log!r}).with_name({other!r} + ".started").exists():
    assert time.time() < deadline, "{other} did not start beside me"
    time.sleep(0.05)"""


def test_order_jobs_and_environment(monkeypatch):
    assert pe.execution_order(["a", "b", "c", "d"], ["c", "x", "a"]) == ["c", "a", "b", "d"]
    monkeypatch.delenv("XLREC_BOOK_JOBS", raising=False)
    assert pe.jobs_from_environment() == 1
    monkeypatch.setenv("XLREC_BOOK_JOBS", "2")
    assert pe.jobs_from_environment() == 2
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("XLREC_BOOK_JOBS", bad)
        with pytest.raises(ValueError, match=f"XLREC_BOOK_JOBS='{bad}'"):
            pe.jobs_from_environment()
    assert "OMP_NUM_THREADS" not in pe.worker_environment(1, {})
    two = pe.worker_environment(2, {"MKL_NUM_THREADS": "4"})
    assert two["OMP_NUM_THREADS"] == two["OPENBLAS_NUM_THREADS"] == "1" and two["MKL_NUM_THREADS"] == "4"


def _book(src: Path, log: Path, first: list[str], extra: dict[str, str] | None = None) -> None:
    src.mkdir()
    (src / "conf.py").write_text(CONF.format(first=first))
    (src / "index.md").write_text("# Book\n\n```{toctree}\na\nb\nc\n```\n")
    for name in "abc":
        cell = CELL.format(name=name, log=str(log), extra=(extra or {}).get(name, "").format(log=str(log)))
        nb = {"cells": [{"id": "title", "cell_type": "markdown", "metadata": {}, "source": f"# Page {name}"},
                        {"id": "run", "cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                         "source": cell}],
              "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
              "nbformat": 4, "nbformat_minor": 5}
        (src / f"{name}.ipynb").write_text(json.dumps(nb))


def _runs(log: Path) -> dict[str, tuple[float, float, str | None]]:
    lines = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    assert len({name for name, *_ in lines}) == len(lines), lines  # each notebook ran once
    return {name: (start, end, threads) for name, start, end, threads in lines}


@pytest.mark.slow
def test_two_at_a_time_first_named_first_and_myst_nb_reuses_them(tmp_path, monkeypatch, sphinx_build):
    src, out, log = tmp_path / "src", tmp_path / "out", tmp_path / "runs.log"
    _book(src, log, first=["c"], extra={"c": WAIT_FOR.replace("{other!r}", "'a'").replace("{other}", "a"),
                                        "a": WAIT_FOR.replace("{other!r}", "'c'").replace("{other}", "c")})
    monkeypatch.setenv("XLREC_BOOK_JOBS", "2")
    for name in pe.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert sphinx_build(src, out, tmp_path / "warnings.txt") == 0, (tmp_path / "warnings.txt").read_text()
    runs = _runs(log)
    assert sorted(runs) == ["a", "b", "c"]  # once each: myst-nb executed none of them again
    (_, c1, _), (_, a1, _), (b0, _, _) = runs["c"], runs["a"], runs["b"]
    # c (named first) and a (first of the rest) ran side by side: each waited for the other's start (WAIT_FOR);
    # b waited for a free worker
    assert b0 >= min(a1, c1)
    assert {threads for *_, threads in runs.values()} == {"1"}  # one thread each
    for name in "abc":
        assert f"ran {name} threads 1" in (out / f"{name}.html").read_text(encoding="utf-8")
    timings = json.loads((out.parent / "notebook_timings.json").read_text())
    assert sorted(timings) == ["a", "b", "c"]
    for name, (start, end, _) in runs.items():  # the one code cell (index 1) took what the cell itself measured
        assert abs(timings[name]["cells"]["1"] - (end - start)) < 0.5 and timings[name]["seconds"] >= end - start


@pytest.mark.slow
def test_a_failing_notebook_fails_the_build_and_is_reported(tmp_path, monkeypatch, sphinx_build):
    src, out, log = tmp_path / "src", tmp_path / "out", tmp_path / "runs.log"
    _book(src, log, first=["b"], extra={"b": "raise ValueError('boom from b')"})
    monkeypatch.setenv("XLREC_BOOK_JOBS", "1")
    assert sphinx_build(src, out, tmp_path / "warnings.txt") != 0
    report = (out / "reports" / "b.err.log").read_text()
    assert "ValueError: boom from b" in report and "\x1b[" not in report  # the traceback, without colours
    assert sorted(p.name for p in (out / "reports").iterdir()) == ["b.err.log"]
    assert sorted(_runs(log)) == ["a", "c"]  # the others still ran (b raised before it logged)
    assert not (out / "b.html").exists() and not (out / "a.html").exists()  # no page of a failed build

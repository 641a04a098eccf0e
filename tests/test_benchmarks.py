"""The benchmarks' shared contract (developers' guide): every script in ``benchmarks/`` takes ``--quick`` and ends by
printing one line ``RESULT <its name> ratio=<x> ...``, so that a reader (or a script) finds the headline ratio of
any benchmark in the same place. Checked on the source, without running them (``make bench`` runs them)."""

import ast
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))


def test_there_are_benchmarks():
    assert len(BENCHMARKS) >= 5


def result_prints(tree: ast.AST) -> list[str]:
    """The literal start of every ``print(f"RESULT ...")`` in a module."""
    starts = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print" and node.args:
            first = node.args[0]
            parts = first.values if isinstance(first, ast.JoinedStr) else [first]
            if parts and isinstance(parts[0], ast.Constant) and str(parts[0].value).startswith("RESULT"):
                starts.append(parts[0].value)
    return starts


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda p: p.stem)
def test_quick_flag_and_one_result_line_with_ratio_first(path):
    source = path.read_text(encoding="utf-8")
    # results.measured_run_args builds the command line of the benchmarks that write measured runs, --quick included
    assert '"--quick"' in source or "measured_run_args(" in source, f"{path.name}: every benchmark takes --quick"
    starts = result_prints(ast.parse(source))
    assert len(starts) == 1, f"{path.name}: one RESULT print, found {len(starts)}"
    assert starts[0].startswith(f"RESULT {path.stem} ratio="), (
        f"{path.name}: the RESULT line must begin 'RESULT {path.stem} ratio=', it begins {starts[0]!r}")


def test_the_check_catches_a_result_line_without_ratio():
    bad = ast.parse('print(f"RESULT x time_ratio={1:.2f}")')
    assert result_prints(bad) == ["RESULT x time_ratio="]
    assert not result_prints(bad)[0].startswith("RESULT x ratio=")

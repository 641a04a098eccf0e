"""The benchmarks' shared contract (developers' guide): every script in ``benchmarks/`` takes ``--quick`` and ends by
printing one line ``RESULT <its name> ratio=<x> ...``, so that a reader (or a script) finds the headline ratio of
any benchmark in the same place. What ``ratio`` compares (and so which direction is better) is defined in each
benchmark's docstring. Checked on the syntax tree, without running them (``make bench`` runs them)."""

import ast
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and (getattr(n.func, "id", None) == name or getattr(n.func, "attr", None) == name)]


def _result_start(call: ast.Call) -> str | None:
    """The literal start of ``print(f"RESULT ...")``, else None."""
    if not call.args:
        return None
    first = call.args[0]
    parts = first.values if isinstance(first, ast.JoinedStr) else [first]
    start = parts[0].value if parts and isinstance(parts[0], ast.Constant) else None
    return start if isinstance(start, str) and start.startswith("RESULT") else None


def contract_problems(source: str, name: str) -> list[str]:
    """What a benchmark's source breaks of the contract: no ``--quick`` option (an ``add_argument("--quick")`` or the
    shared ``results.measured_run_args``, which adds it), not exactly one RESULT print, a RESULT line that does not
    begin ``RESULT <name> ratio=``, or a print after it in the same function."""
    tree = ast.parse(source)
    problems = []
    quick = any(isinstance(a, ast.Constant) and a.value == "--quick" for c in _calls(tree, "add_argument")
                for a in c.args)
    if not quick and not _calls(tree, "measured_run_args"):
        problems.append("no --quick option")
    results = [c for c in _calls(tree, "print") if _result_start(c)]
    if len(results) != 1:
        return problems + [f"{len(results)} RESULT prints, not one"]
    if not _result_start(results[0]).startswith(f"RESULT {name} ratio="):
        problems.append(f"the RESULT line begins {_result_start(results[0])!r}, not 'RESULT {name} ratio='")
    function = next(f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)
                    and any(c is results[0] for c in _calls(f, "print")))
    if any(c.lineno > results[0].lineno for c in _calls(function, "print")):
        problems.append("a print follows the RESULT line")
    return problems


def test_there_are_benchmarks():
    assert len(BENCHMARKS) >= 5


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda p: p.stem)
def test_every_benchmark_keeps_the_contract(path):
    assert contract_problems(path.read_text(encoding="utf-8"), path.stem) == []


GOOD = '''
def main():
    parser.add_argument("--quick", action="store_true")
    print("working")
    print(f"RESULT x ratio={1:.2f} other={2}")
'''


@pytest.mark.parametrize("bad, problem", [
    (GOOD.replace('"--quick"', '"--fast"'), "no --quick option"),
    (GOOD.replace("ratio=", "time_ratio="), "not 'RESULT x ratio='"),
    (GOOD + '    print(f"RESULT x ratio={3}")\n', "2 RESULT prints"),
    (GOOD + '    print("done")\n', "a print follows"),
])
def test_the_contract_check_catches_each_breach(bad, problem):
    assert contract_problems(GOOD, "x") == []
    found = contract_problems(bad, "x")
    assert len(found) == 1 and problem in found[0], found

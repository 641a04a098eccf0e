"""Every chapter notebook follows the course conventions; the table of contents names real files.

The notebooks themselves are executed once per `make test`, by its quick book build (`allow_errors: false`: a cell
that raises fails the build); tests/test_recorded_results.py then reads the numbers they recorded."""

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _text(cell) -> str:
    src = cell["source"]
    return src if isinstance(src, str) else "".join(src)


def _repo_url() -> str:
    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]


def _toc_files(node) -> list[str]:
    files = []
    if isinstance(node, dict):
        if "file" in node:
            files.append(node["file"])
        if "root" in node:
            files.append(node["root"])
        for value in node.values():
            files += _toc_files(value)
    elif isinstance(node, list):
        for item in node:
            files += _toc_files(item)
    return files


# Chapters that do not yet name themselves with `results.use_chapter("<stem>")` and `record(...)` their numbers,
# each with the reason. Every other chapter must; remove a chapter from here once its calls land.
NOT_YET_RECORDING: dict[str, str] = {
}


def test_there_are_chapters():
    assert NOTEBOOKS, "no notebooks found under notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean_and_follows_conventions(path):
    nb = json.loads(path.read_text())
    cells = nb["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    dirty = [i for i, c in enumerate(code) if c.get("outputs") or c.get("execution_count")]
    assert not dirty, f"{path.name}: code cells {dirty} carry outputs or execution counts; strip them"
    assert cells[0]["cell_type"] == "markdown" and _text(cells[0]).startswith("# "), "first cell: '# Title'"
    assert "what you will learn" in _text(cells[0]).lower()
    colab = _text(code[0])
    assert '"google.colab" in sys.modules' in colab and _repo_url() in colab, "second cell: the Colab install cell"
    params = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1 and re.search(r"^QUICK = None$", _text(params[0]), re.M)
    assert any("config.is_quick(QUICK)" in _text(c) for c in code)
    assert any("config.limit_blas_threads(" in _text(c) for c in code), "set-up: config.limit_blas_threads()"
    assert any(re.search(r"^\s*assert ", _text(c), re.M) for c in code), "no assert on key numbers"
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    # cell ids (nbformat 4.5): nbformat warns without them and will refuse them; reviews cite cells by id
    ids = [c.get("id") for c in cells]
    missing = [i for i, cid in enumerate(ids) if not cid]
    assert not missing, f"{path.name}: cells {missing} have no id"
    assert len(set(ids)) == len(ids), f"{path.name}: repeated cell ids"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_names_its_chapter_and_records_its_numbers(path):
    code = "\n".join(_text(c) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
    named = re.findall(r"use_chapter\(\s*(?:stem\s*=\s*)?[\"']([^\"']*)[\"']\s*,\s*quick\s*=\s*QUICK\s*\)", code)
    if path.stem in NOT_YET_RECORDING and not (named and "record(" in code):
        pytest.skip(f"{path.stem} does not record yet: {NOT_YET_RECORDING[path.stem]}")
    assert named, f'{path.name}: call results.use_chapter("{path.stem}", quick=QUICK) once at the top'
    assert named == [path.stem], f'{path.name}: use_chapter names {named}; it must be called once with "{path.stem}"'
    assert re.search(r"\brecord\(", code), f"{path.name}: record(name, value) its headline numbers at least once"


def test_not_yet_recording_names_real_chapters():
    assert set(NOT_YET_RECORDING) <= {nb.stem for nb in NOTEBOOKS}, "NOT_YET_RECORDING names a gone notebook"


def test_toc_lists_existing_files_and_every_chapter():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = _toc_files(toc)
    missing = [f for f in files if not any((ROOT / (f + ext)).exists() for ext in ("", ".md", ".ipynb"))]
    assert not missing, f"_toc.yml names missing files: {missing}"
    for nb in NOTEBOOKS:
        assert f"notebooks/{nb.stem}" in files, f"{nb.name} is not in _toc.yml"

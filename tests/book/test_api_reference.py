"""The API reference page documents every module of xlrec_lib: its ``xlrec-api`` directives
(book/_ext/api_reference.py) together cover every module the package has."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import api_reference  # noqa: E402

DIRECTIVE = re.compile(r"^\.\. xlrec-api:: (\S+)\n((?:   :[\w-]+:.*\n)*)", re.M)


def covered(page: str) -> set[str]:
    return {m for pkg, opts in DIRECTIVE.findall(page)
            for m in api_reference.modules(pkg, subpackages=":no-subpackages:" not in opts)}


def test_every_module_is_on_the_page():
    every = set(api_reference.modules("xlrec_lib"))
    missing = every - covered((ROOT / "book" / "api.md").read_text(encoding="utf-8"))
    assert len(every) > 40 and "xlrec_lib.rec.cf.ease" in every
    assert not missing, f"book/api.md: add an xlrec-api directive for {sorted(missing)}"


def test_no_subpackages_keeps_to_the_package():
    top = api_reference.modules("xlrec_lib", subpackages=False)
    assert "xlrec_lib.results" in top and not [m for m in top if m.count(".") > 1]
    assert covered(".. xlrec-api:: xlrec_lib\n   :no-subpackages:\n") == set(top)


def test_set_sizes_in_docstrings_are_not_substitutions():
    lines = ["recall = hits / |R|, stable for large |z|", "``|R|`` stays code", "a |link|_ stays"]
    assert api_reference.escape_bars(lines) == [r"recall = hits / \|R\|, stable for large \|z\|", "``|R|`` stays code",
                                                "a |link|_ stays"]


def test_references_into_the_library_must_resolve(tmp_path, monkeypatch, sphinx_build):
    """With _config.yml's nitpick settings, a role naming a library function that does not exist warns (fails `-W`);
    one naming a real function links to the API page; references to other packages are not checked."""
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["sphinx"]["config"]
    ignore = [tuple(p) for p in config["nitpick_ignore_regex"]]
    (tmp_path / "conf.py").write_text(f"import sys\nsys.path.insert(0, {str(ROOT / 'book' / '_ext')!r})\n"
                                      "extensions = ['myst_parser', 'api_reference']\n"
                                      f"nitpicky = {config['nitpicky']!r}\nnitpick_ignore_regex = {ignore!r}\n")
    (tmp_path / "index.md").write_text("# API\n\n```{eval-rst}\n.. xlrec-api:: xlrec_lib\n   :no-subpackages:\n```\n\n"
                                       "{py:func}`xlrec_lib.config.is_quick`, {py:func}`xlrec_lib.config.nope`, "
                                       "{py:class}`torch.Tensor`\n")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # autodoc imports this checkout's library
    assert sphinx_build(tmp_path, tmp_path / "out", tmp_path / "w.txt") == 0
    warnings = [w for w in (tmp_path / "w.txt").read_text().splitlines() if "WARNING" in w]
    assert len(warnings) == 1 and "xlrec_lib.config.nope" in warnings[0], warnings
    assert 'href="#xlrec_lib.config.is_quick"' in (tmp_path / "out" / "index.html").read_text(encoding="utf-8")

"""Colab: every chapter's install cell installs the course from the one repository named in _config.yml, the same
one the book's launch buttons open (tests/book/test_browser.py checks the rendered buttons)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# "<package> @ git+<url>[@<ref>]" inside the install cell's pip command
SPEC = re.compile(r"""["']([\w.-]+) @ git\+(https://[^"'@\s]+?)(?:\.git)?(?:@([^"'\s#]+))?(?:#[^"']*)?["']""")


def repository() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["repository"]


def install_specs(path: Path) -> list[tuple[str, str, str | None]]:
    """``(package, url, ref)`` of each ``pkg @ git+URL[@ref]`` in the notebook's first code cell."""
    code = [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
    source = code[0]["source"] if isinstance(code[0]["source"], str) else "".join(code[0]["source"])
    return [(m.group(1), m.group(2), m.group(3)) for m in SPEC.finditer(source)]


def disagreements(specs, package: str, url: str, branch: str) -> list[str]:
    """What in ``specs`` does not install ``package`` from ``url`` at ``branch``. A spec without a ref installs the
    repository's default branch, accepted only when the configured branch is ``main``, GitHub's default."""
    if len(specs) != 1:
        return [f"{len(specs)} 'pkg @ git+URL' install specs, expected one"]
    (pkg, spec_url, ref), wrong = specs[0], []
    if pkg != package:
        wrong.append(f"installs {pkg!r}, the project is {package!r} (pyproject.toml)")
    if spec_url.rstrip("/") != url.rstrip("/"):
        wrong.append(f"installs from {spec_url}, _config.yml's repository.url is {url}")
    if (ref or "main") != branch:
        wrong.append(f"installs {'ref ' + ref if ref else 'the default branch'}, _config.yml's branch is {branch}")
    return wrong


def test_disagreements_are_found():
    ok = [("xlrec", "https://github.com/xlrec/xlrec", None)]
    assert disagreements(ok, "xlrec", "https://github.com/xlrec/xlrec", "main") == []
    assert disagreements([("xlrec", "https://github.com/xlrec/xlrec", "main")], "xlrec",
                         "https://github.com/xlrec/xlrec/", "main") == []
    assert len(disagreements(ok, "xlrec", "https://github.com/other/xlrec", "main")) == 1
    assert len(disagreements(ok, "xlrec", "https://github.com/xlrec/xlrec", "v2")) == 1
    assert len(disagreements(ok + ok, "xlrec", "https://github.com/xlrec/xlrec", "main")) == 1
    spec = '"xlrec @ git+https://github.com/o/r.git@v1.0"'
    assert SPEC.findall(spec) == [("xlrec", "https://github.com/o/r", "v1.0")]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_install_cell_uses_the_configured_repository(path):
    repo = repository()
    package = re.search(r'^\[project\]\nname = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    wrong = disagreements(install_specs(path), package, repo["url"], repo.get("branch", "main"))
    assert not wrong, f"{path.name}, install cell: " + "; ".join(wrong)


def test_launch_buttons_are_configured():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", config["repository"]["url"]), \
        "Colab opens notebooks from GitHub: repository.url must be https://github.com/<owner>/<repo>"


COLAB_PINS = ROOT / "tests" / "colab" / "colab_runtime.txt"


def colab_pins() -> dict[str, str]:
    """Package -> version of tests/colab/colab_runtime.txt, the versions `make colab-check` installs as Colab's."""
    lines = [line.strip() for line in COLAB_PINS.read_text(encoding="utf-8").splitlines()]
    return dict(line.lower().split("==") for line in lines if line and not line.startswith("#"))


def test_setup_page_gives_the_colab_versions_that_are_tested():
    """The versions the set-up page names as Colab's are those `make colab-check` installs (a pin moved to a newer
    Colab list must move the page with it)."""
    text = (ROOT / "book" / "setup.md").read_text(encoding="utf-8")
    section = text[text.index("**Colab's versions are tested.**"):text.index("## Data and models")]
    pins = colab_pins()
    named = [(n.lower(), v) for n, v in re.findall(r"\b([A-Za-z][\w-]*)\s+(\d+\.\d+\.\d+)\b", section)
             if n.lower() in pins]
    assert {"torch", "transformers"} <= {n for n, _ in named}
    wrong = {n: (v, pins[n]) for n, v in named if v != pins[n]}
    assert not wrong, f"setup.md names other Colab versions than colab_runtime.txt (page, pinned): {wrong}"


def test_the_install_cell_keeps_colabs_torch_and_transformers():
    """pyproject.toml's ranges admit Colab's torch and transformers, so the install cell keeps them (a floor raised
    past Colab's would make every chapter's first cell replace them, torch with a multi-GB download)."""
    from packaging.requirements import Requirement

    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    listed = re.search(r"^dependencies = \[(.*?)^\]", text, re.S | re.M).group(1)
    requirements = {r.name.lower(): r for r in map(Requirement, re.findall(r'^\s*"([^"]+)"', listed, re.M))}
    pins = colab_pins()
    for name in ("torch", "transformers", "tokenizers"):
        assert requirements[name].specifier.contains(pins[name]), (name, str(requirements[name]), pins[name])

"""Fetch the pinned MathJax 3 (npm package ``mathjax``) into the environment, so the book renders math offline.

``python book/_ext/fetch_mathjax.py DEST`` runs ``npm pack mathjax@VERSION``, checks the tarball's sha256 and
extracts the CommonHTML build (``es5/tex-mml-chtml.js``, its TeX extensions, fonts, menu and accessibility
parts) into ``DEST/mathjax``. ``offline_math`` (a Sphinx extension beside this file) then copies ``DEST`` into the
book's ``_static``; ``_config.yml`` sets ``mathjax_path: mathjax/tex-mml-chtml.js``.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "3.2.2"
SHA256 = "1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09"
# Under es5/: the one combined component the book loads and what it loads on demand from beside itself.
KEEP = ("tex-mml-chtml.js", "input/", "output/chtml/", "ui/", "a11y/", "sre/")
ENTRY = "tex-mml-chtml.js"


def check_tarball(path: Path, sha256: str = SHA256) -> None:
    """Raise if ``path``'s sha256 differs from the pinned one."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise SystemExit(f"{path}: sha256 {digest}, expected {sha256} for mathjax@{VERSION}; not extracting it")


def extract(tarball: Path, dest: Path) -> Path:
    """Extract the kept parts of the package's ``es5/`` into ``dest/mathjax``; returns the entry script's path."""
    target = dest / "mathjax"
    tmp = dest / "mathjax.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            rel = member.name.removeprefix("package/es5/")
            if member.name.startswith("package/es5/") and member.isfile() and rel.startswith(KEEP):
                out = tmp / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    if not (tmp / ENTRY).is_file():
        raise SystemExit(f"{tarball}: no es5/{ENTRY} in the package")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)  # only a complete copy takes the final name
    return target / ENTRY


def main(dest: str) -> None:
    npm = shutil.which("npm")
    if not npm:
        raise SystemExit("npm not found: the book's offline math is fetched with `npm pack mathjax@"
                         f"{VERSION}`; install Node.js and npm (Debian: apt-get install -y npm)")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([npm, "pack", "--silent", f"mathjax@{VERSION}"], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL)
        tarball = Path(tmp) / f"mathjax-{VERSION}.tgz"
        check_tarball(tarball)
        entry = extract(tarball, Path(dest))
    print(f"== MathJax {VERSION} in {entry.parent}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(f"usage: {sys.argv[0]} DEST")
    main(sys.argv[1])

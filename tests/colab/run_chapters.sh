#!/usr/bin/env bash
# `make colab-check`: every chapter, top to bottom, on the package versions a Colab runtime ships.
#
# 1. A fresh virtual environment on Python 3.12 (Colab's) gets colab_runtime.txt, the versions Colab has
#    preinstalled (torch, transformers and the rest of what the course imports), and papermill, which runs the
#    notebooks here.
# 2. The course is installed on top as every chapter's install cell does it in Colab (`pip install xlrec @ git+...`):
#    from a clone of this repository's HEAD (commit first what you want tested), not editable. pip keeps each
#    preinstalled version that satisfies pyproject.toml and adds or upgrades the rest; what it changed among the
#    pinned packages is printed, and the check stops if that is torch, transformers or tokenizers (then it would
#    test other versions than Colab's).
# 3. Each notebook runs with papermill in quick mode (QUICK=0 for full mode), importing the installed package, not
#    the checkout; the executed notebooks, their logs and records go to _build/colab/. The first failure stops it.
#
# Chapter 9's news section downloads MIND on Colab; here it reads the repository's news demo as the folders a reader
# unpacked (MIND_DIR, XMIND_DIR), since an installed package carries no demo.
# CHAPTERS="9 10" runs only those chapters; REUSE=1 keeps an existing environment and reinstalls only the course.
# What it does not reproduce: packages outside colab_runtime.txt get their newest versions, not Colab's; Colab's own
# packages that the course does not import (TensorFlow, JAX, ...) are absent; and Colab installs from inside a
# running kernel, where here everything is installed before the kernel starts.
#
# Needs PyPI and about 8 GB of disk (torch's Linux wheel from PyPI is its CUDA build, with its libraries: 8.2 GB for
# the environment, measured 2026-12-06). On a machine without a
# GPU the notebooks run on the CPU, as on Colab's CPU runtime. Set XLREC_CACHE to an empty folder to start, as a fresh
# Colab session does, with nothing cached.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
venv=${COLAB_VENV:-.venv-colab}
quick=${QUICK:-1}
out=_build/colab
py=${COLAB_PYTHON:-$(command -v python3.12 || true)}
if [ -z "$py" ] || ! "$py" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
  echo "== no Python 3.12 found (Colab's); set COLAB_PYTHON to one"; exit 2
fi
start=$(date +%s)
rm -rf "$out"
mkdir -p "$out/results"
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
git clone -q "$root" "$src/xlrec"
echo "== the course at $(git -C "$src/xlrec" log -1 --format='%h %s' | cut -c1-100)"
if [ "${REUSE:-0}" = 1 ] && [ -x "$venv/bin/python" ]; then
  echo "== REUSE=1: the environment in $venv, the course reinstalled"
  "$venv/bin/python" -m pip install -q --no-deps --force-reinstall "$src/xlrec"
else
  rm -rf "$venv"
  "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -r tests/colab/colab_runtime.txt papermill  # one resolve: the pins hold
  "$venv/bin/python" -m pip freeze > "$out/colab_preinstalled.txt"
  "$venv/bin/python" -m pip install -q "$src/xlrec"
  "$venv/bin/python" -m pip freeze > "$out/after_install_cell.txt"
  echo "== what the install cell changed among Colab's packages (Colab's version -> after):"
  "$venv/bin/python" - "$out/colab_preinstalled.txt" "$out/after_install_cell.txt" <<'EOF'
import re, sys
def read(path):
    pairs = (re.split(r"==| @ ", line.strip(), maxsplit=1) for line in open(path) if "==" in line or " @ " in line)
    return {name.lower().replace("_", "-"): version for name, version in pairs}
before, after = read(sys.argv[1]), read(sys.argv[2])
pinned = {line.split("==")[0].lower().replace("_", "-") for line in open("tests/colab/colab_runtime.txt")
          if "==" in line and not line.startswith("#")}
changed = sorted(name for name in pinned if before.get(name) != after.get(name))
for name in changed:
    print(f"   {name}: {before.get(name)} -> {after.get(name)}")
print(f"   {len(set(after) - set(before))} packages added (the course's own dependencies that Colab lacks)")
kept = {"torch", "transformers", "tokenizers"} & set(changed)
if kept:
    sys.exit(f"== the install cell replaced Colab's {sorted(kept)}: pyproject.toml's ranges exclude Colab's versions")
EOF
  echo "== set-up took $(( $(date +%s) - start )) s"
fi
# the kernels must import the installed package: from notebooks/, without PYTHONPATH, as papermill runs them
(cd notebooks && env -u PYTHONPATH "$root/$venv/bin/python" -c \
  'import xlrec_lib, sys; f = xlrec_lib.__file__; assert "site-packages" in f, f"imports the checkout: {f}"')
flag=$([ "$quick" = 1 ] && echo True || echo False)
wanted=" " chapters=${CHAPTERS:-}
for n in ${chapters//,/ }; do wanted+="$(printf '%02d' "$((10#$n))") "; done  # "9,10" -> " 09 10 "
ran=0
for nb in notebooks/[0-9][0-9]_*.ipynb; do
  stem=$(basename "$nb" .ipynb)
  if [ "$wanted" != " " ] && [[ "$wanted" != *" ${stem:0:2} "* ]]; then continue; fi
  params=(-p QUICK "$flag")
  if [ "${stem:0:2}" = 09 ]; then
    params+=(-p MIND_DIR "$root/data/fixtures/news-demo" -p XMIND_DIR "$root/data/fixtures/news-demo-cmn")
  fi
  t0=$(date +%s)
  # PYTHONPATH unset: the kernel imports the installed package, as in Colab
  env -u PYTHONPATH PATH="$root/$venv/bin:$PATH" XLREC_QUICK="$quick" XLREC_RESULTS="$root/$out/results" \
    "$venv/bin/python" -m papermill "$nb" "$out/$stem.ipynb" --cwd notebooks "${params[@]}" --no-progress-bar \
    > "$out/$stem.log" 2>&1 || { tail -40 "$out/$stem.log"; echo "== $stem FAILED on Colab's versions"; exit 1; }
  echo "== $stem: $(( $(date +%s) - t0 )) s"
  ran=$((ran + 1))
done
if [ "$ran" = 0 ]; then echo "== CHAPTERS='${CHAPTERS:-}' matches no notebook"; exit 1; fi
echo "== $ran chapter(s) ran on Colab's versions ($("$venv/bin/python" -c 'import torch, transformers;
print(f"torch {torch.__version__}, transformers {transformers.__version__}")')) in $(( $(date +%s) - start )) s"

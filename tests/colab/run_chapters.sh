#!/usr/bin/env bash
# `make colab-check`: every chapter, top to bottom, on the package versions a Colab runtime ships.
#
# 1. A fresh virtual environment on Python 3.12 (Colab's) gets colab_runtime.txt, the versions Colab has
#    preinstalled (torch, transformers and the rest of what the course imports).
# 2. The course is installed on top as every chapter's install cell does it in Colab (`pip install xlrec @ git+...`,
#    here from this checkout, not editable): pip keeps each preinstalled version that satisfies pyproject.toml and
#    adds or upgrades the rest. What it changed is printed.
# 3. Each notebook runs with papermill in quick mode (QUICK=0 for full mode), importing the installed package, not
#    the checkout; the executed notebooks and their records go to _build/colab/. The first failure stops the run.
#
# Chapter 9's news section downloads MIND on Colab; here it reads the repository's news demo as the folders a reader
# unpacked (MIND_DIR, XMIND_DIR), since an installed package carries no demo.
# CHAPTERS="09 10" runs only those; REUSE=1 keeps an existing environment (skips steps 1 and 2).
# Needs PyPI (torch's Linux wheel from PyPI is its CUDA build: about 4 GB with its libraries). On a machine without a
# GPU the notebooks run on the CPU, as on Colab's CPU runtime. Set XLREC_CACHE to an empty folder to start, as a fresh
# Colab session does, with nothing cached.
set -euo pipefail
cd "$(dirname "$0")/../.."
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
if [ "${REUSE:-0}" = 1 ] && [ -x "$venv/bin/python" ]; then
  echo "== REUSE=1: the environment in $venv as it is"
else
  rm -rf "$venv"
  "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -r tests/colab/colab_runtime.txt
  "$venv/bin/python" -m pip freeze > "$out/colab_preinstalled.txt"
  "$venv/bin/python" -m pip install -q . papermill
  "$venv/bin/python" -m pip freeze > "$out/after_install_cell.txt"
  echo "== what the install cell changed (Colab's version -> after):"
  "$venv/bin/python" - "$out/colab_preinstalled.txt" "$out/after_install_cell.txt" <<'EOF'
import re, sys
def read(path):
    pairs = (re.split(r"==| @ ", line.strip(), maxsplit=1) for line in open(path) if "==" in line or " @ " in line)
    return {name.lower().replace("_", "-"): version for name, version in pairs}
before, after = read(sys.argv[1]), read(sys.argv[2])
pinned = {line.split("==")[0].lower().replace("_", "-") for line in open("tests/colab/colab_runtime.txt")
          if "==" in line and not line.startswith("#")}
for name in sorted(pinned):
    if before.get(name) != after.get(name):
        print(f"   {name}: {before.get(name)} -> {after.get(name)}")
print(f"   {len(set(after) - set(before))} packages added (the course's own dependencies that Colab lacks)")
EOF
  echo "== set-up took $(( $(date +%s) - start )) s"
fi
flag=$([ "$quick" = 1 ] && echo True || echo False)
for nb in notebooks/[0-9][0-9]_*.ipynb; do
  stem=$(basename "$nb" .ipynb)
  if [ -n "${CHAPTERS:-}" ] && [[ " $CHAPTERS " != *" ${stem:0:2} "* ]]; then continue; fi
  params=(-p QUICK "$flag")
  if [ "${stem:0:2}" = 09 ]; then
    params+=(-p MIND_DIR "$PWD/data/fixtures/news-demo" -p XMIND_DIR "$PWD/data/fixtures/news-demo-cmn")
  fi
  t0=$(date +%s)
  # PYTHONPATH unset: the kernel imports the installed package, as in Colab
  env -u PYTHONPATH PATH="$PWD/$venv/bin:$PATH" XLREC_QUICK="$quick" XLREC_RESULTS="$PWD/$out/results" \
    "$venv/bin/python" -m papermill "$nb" "$out/$stem.ipynb" --cwd notebooks "${params[@]}" --no-progress-bar \
    > "$out/$stem.log" 2>&1 || { tail -40 "$out/$stem.log"; echo "== $stem FAILED on Colab's versions"; exit 1; }
  echo "== $stem: $(( $(date +%s) - t0 )) s"
done
echo "== every chapter ran on Colab's versions ($("$venv/bin/python" -c 'import torch, transformers;
print(f"torch {torch.__version__}, transformers {transformers.__version__}")')) in $(( $(date +%s) - start )) s"

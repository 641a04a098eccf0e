# The course's commands. `make test` is what CI runs (.ci/run); `make book` builds the published book.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is installed first, unless the environment already has it. On this project's machines
# torch==2.13.0 resolves to a CPU wheel kept on disk; on another Linux machine without a GPU add
# TORCH_INDEX=https://download.pytorch.org/whl/cpu (PyPI's Linux torch is the multi-GB CUDA build).
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
STAMP := $(VENV)/.installed
# pip compiles every installed module to bytecode one file at a time (about 55 s of an 85 s set-up here);
# compileall does the same on every core afterwards (about 28 s on two). Its exit status is not read, as pip does
# not read it: some packages ship files for newer Pythons that do not compile (torch's py312_intrinsics.py); the
# set-up prints how many. Without the bytecode every process would compile its imports again where
# PYTHONDONTWRITEBYTECODE is set.
PIP_NO_COMPILE := --no-compile
# The book's MathJax, pinned and served from the book itself (offline, file:// too): book/_ext/fetch_mathjax.py.
MATHJAX := $(VENV)/share/xlrec/static/mathjax/tex-mml-chtml.js
# Where the chapters record their numbers (xlrec_lib/results.py: <stem>.<quick|full>.json). The builds, `make
# chapter` and the tests all use this one folder, so what a build recorded is what the tests read.
XLREC_RESULTS ?= $(CURDIR)/_build/results
export XLREC_RESULTS
# PYTHONPATH: the notebooks and tests import the library of this checkout, whatever `pip install -e` points at.
RUN := PATH="$(CURDIR)/$(BIN):$$PATH" PYTHONPATH="$(CURDIR)" PYDEVD_DISABLE_FILE_VALIDATION=1
QUICK_BOOK := _build/quick
# How many notebooks a book build executes at once (book/_ext/parallel_execution.py; with more than one, each
# kernel gets one thread). The quick build (make test) runs two where there are two cores or more: on two cores it
# took 617 s against 903 s one at a time (2026-12-07). The full build (make book) runs one: its chapters
# print timings (latencies, fit times) that should not share the cores with another chapter.
BOOK_JOBS_QUICK ?= $(shell [ "$$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)" -ge 2 ] && echo 2 || echo 1)
BOOK_JOBS_FULL ?= 1
# `make chapter NB=08 QUICK=1 PARAMS='-p SEED 1'`: one chapter through papermill, into _build/executed/.
NB ?=
QUICK ?= 1
PARAMS ?=

.PHONY: help setup test unit book book-quick recorded browser chapter module-table lab lint bench colab-check clean

help:
	@echo "make test                set up .venv; lint, unit tests, the quick book build (runs every notebook"
	@echo "                         once, quick mode), the checks of the numbers the chapters recorded and"
	@echo "                         every page of that build in headless Chromium (make browser)"
	@echo "make book                set up .venv, execute every notebook in full mode, build _build/html"
	@echo "make chapter NB=07       run one chapter with papermill into _build/executed/ (QUICK=0: full mode;"
	@echo "                         PARAMS='-p SEED 1' sets other parameters)"
	@echo "make module-table        regenerate the module table of book/how_to_use.md from the docstrings"
	@echo "make lab                 open JupyterLab on the course, at notebooks/ (LAB_ARGS='--port 8899' passes"
	@echo "                         options; as root it adds --allow-root)"
	@echo "make browser             open every page of the last quick build in headless Chromium (offline) and check"
	@echo "                         it; screenshots in _build/screenshots/ (part of make test)"
	@echo "make bench               run every benchmark in --quick mode"
	@echo "make colab-check         run every chapter on the package versions Colab ships (tests/colab/; needs"
	@echo "                         PyPI and about 8 GB of disk; QUICK=0: full mode)"

setup: $(STAMP) $(MATHJAX)

$(STAMP): requirements.txt pyproject.toml
	@echo "== setting up $(VENV)"
	@start=$$(date +%s); \
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV); \
	$(BIN)/python -m pip install -q --upgrade pip; \
	$(BIN)/python -c "import torch" 2>/dev/null || \
	  $(BIN)/python -m pip install -q $(PIP_NO_COMPILE) "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)); \
	$(BIN)/python -m pip install -q $(PIP_NO_COMPILE) -r requirements.txt; \
	$(BIN)/python -m pip install -q $(PIP_NO_COMPILE) --no-deps -e .; \
	site=$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))'); \
	left=$$($(BIN)/python -m compileall -q -j 0 "$$site" 2>&1 | grep -c '^\*\*\* Error compiling' || true); \
	echo "== compiled $$site to bytecode; files this Python cannot compile, left out as pip leaves them: $$left"; \
	echo "== set-up took $$(( $$(date +%s) - start )) s"
	@touch $@

$(MATHJAX): book/_ext/fetch_mathjax.py | $(STAMP)
	$(BIN)/python book/_ext/fetch_mathjax.py $(VENV)/share/xlrec/static
	@touch $@

# Build the book with XLREC_QUICK=$(1) into $(2). Every notebook is executed once (_config.yml: allow_errors
# false; book/_ext/parallel_execution.py executes all of them before Sphinx reads them), so a raising cell or a
# failed assert fails the build, as does any Sphinx warning.
# The mode's old records and pages are removed first: the tests then read only what this build recorded and
# wrote (a page of a chapter since taken out of the book would otherwise stay). On failure the
# tracebacks saved in reports/ are printed, so that the CI log shows them.
define build_book
@start=$$(date +%s); mode=$(if $(filter 1,$(1)),quick,full); \
rm -rf $(2)/_build/html; mkdir -p "$(XLREC_RESULTS)"; rm -f "$(XLREC_RESULTS)"/*."$$mode".json; \
if ! $(RUN) XLREC_QUICK=$(1) XLREC_BOOK_JOBS=$(if $(filter 1,$(1)),$(BOOK_JOBS_QUICK),$(BOOK_JOBS_FULL)) jupyter-book build . --all --path-output $(2) -W --keep-going; then \
  if [ -d $(2)/_build/html/reports ]; then \
    find $(2)/_build/html/reports -name '*.log' | sort | while read -r log; do \
      echo "== $$log"; cat "$$log"; echo; done; fi; \
  echo "== the $$mode book build failed: a notebook cell raised or Sphinx warned (see above)"; exit 1; fi; \
echo "== the $$mode book build took $$(( $$(date +%s) - start )) s"
endef

lint: $(STAMP)
	$(RUN) ruff check xlrec_lib tests benchmarks book/_ext

# Unit tests and the notebooks' conventions; executes no notebook. UNIT_WORKERS pytest-xdist processes, each with
# one torch/BLAS thread: most tests are single-threaded Python, so two workers on two cores took 49-50 s against
# 66 s for one process with two threads (2026-12-06), while two workers of two threads each oversubscribe the
# cores (79 s against 82 s). UNIT_WORKERS=0 runs the tests in pytest's own process (one thread).
UNIT_WORKERS ?= 2
unit: $(STAMP)
	$(RUN) XLREC_QUICK=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python -m pytest tests -n $(UNIT_WORKERS) --durations=10

book-quick: setup
	$(call build_book,1,$(QUICK_BOOK))

# The numbers the last quick build recorded (tests/test_recorded_results.py).
recorded: $(STAMP)
	$(RUN) XLREC_QUICK=1 python -m pytest tests/test_recorded_results.py -m results

# Every page of the last quick build in headless Chromium, offline (tests/book/test_browser.py); screenshots in
# _build/screenshots/. Needs Chromium and chromedriver (.ci/run installs them).
browser: setup
	$(RUN) python -m pytest tests/book/test_browser.py -m browser

# Each notebook runs once: in the quick book build; the recorded numbers and the pages are checked after it.
test: setup
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory lint; \
	$(MAKE) --no-print-directory unit; \
	$(MAKE) --no-print-directory book-quick; \
	$(MAKE) --no-print-directory recorded; \
	$(MAKE) --no-print-directory browser; \
	echo "== make test took $$(( $$(date +%s) - start )) s"

book: setup
	$(call build_book,0,.)
	@echo "== open _build/html/index.html"

chapter: $(STAMP)
	@[ -n "$(NB)" ] || { echo "usage: make chapter NB=07 [QUICK=0] [PARAMS='-p SEED 1']"; exit 2; }; \
	shopt -s nullglob; \
	if [ -f "$(NB)" ]; then nbs=("$(NB)"); else nbs=(notebooks/$(NB)*.ipynb); fi; \
	if [ $${#nbs[@]} -ne 1 ]; then \
	  echo "NB=$(NB) matches $${#nbs[@]} notebooks; give one of:"; ls notebooks/[0-9][0-9]_*.ipynb; exit 2; fi; \
	nb=$${nbs[0]}; stem=$$(basename "$$nb" .ipynb); \
	case "$(QUICK)" in 1) mode=quick; flag=True;; 0) mode=full; flag=False;; \
	  *) echo "QUICK=$(QUICK): give 1 (quick mode) or 0 (full mode)"; exit 2;; esac; \
	out=_build/executed/$$stem.$$mode.ipynb; mkdir -p _build/executed; \
	start=$$(date +%s); \
	$(RUN) XLREC_QUICK=$(QUICK) papermill "$$nb" "$$out" --cwd "$$(dirname "$$nb")" -p QUICK $$flag $(PARAMS); \
	echo "== $$stem ($$mode mode) took $$(( $$(date +%s) - start )) s: $$out, numbers in $(XLREC_RESULTS)/$$stem.$$mode.json"

module-table: $(STAMP)
	$(RUN) python tests/test_layout.py --write

# JupyterLab serves the whole checkout and opens at notebooks/. As root (a Docker container, a cloud notebook VM)
# it refuses to start without --allow-root; the flag changes nothing for other users, so it is added only for root,
# and said. The server still listens on localhost only, behind a token. tests/book/test_jupyterlab.py runs this.
LAB_ARGS ?=
lab: $(STAMP)
	@root=""; if [ "$$(id -u)" = 0 ]; then root=--allow-root; echo "== running as root: jupyter lab --allow-root"; fi; \
	$(RUN) jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/notebooks $$root $(LAB_ARGS)

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(RUN) python $$b --quick; done

# Every chapter, in a fresh environment with the versions a Colab runtime has preinstalled (tests/colab/
# colab_runtime.txt) and the course installed on top as the chapters' install cell does; see run_chapters.sh.
colab-check:
	QUICK=$(QUICK) bash tests/colab/run_chapters.sh

clean:
	rm -rf _build .pytest_cache .ruff_cache

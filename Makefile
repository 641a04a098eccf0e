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
RUN := PATH="$(CURDIR)/$(BIN):$$PATH" PYDEVD_DISABLE_FILE_VALIDATION=1

.PHONY: help setup test unit book book-quick lab lint bench clean

help:
	@echo "make test   set up .venv, run unit tests, every notebook in quick mode (nbval) and a quick book build"
	@echo "make book   set up .venv, execute every notebook in full mode and build the HTML book into _build/html"
	@echo "make lab    open JupyterLab on notebooks/"
	@echo "make bench  run every benchmark in --quick mode"

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@echo "== setting up $(VENV)"
	@start=$$(date +%s); \
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV); \
	$(BIN)/python -m pip install -q --upgrade pip; \
	$(BIN)/python -c "import torch" 2>/dev/null || \
	  $(BIN)/python -m pip install -q "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)); \
	$(BIN)/python -m pip install -q -r requirements.txt; \
	$(BIN)/python -m pip install -q --no-deps -e .; \
	echo "== set-up took $$(( $$(date +%s) - start )) s"
	@touch $@

lint: $(STAMP)
	$(RUN) ruff check xlrec_lib tests benchmarks

unit: $(STAMP)
	$(RUN) XLREC_QUICK=1 python -m pytest tests

test: $(STAMP) lint
	@start=$$(date +%s); \
	$(RUN) XLREC_QUICK=1 python -m pytest tests notebooks --nbval-lax --durations=10; \
	$(RUN) XLREC_QUICK=1 jupyter-book build . --all --path-output _build/quick -W --keep-going; \
	echo "== make test took $$(( $$(date +%s) - start )) s"

book: $(STAMP)
	@start=$$(date +%s); \
	$(RUN) XLREC_QUICK=0 jupyter-book build . --all -W --keep-going; \
	echo "== make book took $$(( $$(date +%s) - start )) s; open _build/html/index.html"

lab: $(STAMP)
	$(BIN)/python -c "import jupyterlab" 2>/dev/null || $(BIN)/python -m pip install -q "jupyterlab>=4"
	$(RUN) jupyter lab notebooks/

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(RUN) python $$b --quick; done

clean:
	rm -rf _build .pytest_cache .ruff_cache

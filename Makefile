# The entry points of the README (demo, test) and of CI (lint, test). Each creates .venv and installs the project
# when needed, then acts.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.oadn-installed

.PHONY: demo test lint install

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-compile --disable-pip-version-check -e '.[dev,dlib,slurm]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/oadn-bench run --suite demo

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

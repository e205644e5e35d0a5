# The entry points of the README (demo, test, test-fast) and of CI (lint, test). Each creates .venv and installs what it needs
# when it is missing: the demo the project alone, the tests and the linter the dev, dlib and slurm extras too.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --no-compile --disable-pip-version-check
STAMP := $(VENV)/.oadn-installed
DEV_STAMP := $(VENV)/.oadn-dev-installed

.PHONY: demo test test-fast lint install install-dev

install: $(STAMP)

install-dev: $(DEV_STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(PIP) -e '.[dev,dlib,slurm]'
	touch $(DEV_STAMP)

demo: $(STAMP)
	$(BIN)/oadn-bench run --suite demo

test: $(DEV_STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

# every test but those marked slow (end-to-end training, DDP, SLURM, the wheel, the real data): a few minutes less
test-fast: $(DEV_STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "not slow"

lint: $(DEV_STAMP)
	$(BIN)/ruff check .

# Quick start: `make demo` runs the main job, `make test` runs the tests.
# Both create .venv and install the project (with its [dev] extra) on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test lint bench

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

# The main job on the embedded default database (SQLite): audit this repository's history.
demo: $(INSTALLED)
	$(BIN)/yield-auditor audit --repo . --db "$${DATABASE_URL:-sqlite:///yield-auditor.db}"

test: $(INSTALLED)
	$(BIN)/python -m pytest

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check bot webhooks tests bench

bench: $(INSTALLED)
	$(BIN)/python bench/trailer_throughput.py
	$(BIN)/python bench/audit_throughput.py

# Quick start: `make demo` runs the main job, `make test` runs the tests.
# Both create .venv and install the project (with its [dev] extra) on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo audit test lint bench

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

# The main job on the embedded default database (SQLite): the App, fed a scripted week of agent
# work through signed webhooks against a fake GitHub; it prints the PR comments, then serves the
# App at http://127.0.0.1:8000 (DEMO_ARGS=--exit to stop after printing).
demo: $(INSTALLED)
	$(BIN)/yield-auditor demo $(DEMO_ARGS)

# The same engine on a local git history, no GitHub App: audit this repository.
audit: $(INSTALLED)
	$(BIN)/yield-auditor audit --repo . --db "$${DATABASE_URL:-sqlite:///yield-auditor.db}"

# The suite on every core (pytest-xdist); TEST_WORKERS=0 runs it in this one process.
TEST_WORKERS ?= auto
test: $(INSTALLED)
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

# Style, the layers between packages (import-linter, [tool.importlinter] in pyproject.toml), every
# imported library declared (deptry), the Dockerfile and the shell scripts.
lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check bot webhooks tests bench docker
	$(BIN)/lint-imports
	$(BIN)/deptry bot webhooks docker
	$(BIN)/deptry tests bench --ignore DEP002,DEP004
	$(BIN)/hadolint Dockerfile
	$(BIN)/shellcheck docker/entrypoint.sh docker/base-image.sh .ci/run

bench: $(INSTALLED)
	$(BIN)/python bench/trailer_throughput.py
	$(BIN)/python bench/audit_throughput.py
	$(BIN)/python bench/ingress_throughput.py
	$(BIN)/python bench/worker_throughput.py
	$(BIN)/python bench/hook_overhead.py

# Two commands do all the set-up: `make run` and `make test`. Each creates or updates .venv from
# uv.lock first (uv itself is installed, pinned, into .tools/ with the system Python's pip).
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
SYNCED := $(VENV)/.synced
PEERPATH := $(VENV)/bin/peerpath

export UV_PROJECT_ENVIRONMENT := $(VENV)
# Compile bytecode at install: each command starts from .pyc even under PYTHONDONTWRITEBYTECODE.
export UV_COMPILE_BYTECODE := 1
export UV_PYTHON_DOWNLOADS := never
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: run test venv lint diagram serve clean

run: $(SYNCED)
	$(PEERPATH) db upgrade
	$(PEERPATH) demo
	$(PEERPATH) pipeline
	$(PEERPATH) report html
	$(PEERPATH) sweep
	$(PEERPATH) outbox send --to-sink var/mail
	@echo "The emails are in var/mail/ (open any .eml file in a mail client or a text editor)."

test: lint
	$(VENV)/bin/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

# Style, the import contracts and the types (mypy: the packages and settings in pyproject.toml).
lint: $(SYNCED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(VENV)/bin/ruff format --check .

venv: $(SYNCED)

# Every deployment on this machine, with the Prefect UI at http://127.0.0.1:4200.
serve: $(SYNCED)
	$(PEERPATH) db upgrade
	$(PEERPATH) serve

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(SYNCED): uv.lock pyproject.toml | $(UV)
	$(UV) sync --locked --python $(PYTHON)
	@touch $@

# Refresh the README's copy of the state diagram after changing the transition table.
diagram: $(SYNCED)
	$(VENV)/bin/python -m peerpath.readme_diagram --write

# Every benchmark at modest sizes, each printing one JSON line (BENCHMARKS.md has the full-size runs).
BENCH_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres
.PHONY: bench
bench: $(SYNCED)
	@mkdir -p var/bench
	$(VENV)/bin/python -m benchmarks.sweep --journeys 10000 --json
	$(VENV)/bin/python -m benchmarks.sweep --journeys 10000 --database-url $(BENCH_POSTGRES_URL) --json
	$(VENV)/bin/python -m benchmarks.naive --journeys 1000 2>var/bench/naive.log
	$(VENV)/bin/python -m benchmarks.dispatch --messages 2000
	$(VENV)/bin/python -m benchmarks.transitions --journeys 2000
	$(VENV)/bin/python -m benchmarks.startup
	$(VENV)/bin/python -m benchmarks.click

clean:
	rm -rf $(VENV) .tools var .pytest_cache

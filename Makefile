# Two commands do all the set-up: `make run` and `make test`. Each creates or updates .venv from
# uv.lock first (uv itself is installed, pinned, into .tools/ with the system Python's pip).
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
SYNCED := $(VENV)/.synced
PEERPATH := $(VENV)/bin/peerpath

export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: run test venv lint diagram serve clean

run: $(SYNCED)
	$(PEERPATH) db upgrade
	$(PEERPATH) demo
	$(PEERPATH) pipeline
	$(PEERPATH) sweep
	$(PEERPATH) outbox send --to-sink var/mail
	@echo "The emails are in var/mail/ (open any .eml file in a mail client or a text editor)."

test: $(SYNCED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

lint: $(SYNCED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

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

clean:
	rm -rf $(VENV) .tools var .pytest_cache

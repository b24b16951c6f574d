# Two commands for a fresh machine: `make run` and `make test`. Both set up .venv first,
# and do it again only when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= feeder.toml

.PHONY: run test bench lint docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip > /dev/null 2>&1 || $(BIN)/pip install --upgrade pip

# pip's output goes to a log that is shown only if the install fails: setuptools warns at
# length about editable installs, which is noise for someone running `make run`.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --editable . > $(VENV)/pip.log 2>&1 || (cat $(VENV)/pip.log; exit 1)
	touch $@

# The tests run on SQLite and on PostgreSQL, so they need the postgresql extra too.
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --editable '.[test,postgresql]' > $(VENV)/pip.log 2>&1 || (cat $(VENV)/pip.log; exit 1)
	touch $@ $(VENV)/.installed-run

## run: set up, poll the bundled corpus into the SQLite state, preview the newest issue
run: $(VENV)/.installed-run
	$(BIN)/feeder --config $(CONFIG) poll
	$(BIN)/feeder --config $(CONFIG) newsletter render --latest

## test: set up with the test tools, then run the whole test suite
test: $(VENV)/.installed-test
	$(BIN)/pytest

## lint: ruff (lint and format) and mypy (strict, on the package), as .ci/run runs them
lint: $(VENV)/.installed-test
	$(BIN)/ruff check feeder tests benchmarks docs
	$(BIN)/ruff format --check feeder tests benchmarks docs
	$(BIN)/mypy

## docs: rewrite the generated pages and feeder.toml from the code (tests fail when they differ)
docs: $(VENV)/.installed-run
	$(BIN)/python -m feeder.config.reference markdown > docs/configuration.md
	$(BIN)/python -m feeder.config.reference toml > feeder.toml
	$(BIN)/python -m feeder.cli.reference docs/cli.md

## bench: the 100,000-article benchmark and the 100,000-subscriber send (slow; prints a table)
bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf out data/state.db data/state.db.lock benchmarks/work tests/artifacts

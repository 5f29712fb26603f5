# The two entry points the README opens with. Each installs what it needs first, so both work on a fresh machine.
PYTHON ?= python3
PIP_FLAGS ?= --quiet --disable-pip-version-check --root-user-action=ignore

.PHONY: install demo test lint unit binaries e2e bench

install:
	$(PYTHON) -m pip install $(PIP_FLAGS) -e '.[test]'

demo: install
	$(PYTHON) -m crdsync demo

lint: install
	$(PYTHON) -m ruff check crdsync tests e2e
	$(PYTHON) -m mypy --strict crdsync

unit: install
	$(PYTHON) -m pytest tests

# A cold build of the Go binaries takes many minutes: do it before pytest, with progress, outside test timeouts.
binaries: install
	$(PYTHON) -m crdsync dev build

e2e: binaries
	$(PYTHON) -m pytest e2e

test: lint binaries
	$(PYTHON) -m pytest tests e2e

bench: install
	$(PYTHON) -m crdsync bench

# The two entry points the README opens with. Each installs what it needs first, so both work on a fresh machine.
#
# Every target runs in the project's own virtual environment, .venv, built from requirements.lock (exact versions,
# every file's hash checked) and rebuilt from scratch whenever the lock or pyproject.toml changes (the stamp file
# below), so whatever the system Python has installed can neither break nor rescue a run. `make lock` regenerates the
# lock from pyproject.toml's ranges (`make lock LOCK_FLAGS=--upgrade` moves every pin to the newest allowed version).
PYTHON ?= python3
PIP_FLAGS ?= --quiet --disable-pip-version-check --root-user-action=ignore
LOCK_FLAGS ?=
PIP_TOOLS_VERSION := 7.6.2

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-from-requirements.lock
LOCK_VENV := .lock-venv

# Nothing from the caller's environment may add packages to the venv's path.
unexport PYTHONPATH PYTHONHOME PYTHONUSERBASE PYTHONSTARTUP

.PHONY: install demo test lint unit binaries e2e bench chaos lock mutation

install: $(STAMP)

# crdsync itself goes in editable and without build isolation: its build backend is the locked setuptools, not
# whatever an isolated build would download. `pip check` proves the lock is complete and consistent.
$(STAMP): requirements.lock pyproject.toml
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_FLAGS) --require-hashes -r requirements.lock
	$(PY) -m pip install $(PIP_FLAGS) --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	touch $@

demo: install
	$(PY) -m devkit demo

lint: install
	$(PY) -m ruff check crdsync devkit tests e2e
	$(PY) -m mypy --strict --explicit-package-bases crdsync devkit tests e2e
	$(VENV)/bin/lint-imports --config .importlinter

unit: install
	$(PY) -m pytest tests

# A cold build of the Go binaries takes many minutes: do it before pytest, with progress, outside test timeouts.
binaries: install
	$(PY) -m devkit build

e2e: binaries
	$(PY) -m pytest e2e

test: lint binaries
	$(PY) -m pytest tests e2e

bench: install
	$(PY) -m devkit bench

# The full fault-injection run (e2e/chaos; about 12 minutes on 2 cores): prints its seed first and its figures last,
# writes them to chaos-results/. Replay a run with `make chaos CHAOS_FLAGS="--seed N"`; `make test` runs the short plan.
CHAOS_FLAGS ?=
chaos: binaries
	$(PY) -m e2e.chaos --plan full $(CHAOS_FLAGS)

# Mutation testing, outside `make test` (devkit/mutation): mutmut over crdsync/engine and crdsync/translate against
# their unit tests (settings: pyproject.toml [tool.mutmut]), then the named mutations in tests/**/named_mutations.json.
# Fails below an 85% kill rate or when a named mutation survives; figures and survivors go to mutation-results/.
# One module: `make mutation MUTATION_FLAGS="--only 'crdsync.translate.names.*'"`; see python -m devkit.mutation -h.
MUTATION_FLAGS ?=
mutation: install
	$(PY) -m devkit.mutation $(MUTATION_FLAGS)

# pip-tools runs in a throwaway venv of its own, so it is not part of the lock it writes. --allow-unsafe pins
# setuptools too (the wheel test builds with it); the emitted file names no index or find-links of this machine.
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install $(PIP_FLAGS) pip-tools==$(PIP_TOOLS_VERSION)
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe \
		--extra test --extra bench --extra mutation --strip-extras --no-emit-index-url --no-emit-find-links $(LOCK_FLAGS) \
		--output-file requirements.lock pyproject.toml
	rm -rf $(LOCK_VENV)

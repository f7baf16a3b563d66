# studio-operator: the two commands a fresh machine needs are `make run` and `make test`.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 5000
METRICS_PORT ?= 9100
DATA   ?= .local

.PHONY: help install run test test-slow lint bench drill clean

help:
	@echo "make run    start the local AWS emulator, prepare it, and run the operator on desired_state/"
	@echo "            (ports: make run PORT=5001 METRICS_PORT=9101; defaults 5000 and 9100)"
	@echo "make test   run the test suite (installs into .venv first); make test-slow: the slowest end-to-end tests"
	@echo "make drill  a local failover drill: flip activeRegion in git, check the new region"
	@echo "make lint   ruff, mypy and the import-layer contract"
	@echo "make bench  benchmarks in bench/, JSON reports in bench/results/"
	@echo "make clean  remove .venv and local data"

# Every version is pinned in constraints.txt (the Dockerfile uses it too), so a release
# upstream cannot change what the tests or the image run.
PIP_VERSION := 26.3

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet pip==$(PIP_VERSION)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	@touch $@

# checkov (the templates' security checks, run by tests/deployment) pins a boto3 the
# project cannot use, so it lives in a virtual environment of its own, pinned as exactly.
CHECKOV_VENV  := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

$(CHECKOV_STAMP): constraints-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet pip==$(PIP_VERSION)
	$(CHECKOV_VENV)/bin/pip install --quiet -c constraints-checkov.txt checkov
	@touch $@

install: $(STAMP) $(CHECKOV_STAMP)

run: $(STAMP)
	$(BIN)/studioctl demo --port $(PORT) --metrics-port $(METRICS_PORT) --data-dir $(DATA) \
	    --desired desired_state

# The suite waits mostly on subprocesses, sockets and sleeps, so it runs on several worker
# processes (pytest-xdist), each with an emulator of its own; TEST_WORKERS=1 runs it in
# one. --dist loadgroup keeps the tests marked xdist_group("<name>") on one worker, one after
# the other. A plain `pytest` still runs everything in one process.
TEST_WORKERS ?= 4
XDIST := -p xdist -n $(TEST_WORKERS) --dist loadgroup

test: $(STAMP) $(CHECKOV_STAMP)
	$(BIN)/python -m pytest -m "not slow" $(XDIST)

# The slowest end-to-end tests (a fresh-venv install, the copy-engine stress run): CI runs
# them as a step of their own after `make test`.
test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

lint: $(STAMP)
	$(BIN)/ruff check controller tests bench
	$(BIN)/mypy controller
	$(BIN)/lint-imports

drill: $(STAMP)
	$(BIN)/studioctl drill --desired desired_state

bench: $(STAMP)
	$(BIN)/python bench/idle_pass.py
	$(BIN)/python bench/failover_drill.py
	$(BIN)/python bench/copy_engine.py
	$(BIN)/python bench/model_validation.py
	$(BIN)/python bench/snapshot.py
	$(BIN)/python bench/events.py

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(DATA)

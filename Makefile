# studio-operator: the two commands a fresh machine needs are `make run` and `make test`.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 5000
METRICS_PORT ?= 9100
DATA   ?= .local

.PHONY: help install run test lint bench drill clean

help:
	@echo "make run    start the local AWS emulator, prepare it, and run the operator on desired_state/"
	@echo "            (ports: make run PORT=5001 METRICS_PORT=9101; defaults 5000 and 9100)"
	@echo "make test   run the whole test suite (installs into .venv first)"
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

install: $(STAMP)

run: $(STAMP)
	$(BIN)/studioctl demo --port $(PORT) --metrics-port $(METRICS_PORT) --data-dir $(DATA) \
	    --desired desired_state

test: $(STAMP)
	$(BIN)/python -m pytest

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

clean:
	rm -rf $(VENV) $(DATA)

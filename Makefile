# Two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
RUN_DIR ?= data
PATIENTS ?= 1000
SEED ?= 2025

export MLFLOW_DISABLE_TELEMETRY := true
export BENTOML_DO_NOT_TRACK := true
export DO_NOT_TRACK := true

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

# The main job on the embedded defaults: simulate the virtual trial, build features, train and
# register the champion, then serve it on 127.0.0.1:3000.
run: install
	$(BIN)/abscopal simulate --patients $(PATIENTS) --seed $(SEED) --out $(RUN_DIR)/virtual_trial --force
	$(BIN)/abscopal features --cohort $(RUN_DIR)/virtual_trial --out $(RUN_DIR)/features.parquet
	$(BIN)/abscopal train --cohort $(RUN_DIR)/virtual_trial --feature-table $(RUN_DIR)/features.parquet --seed $(SEED)
	$(BIN)/abscopal serve --host 127.0.0.1 --port 3000

lint: install
	$(BIN)/ruff check .

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 --dist loadfile

bench: install
	$(BIN)/python benchmarks/simulate_bench.py

clean:
	rm -rf $(VENV) $(RUN_DIR) mlflow.db mlartifacts .pytest_cache .ruff_cache

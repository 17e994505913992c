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

.PHONY: install run test test-fast lint bench bento clean

# --compile-bytecode: where PYTHONDONTWRITEBYTECODE is set (as on the CI machines), Python
# would otherwise compile every imported module from source in every process (one
# `abscopal train` of the team-server test: 34 s without, 16 s with, 1 Dec 2026)
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

PUBLIC_ICI ?= ../shared/data/public_ici/nsclc_ici_cohorts.csv

# The main job on the embedded defaults: train the real-world ICI prognosis model when the real
# cohorts are present (skipped, saying so, when not), simulate the virtual trial, build features,
# train and register the benefit champion, then serve it on 127.0.0.1:3000.
run: install
	@if [ -f "$(PUBLIC_ICI)" ]; then \
		$(BIN)/abscopal train-prognosis --cohort $(PUBLIC_ICI) --seed $(SEED); \
	else \
		echo "no real ICI cohorts at $(PUBLIC_ICI): the ici-prognosis model is not trained"; \
	fi
	$(BIN)/abscopal simulate --patients $(PATIENTS) --seed $(SEED) --out $(RUN_DIR)/virtual_trial --force
	$(BIN)/abscopal features --cohort $(RUN_DIR)/virtual_trial --out $(RUN_DIR)/features.parquet
	$(BIN)/abscopal train --cohort $(RUN_DIR)/virtual_trial --feature-table $(RUN_DIR)/features.parquet --seed $(SEED)
	$(BIN)/abscopal serve --host 127.0.0.1 --port 3000

# The deployable Bento of the MLflow champion (bentofile.yaml; docs/serving.md, "Bento"):
# `bentoml serve abscopal:latest` serves it without the MLflow store.
bento: install
	$(BIN)/abscopal bento

lint: install
	$(BIN)/ruff check .
	$(BIN)/deptry .

test: install
	$(BIN)/ruff check .
	$(BIN)/deptry .
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=25

# While working: everything but the tests marked slow (live servers, builds, notebooks, the
# browser, long simulations); `make test` (CI) runs them all.
test-fast: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not slow" --durations=10

bench: install
	$(BIN)/python benchmarks/simulate_bench.py

clean:
	rm -rf $(VENV) $(RUN_DIR) mlflow.db mlartifacts .pytest_cache .ruff_cache

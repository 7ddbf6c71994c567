# The two set-up commands of the README: `make demo` and `make test`. Each bootstraps .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The Airflow the suite runs on; CI also runs the oldest one pyproject allows (see .ci/run).
AIRFLOW_VERSION ?= 3.3.2
STAMP := $(VENV)/.installed-airflow-$(AIRFLOW_VERSION)
PYTEST_ARGS ?=

.PHONY: install test lint types pytest docs clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]' 'apache-airflow==$(AIRFLOW_VERSION)'
	rm -f $(VENV)/.installed-airflow-*
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .

types: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make test: ruff, mypy and the whole pytest suite in .venv.
test: lint types pytest

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache

## make docs: the documentation site, warnings as errors (build/site).
docs: $(STAMP)
	$(BIN)/mkdocs build --strict --quiet

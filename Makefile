# The two set-up commands of the README: `make demo` and `make test`. Each bootstraps .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The Airflow the suite runs on; CI also runs the oldest one pyproject allows (see .ci/run).
AIRFLOW_VERSION ?= 3.3.2
STAMP := $(VENV)/.installed-airflow-$(AIRFLOW_VERSION)
PYTEST_ARGS ?=
# pytest runs on two workers (pytest-xdist): the tests that start a real Airflow (tests/e2e,
# tests/browser) form one group that one worker runs in turn, mostly waiting on Airflow, while the
# other worker takes the rest (tests/conftest.py). About halves the suite on 2 cores; CI's budget
# is 40 minutes for install, lint, both suites and the docs. PYTEST_WORKERS=0 runs serially.
PYTEST_WORKERS ?= 2
XDIST := -n $(PYTEST_WORKERS) --dist loadgroup
# On the oldest Airflow, leave out the tests marked one_airflow (their behaviour does not depend on
# the Airflow version, e.g. the docs site): CI runs them once, on AIRFLOW_VERSION.
OLDEST_MARKERS ?= not one_airflow
# The oldest Airflow line pyproject allows, in its own venv, with pins that Airflow 3.1 ran on.
# 3.1.8, not 3.1.0: 3.1.0's dag.test() fails ("the dag is not serialized"); see the constraints file.
OLDEST_AIRFLOW_VERSION ?= 3.1.8
OLDEST_CONSTRAINTS := constraints/airflow-3.1.txt
VENV_OLDEST ?= .venv-oldest
BIN_OLDEST := $(VENV_OLDEST)/bin
STAMP_OLDEST := $(VENV_OLDEST)/.installed-airflow-$(OLDEST_AIRFLOW_VERSION)

.PHONY: install install-oldest test test-oldest lint types pytest docs demo clean browser test-browser screenshots

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

pytest: $(STAMP) browser
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

## make browser: Debian's chromium and chromium-driver for tests/browser (apt-get; quick when present).
browser:
	bash scripts/install-browser.sh

## make test-browser: only the browser suite (Airflow's UI and the docs site in headless Chromium).
test-browser: $(STAMP) browser
	$(BIN)/python -m pytest tests/browser -m browser $(PYTEST_ARGS)

## make screenshots: rerun the browser suite, saving the PNGs the docs show into docs/img.
screenshots: $(STAMP) browser
	FEISHU_SCREENSHOTS=$(CURDIR)/docs/img $(BIN)/python -m pytest tests/browser -m browser $(PYTEST_ARGS)

## make test: ruff, mypy and the whole pytest suite in .venv.
test: lint types pytest

install-oldest: $(STAMP_OLDEST)

$(STAMP_OLDEST): pyproject.toml $(OLDEST_CONSTRAINTS)
	test -x $(BIN_OLDEST)/python || $(PYTHON) -m venv $(VENV_OLDEST)
	$(BIN_OLDEST)/python -m pip install -q --upgrade pip
	$(BIN_OLDEST)/python -m pip install -q -e '.[dev]' 'apache-airflow==$(OLDEST_AIRFLOW_VERSION)' -c $(OLDEST_CONSTRAINTS)
	rm -f $(VENV_OLDEST)/.installed-airflow-*
	touch $@

## make test-oldest: the pytest suite again, on the oldest Airflow pyproject allows, in .venv-oldest
## (ruff and mypy run once, in `make test`; so do the tests marked one_airflow).
test-oldest: $(STAMP_OLDEST) browser
	$(BIN_OLDEST)/python -m pytest $(XDIST) -m "$(OLDEST_MARKERS)" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(VENV_OLDEST) build dist *.egg-info .mypy_cache .ruff_cache

## make docs: the documentation site, warnings as errors (build/site).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

## make demo: the reminder workflow on the emulator with a throwaway SQLite Airflow (no credentials).
demo: $(STAMP)
	$(BIN)/python demo/run_demo.py

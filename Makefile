# The two set-up commands the README promises: `make run` and `make test`. Both work from nothing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench clean fmt js-toolchain

# Re-install only when the dependency list changes.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

# Guest toolchain for JavaScript test components (componentize-js), pinned by the lock file and
# installed into the repo (tests/toolchain/node_modules), never globally.
JS_TOOLCHAIN := tests/toolchain
JS_STAMP := $(JS_TOOLCHAIN)/node_modules/.installed

$(JS_STAMP): $(JS_TOOLCHAIN)/package.json $(JS_TOOLCHAIN)/package-lock.json
	cd $(JS_TOOLCHAIN) && npm ci --no-audit --no-fund --loglevel=error
	@touch $(JS_STAMP)

js-toolchain: $(JS_STAMP)

run: $(STAMP)
	$(BIN)/wassette --help

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) $(JS_STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python bench/secrets.py
	$(BIN)/python bench/runtime.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

fmt: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

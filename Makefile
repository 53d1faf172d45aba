# The two set-up commands the README promises: `make run` and `make test`. Both work from nothing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench clean fmt system-deps js-toolchain

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

# The main job: build and load the example component (it uses the API_KEY secret), allow it
# API_KEY, and serve MCP over streamable HTTP at 127.0.0.1:9001/mcp. See examples/run.sh.
run: $(STAMP)
	@examples/run.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# System packages the tests need: docker-registry (a real OCI registry, started by the tests on
# 127.0.0.1). Idempotent: does nothing when the binary is there; else installs it with apt
# (root, or sudo). We only need the binary, so the system service the package enables (all
# interfaces, port 5000) is switched off again where systemd runs.
system-deps:
	@if ! command -v docker-registry >/dev/null 2>&1 && [ ! -x /usr/bin/docker-registry ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; \
	  elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; \
	  else echo "docker-registry missing: run as root: apt-get install -y docker-registry" >&2; exit 1; fi; \
	  echo "installing docker-registry (apt) for the OCI registry tests"; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq docker-registry >/dev/null && \
	  if [ -d /run/systemd/system ]; then $$SUDO systemctl disable --now docker-registry || true; fi; \
	fi

unit: $(STAMP) $(JS_STAMP) system-deps
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python bench/secrets.py
	$(BIN)/python bench/runtime.py
	$(BIN)/python bench/mcp.py
	$(BIN)/python bench/cli_wall.py
	$(BIN)/python bench/streamable_http.py
	$(BIN)/python bench/soak.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

fmt: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

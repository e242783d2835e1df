# Two commands on a fresh machine: `make demo` (the main job) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv demo demo-reset test lint typecheck check clean lock chaos chaos-short check-js

$(BIN)/dualmm: requirements.lock requirements-dev.lock pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $(BIN)/dualmm

venv: $(BIN)/dualmm

# DEMO_ARGS: more flags for the demo, e.g. make demo DEMO_ARGS="--duration 600".
demo: $(BIN)/dualmm
	$(BIN)/dualmm demo $(DEMO_ARGS)

# The demo resumes the previous run's workflows (history in var/); this one starts clean.
demo-reset: $(BIN)/dualmm
	$(BIN)/dualmm demo --reset

test: $(BIN)/dualmm
	$(BIN)/pytest -q

# The chaos suite's short profiles, one worker and two (about 12 minutes; CI runs them after
# `make test`).
chaos-short: $(BIN)/dualmm
	$(BIN)/pytest -q -m chaos tests/chaos

# The full chaos run (15 minutes of kills, restarts and faults, then the audit).
chaos: $(BIN)/dualmm
	$(BIN)/python tests/chaos/chaos.py --minutes 15

# Polymarket's official TypeScript client against the default simulator (needs node and npm;
# the Python client's checks are in `make test`).
check-js: $(BIN)/dualmm
	tools/check_js_client.sh

lint: $(BIN)/dualmm
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/dualmm
	$(BIN)/mypy

check: lint typecheck test chaos-short

# Re-pin every dependency after editing pyproject.toml: requirements.lock is what the worker
# image installs (runtime only); requirements-dev.lock adds the dev tools at the same pins.
# No local index options in either, so they install the same on any machine.
LOCK_OPTS := -q --strip-extras --no-header --no-emit-index-url --no-emit-find-links
lock:
	$(BIN)/pip-compile $(LOCK_OPTS) -o requirements.lock pyproject.toml
	$(BIN)/pip-compile $(LOCK_OPTS) --extra dev -c requirements.lock \
		-o requirements-dev.lock pyproject.toml

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Two commands on a fresh machine: `make demo` (the main job) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv demo demo-reset test lint typecheck check clean lock chaos

$(BIN)/dualmm: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $(BIN)/dualmm

venv: $(BIN)/dualmm

demo: $(BIN)/dualmm
	$(BIN)/dualmm demo

# The demo resumes the previous run's workflows (history in var/); this one starts clean.
demo-reset: $(BIN)/dualmm
	$(BIN)/dualmm demo --reset

test: $(BIN)/dualmm
	$(BIN)/pytest -q

# The full chaos run (15 minutes of kills, restarts and faults, then the audit).
chaos: $(BIN)/dualmm
	$(BIN)/python tests/chaos/chaos.py --minutes 15

lint: $(BIN)/dualmm
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/dualmm
	$(BIN)/mypy

check: lint typecheck test

# Re-pin every dependency (runtime + dev) after editing pyproject.toml; no local index
# options in the lock, so it installs the same on any machine.
lock:
	$(BIN)/pip-compile -q --extra dev --strip-extras --no-header \
		--no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

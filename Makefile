# Every target bootstraps .venv from requirements.lock on a fresh clone.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
export UV_COMPILE_BYTECODE := 1
export UV_LINK_MODE := copy

.PHONY: venv lock test lint typecheck pytest demo sandbox bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(UV): $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9

$(VENV)/.installed: requirements.lock pyproject.toml | $(UV)
	$(UV) pip install --python $(BIN)/python --quiet -r requirements.lock
	$(UV) pip install --python $(BIN)/python --quiet --no-deps -e .
	touch $@

venv: $(VENV)/.installed

lock: $(UV)  ## Re-resolve requirements.lock from pyproject.toml
	$(UV) pip compile pyproject.toml --extra dev --python-version 3.11 --no-header -o requirements.lock

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

pytest: venv
	$(BIN)/pytest

test: lint typecheck pytest

demo: venv
	$(BIN)/python -m logisense_sync.demo

sandbox: venv
	$(BIN)/logisense-sync sandbox

bench: venv
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .sandbox .demo

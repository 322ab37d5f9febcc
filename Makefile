# Programme Ops — the two commands a newcomer needs: `make run` and `make test`.
# The interpreter .venv is built with: an optimised build of Python >= 3.11, the
# distribution's first (scripts/python.sh says why). Another interpreter rebuilds .venv.
PYTHON ?= $(shell scripts/python.sh)
PYTHON_PATH := $(shell "$(PYTHON)" -c 'import os, sys; print(os.path.realpath(sys.executable))')
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell echo "$(PYTHON_PATH)" | md5sum | cut -c1-8)
export FLASK_APP := wsgi

.PHONY: run test lint worker scheduler bench venv system-deps migrate seed clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@[ "$$(cat $(VENV)/.python 2>/dev/null)" = "$(PYTHON_PATH)" ] || rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	echo "$(PYTHON_PATH)" > $(VENV)/.python
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

venv: $(STAMP)

system-deps:
	@scripts/system-deps.sh

## run: set everything up and start web, worker and scheduler with demo data
run: system-deps venv
	@scripts/run.sh

## test: set everything up and run every test on SQLite and on PostgreSQL
test: system-deps venv
	@scripts/test.sh

lint: venv
	$(VENV)/bin/ruff check .

migrate: venv
	$(VENV)/bin/flask db upgrade

seed: venv
	$(VENV)/bin/flask demo seed

## worker / scheduler: production processes (REDIS_URL and DATABASE_URL from the environment)
worker: venv
	$(VENV)/bin/flask jobs worker

scheduler: venv
	$(VENV)/bin/flask jobs scheduler

## bench: the benchmarks in bench/, each printing its figure and a ratio against a reference
bench: system-deps venv
	@scripts/bench.sh

clean:
	rm -rf $(VENV) instance .pytest_cache

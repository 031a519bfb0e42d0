# LeNet-5 from scratch: every set-up step lives here, so that a fresh machine needs only `make`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8888
JOBS ?= $(shell nproc)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: help start lab setup env data system-deps test test-fast lint format fixtures release check-release grade demos lock clean student-kit grader-user
.PHONY: hub hub-deps

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

start: setup lab  ## set everything up and open the course in JupyterLab

lab: env  ## open the course in JupyterLab (127.0.0.1; the URL with its token is printed)
	@echo "Starting JupyterLab on 127.0.0.1:$(PORT) (Ctrl-C to stop); open the URL with the token below."
	$(VENV)/bin/jupyter lab --no-browser --ip=127.0.0.1 --port=$(PORT) $(ROOT_FLAG) \
		--ServerApp.root_dir="$(CURDIR)/course"

setup: env data  ## create .venv and fetch verified MNIST (idempotent)

env: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found. Install Python 3.11 or run 'make PYTHON=/path/to/python3.11'."; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e ".[dev]"
	touch $@

data: $(STAMP)  ## fetch and verify MNIST into the cache (fast when already cached)
	$(PY) -m lenet_kit.data fetch

system-deps:  ## install the Debian packages in system-packages.txt (browser, database, sandbox)
	./tools/system-deps.sh

test: setup system-deps  ## create the environment and run the whole test suite
	$(PY) -m pytest --durations=30 tests

test-fast: env  ## unit tests only (no notebook execution, no training)
	$(PY) -m pytest -m "not slow and not browser" tests

lint: env  ## ruff check and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: env  ## apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

fixtures: env  ## rebuild the reference data embedded in hidden tests (from lenet_ref)
	$(PY) -m autograder.fixtures

release: env  ## regenerate course/ from solutions/ with nbgrader
	$(PY) -m autograder.release

notebook-code: env  ## write the notebooks' code as .py files under build/notebook-code (for review and duplicate finders)
	$(PY) tools/notebook_code.py build/notebook-code

check-release: env  ## fail if course/ differs from what nbgrader generates
	$(PY) -m autograder.release --check

grade: env  ## grade every submission in parallel: feedback, grades.csv, report (ARGS="-a 01_mnist --zip dl.zip")
	$(PY) -m autograder $(ARGS)

demos: setup  ## serve the interactive demos as a standalone app (Voila) on 127.0.0.1
	$(PY) -m lenet_demos build
	@echo "Starting Voila on 127.0.0.1:$(PORT) (Ctrl-C to stop); open the URL printed below."
	$(VENV)/bin/voila course/demos/demos.ipynb --no-browser --port=$(PORT) \
		--Voila.ip=127.0.0.1

student-kit: env  ## build dist/lenet5-student-kit(.zip): released notebooks + lenet_kit, no solutions
	$(PY) -m autograder.kit

hub-deps: hub/node_modules/.package-lock.json  ## install JupyterHub's proxy (configurable-http-proxy, pinned) from npm

hub/node_modules/.package-lock.json: hub/package.json hub/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found: install Node.js with npm (Debian: apt-get install nodejs npm)"; exit 1; }
	cd hub && npm ci --no-audit --no-fund --loglevel=error
	touch $@

hub: setup system-deps hub-deps  ## start the course's JupyterHub on 127.0.0.1:8000, as root (accounts from hub/roster.csv; ARGS="--port 8010")
	$(PY) -m hub $(ARGS)

# The hub's browser journeys (tests/hub) need its proxy.
test: hub-deps

grader-user:  ## create the unprivileged user that sandboxed grading kernels run as (root only)
	id -u lenet-grader >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --user-group lenet-grader

lock: env  ## rewrite requirements.lock from the current environment
	{ sed -n '1,2p' requirements.lock; $(PY) -m pip freeze --exclude-editable | grep -v -iE '^(torch)=='; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:  ## remove the environment and caches (MNIST cache is kept)
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info

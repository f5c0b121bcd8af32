# twinhub: `make up` starts the gateway, `make test` runs every test. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# the platform's environment (hub, registry, dashboard router, run executor, Dask Gateway):
# the root package and its dependencies only, none of the twins' science stacks; found by the
# tests' gateway next to $(VENV) (extensions/runtimes.py platform_python)
PLATFORM_VENV := $(VENV)-platform
PLATFORM_INSTALLED := $(PLATFORM_VENV)/.installed
NODE_INSTALLED := node_modules/.installed
PYTEST_ARGS ?=

.PHONY: up install data system-packages test test-fast test-unit test-integration test-ui lint clean help

help:
	@echo "make up      install everything and start the gateway on http://127.0.0.1:8000"
	@echo "make test    run the whole test suite (unit, integration, browser)"
	@echo "make test-fast   the fast lane: unit and in-process API tests"
	@echo "make lint    ruff over the project"
	@echo "make bench   benchmarks against a bare JupyterHub (bench-results.json)"
	@echo "make slurm-up / slurm-down   a single-node Slurm cluster for the HPC target (root)"

system-packages:
	@scripts/ensure-system-packages.sh runtime

$(BIN)/python:
	@scripts/ensure-system-packages.sh runtime
	$(PYTHON) -m venv $(VENV)

# each shipped twin is a package of its own (twins/<name>/pyproject.toml, its science stack as
# its dependencies); the five share one twin runtime environment, this venv, with the tests,
# notebooks, users' servers, Dask clusters, twins' dashboards and jobs; the platform's services
# run from $(PLATFORM_VENV) (docs/twin-runtimes.md says why and what it costs)
TWIN_PACKAGES := $(sort $(dir $(wildcard twins/*/pyproject.toml)))

# reinstall when the dependencies change; the editable install makes every folder importable
$(INSTALLED): pyproject.toml $(addsuffix pyproject.toml,$(TWIN_PACKAGES)) | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable '.[test]' $(addprefix --editable ./,$(TWIN_PACKAGES))
	@touch $@

# uv (a dependency of twinhub) with pip's configured indexes (uv ignores pip.conf): about 10 s
# again whenever .venv is reinstalled: its versions are the platform's pins
$(PLATFORM_INSTALLED): pyproject.toml $(INSTALLED)
	$(BIN)/python -m twinhub.extensions.runtimes platform $(PLATFORM_VENV) .
	@touch $@

$(NODE_INSTALLED): package.json package-lock.json
	@scripts/ensure-system-packages.sh runtime
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

KERNELSPEC := $(VENV)/share/jupyter/kernels/twinhub/kernel.json

# the "twinhub (Python 3)" kernel (twin, catalog, cluster() ready in every notebook)
$(KERNELSPEC): $(INSTALLED) kernels/install.py
	$(BIN)/python -m twinhub.kernels install --sys-prefix

# the project's own bytecode, written here as root: users' servers, kernels and workers run as
# accounts that cannot write __pycache__ in this folder and would compile every module of ours
# at each start; the tests' threads need it too (CPython 3.11.7 crashes compiling in a thread
# next to pytest's assert rewriting, gh-106905); quick when nothing changed
PROJECT_SOURCES := catalogs contracts extensions hub kernels twins

install: system-packages $(INSTALLED) $(PLATFORM_INSTALLED) $(NODE_INSTALLED) $(KERNELSPEC)
	@$(BIN)/python -m compileall -q $(PROJECT_SOURCES) >/dev/null

# demo datasets (zarr) built from data shipped in PyPI packages, then each twin's front-page
# figure and skill scores rendered from them (twinhub.twins.showcase); skipped when up to date
data: install
	$(BIN)/python -m twinhub.catalogs.build
	$(BIN)/python -m twinhub.twins.showcase

# the launcher and its services from the platform's environment; what runs twin code from the
# twin runtime, this venv (TWINHUB_TWIN_PYTHON, unless set already)
up: install data
	TWINHUB_TWIN_PYTHON="$${TWINHUB_TWIN_PYTHON:-$(abspath $(BIN))/python}" \
		$(PLATFORM_VENV)/bin/python -m twinhub.hub.launch

test: install data
	@scripts/ensure-system-packages.sh test
	@# the bytecode is compiled by `install` (PROJECT_SOURCES): keep that, gh-106905
	@scripts/test-lanes.sh $(BIN)/python $(PYTEST_ARGS)

# the fast lane: unit tests and in-process API tests (no gateway, browser or Slurm started)
test-fast: install
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

test-unit: install
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

test-integration: install
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

test-ui: install
	@scripts/ensure-system-packages.sh test
	$(BIN)/python -m pytest tests/ui $(PYTEST_ARGS)

# benchmarks (not part of `make test`): the dashboards' latency tests in tests/bench/ (pytest),
# then twinhub against a bare JupyterHub (python -m tests.bench: prints the table and writes
# bench-results.json; BENCH_ARGS="registry --users 10" runs a part)
.PHONY: bench
BENCH_ARGS ?=
bench: install data
	@scripts/ensure-system-packages.sh test
	TWINHUB_BENCH=1 $(BIN)/python -m pytest tests/bench -s -q -p no:cacheprovider $(PYTEST_ARGS)
	$(BIN)/python -m tests.bench $(BENCH_ARGS)

# HPC target: a real single-node Slurm cluster under $$TWINHUB_STATE_DIR/slurm (see docs/hpc.md)
.PHONY: slurm-up slurm-down test-hpc
slurm-up:
	@scripts/slurm-up.sh up

slurm-down:
	@scripts/slurm-up.sh down

# with the multi-node test (namespaces as hosts, 5-7 min) and a published twin on Slurm (a
# real build, 1-2 min), which `make test` leaves out
test-hpc: install
	TWINHUB_TEST_MULTINODE=1 TWINHUB_TEST_HPC_PUBLISH=1 $(BIN)/python -m pytest tests/hpc $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) $(PLATFORM_VENV) node_modules

# BottleNeck monthly pipeline. `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PARAMS ?= params/default.yaml
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock

.PHONY: help install bytecode run test check lint format lab strip sample-data lock clean browser office bench wheels image containers mutants

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: $(BIN)/python pyproject.toml requirements.lock
	$(PIP_INSTALL) -e .
	@$(MAKE) -s bytecode
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(PIP_INSTALL) -e '.[dev]'
	@if [ -d .git ]; then $(BIN)/nbstripout --install; fi
	@touch $@

install: $(VENV)/.dev ## create .venv and install the pinned dependencies (with test tools)

# pip compiles what it installs, but not the package installed in place (-e): with
# PYTHONDONTWRITEBYTECODE set (as here, and in many images) every process would compile it again
bytecode: ## compile the package's bytecode (run by install, run and test: instant when up to date)
	@$(BIN)/python -m compileall -q bottleneck_pipeline

run: $(VENV)/.runtime bytecode ## run the pipeline on the sample data (PARAMS=params/real.yaml for the real export)
	$(BIN)/python run_pipeline.py --params $(PARAMS)

test: $(VENV)/.dev bytecode ## run the whole test suite: tests/ on two workers, then each notebook top to bottom (nbval)
	$(BIN)/python -m pytest -n 2 tests
	$(BIN)/python -m pytest notebooks

mutants: $(VENV)/.dev ## put each bug of tests/mutants.yml into a copy of the tree, run the tests that claim it: all caught?
	$(BIN)/python scripts/mutants.py

check: $(VENV)/.dev ## the edit loop, in seconds: lint, then the unit tests (tests/bottleneck_pipeline)
	@$(MAKE) -s lint
	$(BIN)/python -m pytest -q -n 2 tests/bottleneck_pipeline

lint: $(VENV)/.dev ## ruff (check and format --check) for Python and notebooks, sqlfluff for sql/, the layers (.importlinter)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint bottleneck_pipeline/sql
	$(BIN)/lint-imports --no-cache --no-logo

format: $(VENV)/.dev ## apply ruff's formatting and sqlfluff's fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	$(BIN)/sqlfluff fix bottleneck_pipeline/sql

browser: ## install Debian's chromium for the headless-browser test (root, apt); the test skips without it
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

office: ## install LibreOffice Calc and poppler for the workbook-as-PDF test (root, apt); the test skips without them
	@command -v soffice >/dev/null && command -v pdftotext >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libreoffice-calc-nogui poppler-utils fonts-dejavu-core)

# The container image Kestra runs (docs/kestra.md). The engine is docker when its daemon
# answers, else podman. The wheels are downloaded on the host (build/wheels/), for Linux on
# this machine's architecture, CPython 3.11 and glibc up to 2.36 (Debian 12), so the build
# installs with --no-index. BASE_IMAGE=... builds on another base (the tests: a Debian base).
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE ?= bottleneck-pipeline:$(VERSION)
ENGINE ?= $(shell if docker info >/dev/null 2>&1; then echo docker; elif command -v podman >/dev/null; then echo podman; fi)
REVISION = $(shell git rev-parse HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD -- 2>/dev/null || echo -dirty)
ARCH ?= $(shell uname -m)
WHEEL_PLATFORMS := $(foreach v,$(shell seq 17 36),--platform manylinux_2_$(v)_$(ARCH)) \
	$(foreach t,manylinux1 manylinux2010 manylinux2014,--platform $(t)_$(ARCH))

wheels: ## download the image's wheels into build/wheels/ (the runtime dependencies, pinned by the lock)
	rm -rf build
	$(PYTHON) -m pip wheel --quiet --disable-pip-version-check --no-deps -w build/wheels .
	$(PYTHON) -m pip download --quiet --disable-pip-version-check -c requirements.lock --only-binary=:all: \
		$(WHEEL_PLATFORMS) --python-version 3.11 --implementation cp --abi cp311 \
		--find-links build/wheels -d build/wheels bottleneck-pipeline==$(VERSION)

image: wheels ## build the container image bottleneck-pipeline:<version> (docker or podman; BASE_IMAGE=... to change the base)
	@test -n "$(ENGINE)" || { echo "error: make image needs docker (with its daemon) or podman" >&2; exit 1; }
	$(ENGINE) build --network none --tag $(IMAGE) --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) \
		$(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE)) .
	@$(ENGINE) image inspect $(IMAGE) --format '$(IMAGE): {{.Size}} bytes'

containers: ## install podman, runc and debootstrap for the container tests (root, apt); they skip without them
	@command -v podman >/dev/null && command -v runc >/dev/null && command -v debootstrap >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap)

bench: $(VENV)/.dev bytecode ## benchmark (about 20 min): real data vs a naive papermill loop (and BASELINE=<checkout>); 10^4..10^7 products; the targets
	$(BIN)/python bench/run_bench.py --sizes 1e4,1e5,1e6,1e7 $(if $(BASELINE),--baseline $(BASELINE))

# JupyterLab refuses to start as root (a container) without --allow-root: given then; LAB_ARGS to change
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)

lab: $(VENV)/.dev ## open JupyterLab on notebooks/ with the project's kernel (LAB_ARGS: its options; as root: --allow-root)
	@$(BIN)/python -c 'import jupyterlab' 2>/dev/null || $(PIP_INSTALL) -e '.[lab]'
	$(BIN)/jupyter lab notebooks/ $(LAB_ARGS)

strip: $(VENV)/.dev ## remove outputs from the notebooks before committing
	$(BIN)/nbstripout notebooks/*.ipynb

sample-data: $(VENV)/.runtime ## regenerate data/sample/ (seeded, deterministic)
	$(BIN)/python scripts/make_sample_data.py

lock: ## re-pin every transitive dependency into requirements.lock
	rm -rf /tmp/bottleneck-lock && $(PYTHON) -m venv /tmp/bottleneck-lock
	# soupsieve 3.x needs Python 3.11.5; Debian 12's python3 (the image's test base) is 3.11.2
	/tmp/bottleneck-lock/bin/pip install --quiet -e '.[dev,lab]' 'soupsieve<3'
	/tmp/bottleneck-lock/bin/pip freeze --exclude-editable | grep -v '^-e' > requirements.lock

clean: ## remove .venv and every run under outputs/ (and their history page)
	rm -rf $(VENV) outputs/*/ outputs/historique.html .pytest_cache

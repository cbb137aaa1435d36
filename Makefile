# The two commands a newcomer needs are `make demo` and `make test`; both install what is missing first.
SHELL := /bin/bash
# Everything Python runs in the project's own virtual environment, made by `make deps` from
# requirements/dev.lock: the machine's interpreter and its packages are never touched.
VENV ?= $(CURDIR)/.venv
PYTHON ?= $(VENV)/bin/python
export VENV
CACHE ?= $(or $(CLOUDRON_CACHE),$(HOME)/.cache/cloudron-operator)
BIN := $(CACHE)/bin
export PATH := $(VENV)/bin:$(BIN):$(PATH)

.PHONY: help deps binaries demo corpus catalogs down kubeconfig test test-unit test-tools test-integration lint crds helm-lint bench bench-smoke bench-backup chaos fuzz lock sbom audit

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

deps:  ## install Debian packages, .venv from the hashed lock, the control-plane binaries, the npm reference validator
	@bash hack/install-deps.sh

binaries:  ## build (or reuse) kube-apiserver, controller-manager, scheduler, kubectl, etcd, kwok
	@bash hack/build-binaries.sh

demo: deps  ## local cluster + database servers + the operator, then the example apps
	@$(PYTHON) -m tests.harness demo

corpus: demo  ## every corpus manifest as an app in the demo: per addon, how many become Ready, and why not
	@$(PYTHON) -m tests.harness corpus

catalogs: demo  ## every corpus catalog's apps installed by id in the demo: version, addons, Ready or why not
	@$(PYTHON) -m tests.harness catalogs

down:  ## stop the demo's cluster, database servers and operator
	@$(PYTHON) -m tests.harness down demo

kubeconfig:  ## print the demo cluster's kubeconfig path
	@$(PYTHON) -m tests.harness kubeconfig demo

test: deps lint  ## every test: lint, types, unit and integration (real cluster, real databases)
	@$(PYTHON) -m pytest tests

test-unit:  ## only the fast tests that need nothing but Python
	@$(PYTHON) -m pytest -m unit tests

test-tools: deps  ## only the tests that run helm, the Go checkers or the npm reference validator
	@$(PYTHON) -m pytest -m tools tests

test-integration: deps  ## only the tests against the local cluster and database servers
	@$(PYTHON) -m pytest -m integration tests

lint:  ## ruff and mypy --strict
	@$(PYTHON) -m ruff check operator tests bench
	@$(PYTHON) -m ruff format --check operator tests bench
	@$(PYTHON) -m mypy

bench: deps  ## how fast and cheaply N = 50, 200, 1000 apps converge; appends to bench/results/ (~25 min)
	@$(PYTHON) -m bench.converge

bench-smoke: deps  ## the benchmark with 5 apps and a short idle window: it must still converge (CI)
	@$(PYTHON) -m bench.converge --apps 5 --idle-seconds 10 --no-wait-for-resyncs --timeout 240 --no-save --env bench-smoke

bench-backup: deps  ## the backup program against tar + boto3: 2 GiB there and back, MiB/s and peak RSS; appends to bench/results/ (~2 min, 7 GiB in /tmp)
	@$(PYTHON) -m bench.backup

chaos: deps  ## 50 apps changed for 10 min while the operator, API server, etcd and databases fail: nothing lost? (~15 min)
	@$(PYTHON) -m bench.chaos

fuzz: deps  ## 5000 generated apps, Addons and users (valid, near-valid, hostile) against the cluster, operator and databases; prints the figures (~22 min)
	@$(PYTHON) -m bench.fuzz --objects 5000

helm-lint:  ## lint the Helm chart and render it with default and namespaced values
	@$(BIN)/helm lint --strict helm/cloudron-operator
	@$(PYTHON) -m pytest -q tests/tools/test_chart_render.py

lock:  ## re-resolve requirements/*.lock with their hashes (UPGRADE=1: every package to its newest allowed)
	@bash hack/supply-chain.sh lock

sbom:  ## regenerate sbom/cloudron-operator.cdx.json, the operator image's Python packages (CycloneDX)
	@bash hack/supply-chain.sh sbom

audit:  ## pip-audit the operator and dev locks: fails on a known vulnerability or a package it cannot look up
	@bash hack/supply-chain.sh audit

crds:  ## regenerate crds/ and the chart's copy from the models
	@$(PYTHON) -m cloudron_operator.crdgen

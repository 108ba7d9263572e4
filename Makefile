SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
# Crawls in tests and in `make dev` fetch local sites, so loopback is allowed here only.
export CRAWLFLEET_ALLOWED_NETWORKS ?= 127.0.0.0/8

.PHONY: dev dev-k8s test lint bench crds install redis load-generator control-plane clean

install:
	@hack/bootstrap.sh

redis:
	@hack/ensure-command.sh redis-server redis-server

# The benchmarks' HTTP load generator.
load-generator:
	@hack/ensure-command.sh hey hey

# Builds kube-apiserver, etcd, kubectl and helm once into ~/.cache/crawlfleet,
# unless KUBEBUILDER_ASSETS names a directory that has them already.
control-plane:
	@[ -n "$$KUBEBUILDER_ASSETS" ] || hack/build-control-plane.sh >/dev/null

dev: install redis
	@hack/dev.sh

dev-k8s: install redis control-plane
	@hack/dev-k8s.sh

# Regenerate the CRDs from the pydantic models and copy them into the chart.
crds: install
	$(BIN)/python -m crawlfleet_core.resources.crds
	hack/sync-chart-crds.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: install redis control-plane lint
	KUBEBUILDER_ASSETS=$${KUBEBUILDER_ASSETS:-$$(hack/build-control-plane.sh)} $(BIN)/pytest

bench: install redis load-generator control-plane
	KUBEBUILDER_ASSETS=$${KUBEBUILDER_ASSETS:-$$(hack/build-control-plane.sh)} PYTHONPATH=. $(BIN)/python -m bench

clean:
	rm -rf .run .pytest_cache .mypy_cache .ruff_cache

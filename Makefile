SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
# Crawls in tests and in `make dev` fetch local sites, so loopback is allowed here only.
export CRAWLFLEET_ALLOWED_NETWORKS ?= 127.0.0.0/8

.PHONY: dev dev-k8s test lint unit bench install redis control-plane clean

install:
	@hack/bootstrap.sh

redis:
	@hack/ensure-redis.sh

control-plane:
	@hack/build-control-plane.sh >/dev/null

dev: install redis
	@hack/dev.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: install redis control-plane lint
	KUBEBUILDER_ASSETS=$${KUBEBUILDER_ASSETS:-$$(hack/build-control-plane.sh)} $(BIN)/pytest

bench: install redis
	$(BIN)/python -m bench

clean:
	rm -rf .run .pytest_cache .mypy_cache .ruff_cache

SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
# Crawls in tests and in `make dev` fetch local sites, so loopback is allowed here only.
export CRAWLFLEET_ALLOWED_NETWORKS ?= 127.0.0.0/8

.PHONY: dev dev-k8s test lint bench crds install redis load-generator browser s3-server control-plane node clean

install:
	@hack/bootstrap.sh

redis:
	@hack/ensure-packages.sh redis-server:redis-server redis-sentinel:redis-sentinel

# The benchmarks' HTTP load generator.
load-generator:
	@hack/ensure-packages.sh hey:hey

# Debian's Chromium and its driver, for the tests that drive the dashboard in a real browser.
browser:
	@hack/ensure-packages.sh chromium:chromium chromedriver:chromium-driver

# s3proxy from Maven Central into ~/.cache/crawlfleet, the S3 server of the feed-export tests.
s3-server:
	@hack/ensure-packages.sh java:default-jdk-headless mvn:maven
	@hack/build-s3proxy.sh >/dev/null

# Builds kube-apiserver, etcd, kubectl and helm once into ~/.cache/crawlfleet,
# unless KUBEBUILDER_ASSETS names a directory that has them already.
control-plane:
	@[ -n "$$KUBEBUILDER_ASSETS" ] || hack/build-control-plane.sh >/dev/null

# The test node: Debian's containerd, runc and CNI plugins, kubelet, kube-proxy,
# kube-scheduler, CoreDNS and kube-router built from Go modules, and the images
# (the project's Dockerfile among them) built with buildah; cached in
# ~/.cache/crawlfleet like the control plane, the app image rebuilt when its sources change.
node:
	@hack/ensure-node-packages.sh
	@hack/build-node.sh >/dev/null
	@hack/build-images.sh >/dev/null

dev: install redis
	@hack/dev.sh

dev-k8s: install control-plane node
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

test: install redis browser s3-server control-plane node lint
	KUBEBUILDER_ASSETS=$${KUBEBUILDER_ASSETS:-$$(hack/build-control-plane.sh)} $(BIN)/pytest

bench: install redis load-generator control-plane node
	KUBEBUILDER_ASSETS=$${KUBEBUILDER_ASSETS:-$$(hack/build-control-plane.sh)} PYTHONPATH=. $(BIN)/python -m bench

clean:
	rm -rf .run .pytest_cache .mypy_cache .ruff_cache

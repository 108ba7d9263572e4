#!/usr/bin/env bash
# `make dev-k8s`: the test suite's one-node Kubernetes cluster (tests/harness/node.py:
# control plane, kubelet, containerd, CoreDNS, a test website in the node's network)
# with the chart installed from the images built from this work tree, in the
# foreground. Ctrl-C stops the cluster and removes everything it made. Writes
# .run/kubeconfig; the README shows how to watch the worker pods scale.
set -euo pipefail
cd "$(dirname "$0")/.."
KUBEBUILDER_ASSETS=${KUBEBUILDER_ASSETS:-$(hack/build-control-plane.sh)}
export KUBEBUILDER_ASSETS
mkdir -p .run
cat <<MSG

  A one-node cluster is starting, then crawlfleet is installed on it with helm.
  In another terminal:
    export KUBECONFIG=$PWD/.run/kubeconfig PATH=$KUBEBUILDER_ASSETS:\$PATH
    kubectl -n crawlfleet get pods -w

MSG
exec env PYTHONPATH=. .venv/bin/python -m tests.harness.node \
  --kubeconfig .run/kubeconfig --data-dir .run/node --install crawlfleet

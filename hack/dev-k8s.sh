#!/usr/bin/env bash
# `make dev-k8s`: everything `make dev` runs (hack/dev.sh and its Procfile), plus a
# local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager)
# with the CRDs applied, and the operator. Writes .run/kubeconfig:
#
#   export KUBECONFIG=$PWD/.run/kubeconfig
#   kubectl apply -f manifests/examples/scrapejob.yaml
#   kubectl get sj -w
#
# The control plane is the test suite's (tests/harness/control_plane.py), so there
# is one way to start it; its state lives in .run/k8s and starts afresh each time.
# The operator runs under honcho next to the API and the workers, with the same
# environment, so it submits to the same Redis.
#
# `hack/dev-k8s.sh operator` is the operator's Procfile entry: it waits for the
# API server, applies the CRDs and runs the operator.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBECONFIG_PATH=$PWD/.run/kubeconfig

if [[ ${1:-} == operator ]]; then
  export KUBECONFIG=$KUBECONFIG_PATH PATH=$KUBEBUILDER_ASSETS:$PATH
  until [[ -s $KUBECONFIG ]] && kubectl get --raw /readyz >/dev/null 2>&1; do sleep 0.2; done
  kubectl apply --server-side -f manifests/crds/
  kubectl wait --for=condition=Established crd --all --timeout=60s
  echo "ready: export KUBECONFIG=$KUBECONFIG; kubectl apply -f manifests/examples/scrapejob.yaml; kubectl get sj -w"
  # The health port stays clear of the API's and Flower's.
  export CRAWLFLEET_OPERATOR_HEALTH_PORT=${CRAWLFLEET_OPERATOR_HEALTH_PORT:-8081}
  exec .venv/bin/python -m crawlfleet_operator
fi

KUBEBUILDER_ASSETS=${KUBEBUILDER_ASSETS:-$(hack/build-control-plane.sh)}
export KUBEBUILDER_ASSETS
mkdir -p .run
rm -f "$KUBECONFIG_PATH"
{
  cat hack/Procfile.dev
  echo "k8s: PYTHONPATH=. .venv/bin/python -m tests.harness.control_plane --kubeconfig $KUBECONFIG_PATH --data-dir .run/k8s"
  echo "operator: hack/dev-k8s.sh operator"
} > .run/Procfile.k8s
CRAWLFLEET_DEV_PROCFILE=.run/Procfile.k8s exec hack/dev.sh

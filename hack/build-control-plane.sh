#!/usr/bin/env bash
# Builds the test control plane (kube-apiserver, kube-controller-manager, kubectl,
# etcd) and helm from upstream Go modules, verified by the Go checksum database,
# into the envtest layout under $CRAWLFLEET_CACHE (default ~/.cache/crawlfleet).
#
# How: hack/lib/go-builds.sh.
#
# Prints the asset directory on stdout; progress goes to stderr.
set -euo pipefail

ETCD_VERSION=${CRAWLFLEET_ETCD_VERSION:-3.6.16}
HELM_VERSION=${CRAWLFLEET_HELM_VERSION:-4.3.1}
# shellcheck source=hack/lib/go-builds.sh
source "$(dirname "$0")/lib/go-builds.sh"
ASSETS="$CACHE/k8s/$K8S_VERSION"
BIN="$CACHE/bin"

log() { printf '[control-plane] %s\n' "$*" >&2; }

command -v go >/dev/null || { log "Go 1.24+ is required to build the control plane (https://go.dev/dl), or set KUBEBUILDER_ASSETS"; exit 1; }
mkdir -p "$ASSETS" "$BIN"

build_kubernetes "$ASSETS" kube-apiserver kube-controller-manager kubectl
build_go_tool etcd go.etcd.io/etcd/server/v3 "v$ETCD_VERSION" "$ASSETS/etcd"
build_go_tool helm helm.sh/helm/v4/cmd/helm "v$HELM_VERSION" "$BIN/helm-$HELM_VERSION" \
  "-X helm.sh/helm/v4/internal/version.version=v$HELM_VERSION"
ln -sf "$BIN/helm-$HELM_VERSION" "$BIN/helm"
ln -sf "$BIN/helm" "$ASSETS/helm"
echo "$ASSETS"

#!/usr/bin/env bash
# Builds the parts of the test cluster's node that come from Go modules (and the
# pause program), into $CRAWLFLEET_CACHE/node/<kubernetes version>:
#   kubelet, kube-scheduler, kube-proxy  the same k8s.io/kubernetes release as the control plane
#   crictl                               CRI client, to stop the node's pods on teardown
#   coredns                              the cluster DNS, with hack/node/coredns/main.go's plugins
#   kube-router                          its NetworkPolicy controller only (iptables + ipset)
#   pause                                the pod sandbox's process, from the kubernetes module's pause.c
# Everything else on the node comes from Debian (hack/ensure-node-packages.sh).
#
# Prints the directory on stdout; progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

CRICTL_VERSION=${CRAWLFLEET_CRICTL_VERSION:-1.34.0}
COREDNS_VERSION=${CRAWLFLEET_COREDNS_VERSION:-1.15.0}
KUBE_ROUTER_VERSION=${CRAWLFLEET_KUBE_ROUTER_VERSION:-2.1.0}
# shellcheck source=hack/lib/go-builds.sh
source hack/lib/go-builds.sh
NODE="$CACHE/node/$K8S_VERSION"

log() { printf '[node] %s\n' "$*" >&2; }

command -v go >/dev/null || { log "Go 1.24+ is required to build the node (https://go.dev/dl)"; exit 1; }
mkdir -p "$NODE"

build_kubernetes "$NODE" kubelet kube-scheduler kube-proxy
build_go_tool crictl sigs.k8s.io/cri-tools/cmd/crictl "v$CRICTL_VERSION" "$NODE/crictl" \
  "-X sigs.k8s.io/cri-tools/pkg/version.Version=v$CRICTL_VERSION"
build_go_tool kube-router github.com/cloudnativelabs/kube-router/v2/cmd/kube-router "v$KUBE_ROUTER_VERSION" \
  "$NODE/kube-router" "-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=v$KUBE_ROUTER_VERSION"

if [[ ! -x "$NODE/coredns-$COREDNS_VERSION" ]]; then
  log "building coredns $COREDNS_VERSION"
  work=$(mktemp -d)
  cp hack/node/coredns/main.go "$work/"
  (
    cd "$work"
    go mod init crawlfleet.local/coredns >/dev/null 2>&1
    go get "github.com/coredns/coredns@v$COREDNS_VERSION" >&2
    # -mod=mod takes the plugins' dependencies from CoreDNS's go.mod (tidy would also fetch their tests').
    go_build -mod=mod -ldflags "-s -w" -o "$NODE/coredns.tmp" . >&2
  )
  rm -rf "$work"
  mv "$NODE/coredns.tmp" "$NODE/coredns-$COREDNS_VERSION"
fi
ln -sf "coredns-$COREDNS_VERSION" "$NODE/coredns"

if [[ ! -x "$NODE/pause" ]]; then
  log "building pause v$K8S_VERSION"
  source_dir=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  nice -n 10 gcc -Os -Wall -Werror -static "-DVERSION=v$K8S_VERSION" -o "$NODE/pause.tmp" "$source_dir/build/pause/linux/pause.c"
  mv "$NODE/pause.tmp" "$NODE/pause"
fi
echo "$NODE"

#!/usr/bin/env bash
# Builds the test control plane (kube-apiserver, kube-controller-manager, kubectl,
# etcd) and helm from upstream Go modules, verified by the Go checksum database,
# into the envtest layout under $CRAWLFLEET_CACHE (default ~/.cache/crawlfleet).
#
# k8s.io/kubernetes cannot be built with a plain `go install`: it requires its
# staging modules (k8s.io/api, k8s.io/apimachinery, ...) at v0.0.0 and points them
# at ./staging with replace directives that only work inside its own repository.
# A throwaway wrapper module pins each staging module to the matching v0.X.Y
# release instead; the list is read from the kubernetes go.mod itself so it never
# drifts from the release being built.
#
# Prints the asset directory on stdout; progress goes to stderr.
set -euo pipefail

K8S_VERSION=${CRAWLFLEET_K8S_VERSION:-1.35.4}
ETCD_VERSION=${CRAWLFLEET_ETCD_VERSION:-3.6.16}
HELM_VERSION=${CRAWLFLEET_HELM_VERSION:-4.3.1}
CACHE=${CRAWLFLEET_CACHE:-$HOME/.cache/crawlfleet}
ASSETS="$CACHE/k8s/$K8S_VERSION"
BIN="$CACHE/bin"
STAGING_VERSION="v0.${K8S_VERSION#1.}"

log() { printf '[control-plane] %s\n' "$*" >&2; }

[[ -d /usr/local/go/bin ]] && PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { log "Go 1.24+ is required to build the control plane (https://go.dev/dl), or set KUBEBUILDER_ASSETS"; exit 1; }
mkdir -p "$ASSETS" "$BIN"

build_kubernetes() {
  local work gomod ldflags
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  cd "$work"
  go mod init crawlfleet.local/controlplane >/dev/null 2>&1
  gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  grep -oE '^\s*k8s\.io/[A-Za-z0-9._-]+ => \./staging/' "$gomod" | awk '{print $1}' | sort -u | while read -r mod; do
    go mod edit -replace="$mod=$mod@$STAGING_VERSION"
  done
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$(cut -d. -f2 <<<"$K8S_VERSION") -X $pkg.gitTreeState=clean"
  done
  local cmds=(kube-apiserver kube-controller-manager kubectl)
  for cmd in "${cmds[@]}"; do
    [[ -x "$ASSETS/$cmd" ]] && continue
    log "building $cmd v$K8S_VERSION (first time only; several minutes on 2 cores)"
    go get "k8s.io/kubernetes/cmd/$cmd@v$K8S_VERSION" >&2
    CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$ASSETS/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd" >&2
    mv "$ASSETS/$cmd.tmp" "$ASSETS/$cmd"
  done
}

build_go_tool() {  # name main-package version destination [extra ldflags]
  # Built inside a wrapper module too: etcd's server module carries replace
  # directives, which `go install pkg@version` refuses.
  local name=$1 pkg=$2 version=$3 dest=$4 ldflags="-s -w ${5:-}" work
  [[ -x "$dest" ]] && return
  log "building $name $version"
  work=$(mktemp -d)
  (
    cd "$work"
    go mod init "crawlfleet.local/$name" >/dev/null 2>&1
    go get "$pkg@$version" >&2
    CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$dest.tmp" "$pkg" >&2
  )
  rm -rf "$work"
  mv "$dest.tmp" "$dest"
}

if [[ ! -x "$ASSETS/kube-apiserver" || ! -x "$ASSETS/kube-controller-manager" || ! -x "$ASSETS/kubectl" ]]; then
  (build_kubernetes)
fi
build_go_tool etcd go.etcd.io/etcd/server/v3 "v$ETCD_VERSION" "$ASSETS/etcd"
build_go_tool helm helm.sh/helm/v4/cmd/helm "v$HELM_VERSION" "$BIN/helm-$HELM_VERSION" \
  "-X helm.sh/helm/v4/internal/version.version=v$HELM_VERSION"
ln -sf "$BIN/helm-$HELM_VERSION" "$BIN/helm"
ln -sf "$BIN/helm" "$ASSETS/helm"
echo "$ASSETS"

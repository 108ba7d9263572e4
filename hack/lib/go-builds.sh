# Go builds shared by hack/build-control-plane.sh and hack/build-node.sh: sourced,
# not run. Every build is verified by the Go checksum database and runs at low
# priority, so a first build does not starve whatever else shares the machine.
#
# k8s.io/kubernetes cannot be built with a plain `go install`: it requires its
# staging modules (k8s.io/api, k8s.io/apimachinery, ...) at v0.0.0 and points them
# at ./staging with replace directives that only work inside its own repository.
# A throwaway wrapper module pins each staging module to the matching v0.X.Y
# release instead; the list is read from the kubernetes go.mod itself so it never
# drifts from the release being built.

K8S_VERSION=${CRAWLFLEET_K8S_VERSION:-1.35.4}
CACHE=${CRAWLFLEET_CACHE:-$HOME/.cache/crawlfleet}

[[ -d /usr/local/go/bin ]] && PATH="$PATH:/usr/local/go/bin"

go_build() {  # go build at low priority, static, reproducible
  CGO_ENABLED=0 nice -n 10 go build -trimpath "$@"
}

build_kubernetes() {  # destination-directory command...
  # Builds each k8s.io/kubernetes/cmd/<command> missing from the destination.
  local dest=$1 work gomod ldflags cmd staging_version="v0.${K8S_VERSION#1.}"
  shift
  local missing=()
  for cmd in "$@"; do [[ -x "$dest/$cmd" ]] || missing+=("$cmd"); done
  [[ ${#missing[@]} -eq 0 ]] && return
  mkdir -p "$dest"
  work=$(mktemp -d)
  (
    cd "$work"
    go mod init crawlfleet.local/kubernetes >/dev/null 2>&1
    gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
    grep -oE '^\s*k8s\.io/[A-Za-z0-9._-]+ => \./staging/' "$gomod" | awk '{print $1}' | sort -u | while read -r mod; do
      go mod edit -replace="$mod=$mod@$staging_version"
    done
    ldflags="-s -w"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldflags+=" -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$(cut -d. -f2 <<<"$K8S_VERSION") -X $pkg.gitTreeState=clean"
    done
    for cmd in "${missing[@]}"; do
      log "building $cmd v$K8S_VERSION (first time only; minutes on 2 cores)"
      go get "k8s.io/kubernetes/cmd/$cmd@v$K8S_VERSION" >&2
      go_build -ldflags "$ldflags" -o "$dest/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd" >&2
      mv "$dest/$cmd.tmp" "$dest/$cmd"
    done
  )
  rm -rf "$work"
}

build_go_tool() {  # name main-package version destination [extra ldflags]
  # Built inside a wrapper module too: some modules (etcd's server) carry replace
  # directives, which `go install pkg@version` refuses.
  local name=$1 pkg=$2 version=$3 dest=$4 ldflags="-s -w ${5:-}" work
  [[ -x "$dest" ]] && return
  log "building $name $version"
  mkdir -p "$(dirname "$dest")"
  work=$(mktemp -d)
  (
    cd "$work"
    go mod init "crawlfleet.local/$name" >/dev/null 2>&1
    go get "$pkg@$version" >&2
    go_build -ldflags "$ldflags" -o "$dest.tmp" "$pkg" >&2
  )
  rm -rf "$work"
  mv "$dest.tmp" "$dest"
}

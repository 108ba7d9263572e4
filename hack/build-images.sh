#!/usr/bin/env bash
# Builds the images the test cluster's node runs, with buildah, from nothing a
# registry serves as an image (none can be pulled here), into docker archives under
# $CRAWLFLEET_CACHE/images that the harness imports into the node's containerd:
#   base     Debian bookworm from debootstrap --variant=minbase, with python3, venv and pip
#   app      the project's own Dockerfile, built FROM the base (build arg PYTHON_IMAGE);
#            tagged with a digest of its build context, so a changed source is rebuilt
#   redis    the base with Debian's redis-server, for the chart's bundled Redis
#   pause    the pod sandbox (CRI sandbox_image), and coredns, the cluster DNS: each a
#            static binary of hack/build-node.sh in an empty image
#
# Prints one line per image the node needs: "<role> <reference> <archive>".
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=hack/lib/go-builds.sh
source hack/lib/go-builds.sh
COREDNS_VERSION=${CRAWLFLEET_COREDNS_VERSION:-1.15.0}
IMAGES="$CACHE/images"
STORAGE=(--root "$CACHE/containers/storage" --runroot "$CACHE/containers/run" --storage-driver overlay)
# RUN steps run chrooted in the host's network: no cgroups or network namespace to set up for a build.
BUILD=(bud --isolation chroot --layers --network host)

log() { printf '[images] %s\n' "$*" >&2; }
for tool in buildah debootstrap; do
  command -v "$tool" >/dev/null || { log "$tool is missing: run hack/ensure-node-packages.sh"; exit 1; }
done
BUILDAH=$(command -v buildah)
buildah() { nice -n 10 "$BUILDAH" "${STORAGE[@]}" "$@"; }
NODE=$(hack/build-node.sh)
mkdir -p "$IMAGES"

save() {  # reference archive: write the image as a docker archive, atomically
  buildah push --quiet "$1" "docker-archive:$2.tmp:$1" >&2
  mv "$2.tmp" "$2"
}

debian_mirror() {
  # The Debian mirror this machine's apt uses, so that the base comes from where
  # packages come from here; empty lets debootstrap choose its default.
  {
    grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
    grep -hsE '^deb ' /etc/apt/sources.list | awk '{print $2}'
  } | grep -v security | head -1 || true
}

BASE_PACKAGES=python3,python3-venv,python3-pip,python-is-python3,ca-certificates
# The certificate authorities this machine's admin added (a TLS-inspecting proxy's, say):
# the builds inside the base reach the package registries through the same network.
LOCAL_CAS=(/usr/local/share/ca-certificates/*.crt)
[[ -e ${LOCAL_CAS[0]} ]] || LOCAL_CAS=()
BASE_KEY=$( (echo "bookworm minbase $BASE_PACKAGES"; cat "${LOCAL_CAS[@]}") | sha256sum | cut -c1-12)
BASE_REF="localhost/crawlfleet-base:bookworm-$BASE_KEY"
BASE_ARCHIVE="$IMAGES/base-$BASE_KEY.tar"
if [[ ! -s $BASE_ARCHIVE ]]; then
  log "building the base image: debootstrap bookworm (minbase) with $BASE_PACKAGES"
  rootfs=$(mktemp -d)
  # shellcheck disable=SC2046
  nice -n 10 debootstrap --variant=minbase --include="$BASE_PACKAGES" bookworm "$rootfs" $(debian_mirror) >&2
  if [[ ${#LOCAL_CAS[@]} -gt 0 ]]; then
    cp "${LOCAL_CAS[@]}" "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >&2
  fi
  # As in Debian's own container images: packages installed in a build start no service.
  printf '#!/bin/sh\nexit 101\n' > "$rootfs/usr/sbin/policy-rc.d"
  chmod 755 "$rootfs/usr/sbin/policy-rc.d"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/dev/* "$rootfs"/tmp/*
  tar -C "$rootfs" --numeric-owner -cf "$rootfs.tar" .
  rm -rf "$rootfs"
  container=$(buildah from scratch)
  buildah add --quiet "$container" "$rootfs.tar" / >&2
  rm -f "$rootfs.tar"
  buildah config --env LANG=C.UTF-8 --cmd python3 "$container"
  buildah commit --quiet --rm "$container" "$BASE_REF" >&2
  save "$BASE_REF" "$BASE_ARCHIVE"
fi
buildah images --quiet "$BASE_REF" >/dev/null 2>&1 || buildah pull --quiet "docker-archive:$BASE_ARCHIVE" >&2

context_digest() {
  # What `docker build .` would send (the .dockerignore allowlist), the Dockerfile and the base.
  {
    echo "$BASE_REF"
    find Dockerfile .dockerignore pyproject.toml README.md core api operator workers -type f \
      ! -path '*/__pycache__/*' ! -name '*.py[cod]' ! -path '*.egg-info/*' -print0 | sort -z | xargs -0 sha256sum
  } | sha256sum | cut -c1-12
}

APP_KEY=$(context_digest)
APP_REF="localhost/crawlfleet:$APP_KEY"
APP_ARCHIVE="$IMAGES/crawlfleet-$APP_KEY.tar"
if [[ ! -s $APP_ARCHIVE ]]; then
  log "building the crawlfleet image from the Dockerfile (base $BASE_REF)"
  buildah "${BUILD[@]}" --build-arg "PYTHON_IMAGE=$BASE_REF" --tag "$APP_REF" --file Dockerfile . >&2
  save "$APP_REF" "$APP_ARCHIVE"
  # Keep only this build: every source change makes a new one.
  for old in "$IMAGES"/crawlfleet-*.tar; do [[ $old == "$APP_ARCHIVE" ]] || rm -f "$old"; done
  buildah images --format '{{.Name}}:{{.Tag}}' | grep '^localhost/crawlfleet:' | grep -vx "$APP_REF" \
    | xargs -r -n1 "$BUILDAH" "${STORAGE[@]}" rmi >/dev/null 2>&1 || true
fi

REDIS_REF="localhost/crawlfleet-redis:bookworm-$BASE_KEY"
REDIS_ARCHIVE="$IMAGES/redis-$BASE_KEY.tar"
if [[ ! -s $REDIS_ARCHIVE ]]; then
  log "building the Redis image"
  buildah "${BUILD[@]}" --build-arg "BASE_IMAGE=$BASE_REF" --tag "$REDIS_REF" --file hack/node/images/redis.Containerfile hack/node/images >&2
  save "$REDIS_REF" "$REDIS_ARCHIVE"
fi

static_image() {  # role reference binary
  local role=$1 ref=$2 binary=$3 archive="$IMAGES/$1-${2##*:}.tar" context
  if [[ ! -s $archive ]]; then
    log "building the $role image"
    context=$(mktemp -d)
    cp "$binary" "$context/$role"
    buildah "${BUILD[@]}" --tag "$ref" --file "hack/node/images/$role.Containerfile" "$context" >&2
    rm -rf "$context"
    save "$ref" "$archive"
  fi
  echo "$role $ref $archive"
}

echo "app $APP_REF $APP_ARCHIVE"
echo "redis $REDIS_REF $REDIS_ARCHIVE"
static_image pause "localhost/crawlfleet-pause:v$K8S_VERSION" "$NODE/pause"
static_image coredns "localhost/crawlfleet-coredns:$COREDNS_VERSION" "$NODE/coredns"

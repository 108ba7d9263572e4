#!/usr/bin/env bash
# Installs what the test node needs from Debian's archive when it is missing and we
# are root: containerd (with its CRI plugin) and runc, the CNI plugins, iptables,
# ipset and conntrack for kube-proxy and the NetworkPolicy controller, buildah and
# debootstrap for the images.
set -euo pipefail
packages=(containerd runc containernetworking-plugins iptables ipset conntrack buildah debootstrap)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  echo "[node] installing ${missing[*]} from the Debian archive" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  exit 0
fi
echo "the test node needs root and Debian's ${missing[*]} (apt-get install ${missing[*]})" >&2
exit 1

#!/usr/bin/env bash
# Installs what the test node needs from Debian's archive when it is missing and we
# are root: containerd (with its CRI plugin) and runc, the CNI plugins, iptables,
# ipset and conntrack for kube-proxy and the NetworkPolicy controller, buildah and
# debootstrap for the images. The CNI plugins are no command on PATH: their bridge
# plugin stands for them by its path.
set -euo pipefail
exec "$(dirname "$0")/ensure-packages.sh" \
  containerd:containerd runc:runc /usr/lib/cni/bridge:containernetworking-plugins \
  iptables:iptables ipset:ipset conntrack:conntrack buildah:buildah debootstrap:debootstrap

"""The test node's own network namespace, joined to this machine by one veth pair.

Everything of the node that touches the network (containerd and so the pods'
bridge, the kubelet, kube-proxy's and the NetworkPolicy controller's rules, the
test website) runs in it. Its routing table knows two networks only, the veth's
/30 and the pods' bridge, and no default route: a pod can reach other pods, the
node and the API server on the other end of the veth, and nothing else. This
machine's own rules and routes are not touched, so two test runs can each have a
node at the same time.

Processes join it with `nsenter --net`, not `ip netns exec`: the latter also
unshares the mount namespace, and the kubelet's volume mounts (Secrets, tmpfs)
must be seen by containerd and the containers."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

LINK_RANGE = ipaddress.ip_network("172.30.0.0/16")
NODE_LINK = "eth0"


def run(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def _addresses_in_use() -> set[ipaddress.IPv4Network]:
    output = run("ip", "-o", "-4", "addr", "show").stdout
    return {ipaddress.ip_interface(line.split()[3]).network for line in output.splitlines()}


@dataclass(frozen=True)
class NodeNetwork:
    name: str
    host_link: str
    host_address: str
    node_address: str

    @property
    def path(self) -> Path:
        return Path("/run/netns") / self.name

    @classmethod
    def named(cls, name: str) -> NodeNetwork:
        """An existing namespace, to be deleted."""
        return cls(name, "", "", "")

    @classmethod
    def create(cls, pod_cidr: str) -> NodeNetwork:
        """A namespace named after this process, with a /30 link from 172.30/16 that
        no interface of this machine uses yet. Pods of `pod_cidr` leaving through the
        link are masqueraded as the node, so the host only ever sees the link."""
        name = f"crawlfleet-{os.getpid()}"
        in_use = _addresses_in_use()
        subnets = LINK_RANGE.subnets(new_prefix=30)
        link = next(subnet for subnet in subnets if not any(subnet.overlaps(used) for used in in_use))
        host_address, node_address = (str(address) for address in list(link.hosts())[:2])
        network = cls(name, f"cfh{os.getpid() % 10**10}", host_address, node_address)
        run("ip", "netns", "add", name)
        try:
            run("ip", "link", "add", network.host_link, "type", "veth", "peer", "name", NODE_LINK, "netns", name)
            # Nothing of the node speaks IPv6, so no router solicitation either.
            run("sysctl", "-q", "-w", f"net.ipv6.conf.{network.host_link}.disable_ipv6=1")
            run("ip", "addr", "add", f"{host_address}/30", "dev", network.host_link)
            run("ip", "link", "set", network.host_link, "up")
            for setting in (
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
                "net.ipv4.ip_forward=1",
                # Pod -> Service -> pod on the same bridge needs conntrack to see bridged packets.
                "net.bridge.bridge-nf-call-iptables=1",
            ):
                network.run("sysctl", "-q", "-w", setting)
            network.run("ip", "link", "set", "lo", "up")
            network.run("ip", "addr", "add", f"{node_address}/30", "dev", NODE_LINK)
            network.run("ip", "link", "set", NODE_LINK, "up")
            network.run(
                "iptables", "-t", "nat", "-A", "POSTROUTING", "-s", pod_cidr, "-o", NODE_LINK, "-j", "MASQUERADE"
            )
        except BaseException:
            network.delete()
            raise
        return network

    def command(self, *command: str) -> list[str]:
        """`command` as run inside the namespace."""
        return ["nsenter", f"--net={self.path}", "--", *command]

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(*self.command(*command), check=check)

    def delete(self) -> None:
        """Kill what still runs in the namespace and remove it (the veth goes with it)."""
        if not self.path.exists():
            return
        for pid in run("ip", "netns", "pids", self.name, check=False).stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), 9)
        run("ip", "netns", "delete", self.name, check=False)

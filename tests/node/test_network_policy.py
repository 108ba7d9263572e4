"""The chart's worker egress NetworkPolicy, enforced on the node by kube-router's
NetworkPolicy controller: a worker pod reaches the site the release allows, and not
a private address where the same site answers. The crawl's own address guard is
bypassed on purpose (a plain socket from inside the pod), as a team's own spider
code could do: the policy is the boundary that must hold even then."""

from __future__ import annotations

import ipaddress

import pytest

from tests.harness.node import POD_CIDR, SITE_PORT, NodeCluster
from tests.harness.ports import wait_until
from tests.harness.release import DEFAULT_PODS, Release

# A cluster start, an install or a scaling round takes minutes on two shared cores.
pytestmark = pytest.mark.timeout(900)

CONNECT = "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()"
# The pods' gateway: the node's address on the pod network, private, where the site answers too.
GATEWAY = str(next(ipaddress.ip_network(POD_CIDR).hosts()))


def connects(release: Release, pod: str, container: str, address: str) -> bool:
    result = release.kubectl(
        "exec", pod, f"--container={container}", "--", "python", "-c", CONNECT, address, str(SITE_PORT), check=False
    )
    return result.returncode == 0


def test_worker_egress_reaches_the_allowed_site_and_not_a_private_address(
    release: Release, node_cluster: NodeCluster
) -> None:
    release.wait_ready(DEFAULT_PODS, timeout=600)
    worker = next(iter(release.worker_pods()))
    api = release.pods("api")[0]["metadata"]["name"]
    assert connects(release, api, "api", GATEWAY), "the API pod, which has no egress policy, reaches the address"
    assert connects(release, worker, "worker", node_cluster.network.node_address), "the allowed site is reachable"
    wait_until(
        lambda: not connects(release, worker, "worker", GATEWAY), 60, f"the policy to block {GATEWAY} for workers", 2
    )
    assert connects(release, worker, "worker", node_cluster.network.node_address), "the allowed site still is"

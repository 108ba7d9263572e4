"""Releases side by side on the test control plane, each with its own Redis (databases
of the test Redis) and its operator under its own ServiceAccount token: two namespaced
releases and a cluster-wide one. Each operator runs its own objects only: those of
its namespace without the `crawlfleet.io/release` label, or, cluster-wide, those
labelled with its name. A second operator for the same objects is refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness.control_plane import ControlPlane
from tests.harness.helm import CHART, Helm
from tests.harness.redis_server import RedisServer
from tests.harness.releases import InstallRelease, Release, restricted_namespace, scrapejob

TEAM = "chart-team"  # a namespace without a release of its own
CLUSTER_WIDE = "gamma"


@pytest.fixture(scope="module")
def releases(control_plane: ControlPlane, install_release: InstallRelease) -> Iterator[dict[str, Release]]:
    running = {
        name: install_release(name, {"operator": {"clusterWide": name == CLUSTER_WIDE}}, first_database=database)
        for name, database in (("alpha", 3), ("beta", 6), (CLUSTER_WIDE, 9))
    }
    for release in running.values():
        release.start_operators()
    restricted_namespace(control_plane, TEAM)
    yield running
    control_plane.kubectl("delete", "namespace", TEAM, "--wait=false")


def submitted_by(releases: dict[str, Release], redis_server: RedisServer, job_id: str) -> set[str]:
    """The releases whose job store holds a record of `job_id`."""
    return {
        name
        for name, release in releases.items()
        if redis_server.client(release.databases[2]).exists(f"crawlfleet:job:{job_id}")
    }


def test_each_operator_runs_its_own_objects(releases: dict[str, Release], redis_server: RedisServer) -> None:
    alpha, beta, gamma = releases["alpha"], releases["beta"], releases[CLUSTER_WIDE]
    routed = {"crawlfleet.io/release": CLUSTER_WIDE}
    alpha.apply(scrapejob("local"))
    beta.apply(scrapejob("routed", labels=routed))
    gamma.apply(scrapejob("team", labels=routed), namespace=TEAM)
    assert submitted_by(releases, redis_server, alpha.job_id("local")) == {"alpha"}
    assert submitted_by(releases, redis_server, beta.job_id("routed")) == {CLUSTER_WIDE}
    assert submitted_by(releases, redis_server, gamma.job_id("team", namespace=TEAM)) == {CLUSTER_WIDE}
    # Each operator autoscales its own pool and no other.
    for name, release in releases.items():
        [operator] = release.operators
        scaled = {
            line.split('namespace="')[1].split('"')[0]
            for line in operator.metrics().splitlines()
            if line.startswith("crawlfleet_pool_current_replicas{")
        }
        assert scaled == {release.namespace}, f"{name} scales the pools of {scaled}"


def test_a_second_operator_for_the_same_objects_is_refused(
    releases: dict[str, Release], control_plane: ControlPlane, helm: Helm
) -> None:
    client = helm.against(control_plane.kubeconfig)
    same_name = client.run(
        "install", CLUSTER_WIDE, str(CHART), "--namespace=chart-beta", "--set=operator.clusterWide=true", check=False
    )
    assert same_name.returncode != 0
    assert f'the release "{CLUSTER_WIDE}" of namespace "chart-{CLUSTER_WIDE}" already runs' in same_name.stderr
    same_namespace = client.run("install", "delta", str(CHART), "--namespace=chart-alpha", check=False)
    assert same_namespace.returncode != 0
    assert 'the namespace "chart-alpha" already has the operator of the crawlfleet release "alpha"' in (
        same_namespace.stderr
    )

"""How the operator's settings become kopf's: which objects it runs, whether kopf
must list namespaces, and peering."""

from __future__ import annotations

import kopf
import pytest

from crawlfleet_operator.config import OperatorConfig, configure_kopf, label_selector, release_labels


def configured(**settings: object) -> kopf.OperatorSettings:
    result = kopf.OperatorSettings()
    configure_kopf(result, OperatorConfig.model_validate(settings), priority=-7)
    return result


def test_a_namespaced_operator_runs_the_unlabelled_objects_a_cluster_wide_one_its_own() -> None:
    assert label_selector("") == "!crawlfleet.io/release"
    assert label_selector("gamma") == "crawlfleet.io/release=gamma"
    for release in ("", "gamma"):
        selectors = configured(release=release).watching.label_selectors
        assert sorted(str(selector.any_name) for selector in selectors) == ["scrapejobs", "workerpools"]
        assert set(selectors.values()) == {label_selector(release)}


def test_a_schedules_runs_keep_its_release() -> None:
    assert release_labels({"crawlfleet.io/release": "gamma", "team": "a"}) == {"crawlfleet.io/release": "gamma"}
    assert release_labels({"team": "a"}) == {}


@pytest.mark.parametrize(
    ("namespaces", "listed"),
    [([], False), (["crawlfleet"], False), (["team-a", "team-b"], False), (["team-*"], True), (["!kube-system"], True)],
)
def test_kopf_lists_namespaces_only_to_match_patterns(namespaces: list[str], listed: bool) -> None:
    """A namespaced operator may not list namespaces; told their names, kopf does not try."""
    assert configured(namespaces=namespaces).scanning.disabled is not listed


def test_peering() -> None:
    standalone = configured()
    assert standalone.peering.standalone is True
    peered = configured(peering="crawlfleet-operator", peering_lifetime_seconds=10, namespaces=["crawlfleet"])
    assert peered.peering.standalone is False
    assert peered.peering.mandatory is True, "never two active replicas for want of the peering object"
    assert (peered.peering.name, peered.peering.lifetime, peered.peering.priority) == ("crawlfleet-operator", 10, -7)
    assert peered.peering.clusterwide is False
    assert configured(peering="p").peering.clusterwide is True

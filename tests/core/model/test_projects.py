"""Project versions in Scrapyd's order, and what a project offers to run."""

from __future__ import annotations

from datetime import UTC, datetime

from crawlfleet_core.model.projects import InstalledProject, Project, ProjectSource, ProjectVersion, sorted_versions

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def version(name: str, *spiders: str) -> ProjectVersion:
    return ProjectVersion(
        version=name, spiders=list(spiders), settings_module="books.settings", digest="0" * 64, size=1, uploaded_at=T0
    )


def test_versions_sort_as_pep_440_when_all_parse_else_as_text() -> None:
    assert sorted_versions(["10", "9", "1700000000"]) == ["9", "10", "1700000000"]
    assert sorted_versions(["1.0.1", "1.0", "1.0rc1"]) == ["1.0rc1", "1.0", "1.0.1"]
    assert sorted_versions(["r10", "r9", "2"]) == ["2", "r10", "r9"]


def test_a_deployed_project_offers_each_version_its_own_spiders() -> None:
    project = Project(name="books", source=ProjectSource.EGG, versions=[version("1", "a"), version("2", "a", "b")])
    assert project.latest is not None and project.latest.version == "2"
    assert project.spiders() == ["a", "b"]
    assert project.spiders("1") == ["a"]
    assert project.spiders("3") == []


def test_an_installed_project_offers_every_pool_s_spiders() -> None:
    pools = [
        InstalledProject(queue="q1", settings_module="books.settings", spiders=["a"], announced_at=T0),
        InstalledProject(queue="q2", settings_module="books.settings", spiders=["a", "b"], announced_at=T0),
    ]
    project = Project(name="books", source=ProjectSource.IMAGE, installed=pools)
    assert project.latest is None
    assert project.spiders() == ["a", "b"]

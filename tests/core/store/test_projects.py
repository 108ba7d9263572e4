"""Deployed eggs and installed projects in a real Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from crawlfleet_core.model.projects import InstalledProject, ProjectSource, ProjectVersion
from crawlfleet_core.settings import Settings
from crawlfleet_core.store import keys
from crawlfleet_core.store.projects import ProjectStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def version(name: str, *spiders: str) -> ProjectVersion:
    return ProjectVersion(
        version=name, spiders=list(spiders), settings_module="books.settings", digest="0" * 64, size=3, uploaded_at=T0
    )


@pytest.fixture
def store(settings: Settings) -> ProjectStore:
    return ProjectStore.from_settings(settings)


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def installed_name(store: ProjectStore) -> Iterator[str]:
    """A name to announce as installed, withdrawn afterwards: every tenant's catalog
    lists an installed project, and later tests read catalogs of their own tenants."""
    name = f"installed-{uuid.uuid4().hex[:8]}"
    yield name
    store.client.delete(keys.installed_project(name))
    store.client.srem(keys.installed_projects(), name)


def test_versions_are_kept_per_tenant_with_their_eggs(store: ProjectStore, tenant: str) -> None:
    store.add_version(tenant, "books", version("10", "a"), b"egg10")
    store.add_version(tenant, "books", version("9", "a", "b"), b"egg9")
    project = store.project(tenant, "books")
    assert project is not None and project.source is ProjectSource.EGG
    assert [v.version for v in project.versions] == ["9", "10"]
    assert store.egg(tenant, "books", "9") == b"egg9"
    assert store.version(tenant, "books", "10") == version("10", "a")
    assert store.project("other-tenant", "books") is None
    assert store.egg("other-tenant", "books", "9") is None


def test_the_project_goes_with_its_last_version(store: ProjectStore, tenant: str) -> None:
    store.add_version(tenant, "books", version("1", "a"), b"egg1")
    store.add_version(tenant, "books", version("2", "a"), b"egg2")
    assert store.delete_version(tenant, "books", "1")
    assert not store.delete_version(tenant, "books", "1")
    assert store.egg(tenant, "books", "1") is None
    assert [project.name for project in store.projects(tenant)] == ["books"]
    assert store.delete_version(tenant, "books", "2")
    assert store.project(tenant, "books") is None
    assert store.projects(tenant) == []


def test_deleting_a_project_deletes_every_version(store: ProjectStore, tenant: str) -> None:
    store.add_version(tenant, "books", version("1", "a"), b"egg1")
    store.add_version(tenant, "books", version("2", "a"), b"egg2")
    assert store.delete_project(tenant, "books")
    assert not store.delete_project(tenant, "books")
    assert store.egg(tenant, "books", "2") is None and store.projects(tenant) == []


def test_an_installed_project_is_listed_for_every_tenant_unless_one_deployed_its_own(
    store: ProjectStore, tenant: str, installed_name: str
) -> None:
    name = installed_name
    store.announce(
        name, InstalledProject(queue="q1", settings_module=f"{name}.settings", spiders=["a"], announced_at=T0)
    )
    store.announce(
        name, InstalledProject(queue="q1", settings_module=f"{name}.settings", spiders=["b"], announced_at=T0)
    )
    project = store.project(tenant, name)
    assert project is not None and project.source is ProjectSource.IMAGE
    assert [(pool.queue, pool.spiders) for pool in project.installed] == [("q1", ["b"])]
    assert name in [project.name for project in store.projects(tenant)]
    store.add_version(tenant, name, version("1", "own"), b"egg")
    own = store.project(tenant, name)
    assert own is not None and own.source is ProjectSource.EGG and own.spiders() == ["own"]

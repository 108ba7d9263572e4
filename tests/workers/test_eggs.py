"""A worker's egg cache (against a real Redis and the disk) and what an egg must hold."""

from __future__ import annotations

import hashlib
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crawlfleet_core.model.projects import ProjectVersion
from crawlfleet_core.settings import Settings
from crawlfleet_core.store.projects import ProjectStore
from crawlfleet_workers.eggs import EggCache, EggError, EggMissingError, egg_settings_module

EGG_BYTES = 1000


def store_version(store: ProjectStore, tenant: str, version: str, egg: bytes, digest: str | None = None) -> None:
    deployed = ProjectVersion(
        version=version,
        spiders=["a"],
        settings_module="books.settings",
        digest=digest or hashlib.sha256(egg).hexdigest(),
        size=len(egg),
        uploaded_at=datetime.now(UTC),
    )
    store.add_version(tenant, "books", deployed, egg)


@pytest.fixture
def store(settings: Settings) -> ProjectStore:
    return ProjectStore.from_settings(settings)


def test_the_cache_keeps_eggs_by_digest_within_its_bound_least_recently_used_first(
    store: ProjectStore, tmp_path: Path
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    eggs = {version: version.encode() * EGG_BYTES for version in ("1", "2", "3")}
    for version, egg in eggs.items():
        store_version(store, tenant, version, egg)
    cache = EggCache(tmp_path, store, max_bytes=2 * EGG_BYTES)

    def cached() -> set[bytes]:
        return {path.read_bytes() for path in tmp_path.glob("*.egg")}

    code = cache.code(tenant, "books", "1")
    assert code.settings_module == "books.settings"
    assert code.egg == tmp_path / f"{hashlib.sha256(eggs['1']).hexdigest()}.egg"
    cache.code(tenant, "books", "2")
    cache.code(tenant, "books", "1")  # used again: now the most recent
    cache.code(tenant, "books", "3")
    assert cached() == {eggs["1"], eggs["3"]}
    assert not list(tmp_path.glob("*.partial"))


def test_a_version_deleted_or_altered_in_the_store_is_not_run(store: ProjectStore, tmp_path: Path) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    cache = EggCache(tmp_path, store, max_bytes=10 * EGG_BYTES)
    with pytest.raises(EggMissingError, match="version '9' of project 'books' is no longer deployed"):
        cache.code(tenant, "books", "9")
    store_version(store, tenant, "1", b"the egg", digest="0" * 64)
    with pytest.raises(EggMissingError, match="does not match its digest"):
        cache.code(tenant, "books", "1")
    assert not list(tmp_path.glob("*.egg"))


def test_an_egg_names_its_settings_module_in_its_scrapy_entry_point(tmp_path: Path) -> None:
    def egg(entry_points: str | None) -> Path:
        path = tmp_path / f"{uuid.uuid4().hex}.egg"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("books/__init__.py", "")
            if entry_points is not None:
                archive.writestr("EGG-INFO/entry_points.txt", entry_points)
        return path

    assert egg_settings_module(egg("[scrapy]\nsettings = books.settings\n")) == "books.settings"
    with pytest.raises(EggError, match=r"has no EGG-INFO/entry_points\.txt: build it with scrapyd-deploy"):
        egg_settings_module(egg(None))
    with pytest.raises(EggError, match="entry_points=\\{'scrapy'"):
        egg_settings_module(egg("[console_scripts]\nbooks = books:main\n"))
    not_a_zip = tmp_path / "notes.egg"
    not_a_zip.write_text("not a zip")
    with pytest.raises(EggError, match="not a zip file"):
        egg_settings_module(not_a_zip)

"""Scrapy projects the fleet runs: their names, the versions deployed as eggs, the
projects installed in a pool's worker image, and the catalog that lists both."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from packaging.version import InvalidVersion, Version
from pydantic import Field, StringConstraints

from crawlfleet_core.model.base import CamelModel

# Names go into Redis keys, URL paths and Scrapyd's log URLs, so they hold no '/' or ':'.
PROJECT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
SPIDER_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$"

ProjectName = Annotated[str, StringConstraints(max_length=100, pattern=PROJECT_PATTERN)]
SpiderName = Annotated[str, StringConstraints(max_length=128, pattern=SPIDER_PATTERN)]
VersionName = Annotated[str, StringConstraints(max_length=64, pattern=VERSION_PATTERN)]


def sorted_versions(versions: list[str]) -> list[str]:
    """Versions oldest first, the latest last, as Scrapyd orders them: by PEP 440
    when every one parses (`r9` < `r10` does not, `9` < `10` and `1.0` < `1.0.1` do),
    else as strings."""
    try:
        return sorted(versions, key=Version)
    except InvalidVersion:
        return sorted(versions)


class ProjectSource(StrEnum):
    EGG = "egg"
    IMAGE = "image"


class ProjectVersion(CamelModel):
    """One deployed egg of a project."""

    version: str = Field(description="The version it was deployed as.")
    spiders: list[str] = Field(description="Its spiders, as Scrapy's spider loader lists them.")
    settings_module: str = Field(description="The Scrapy settings module its egg's entry point names.")
    digest: str = Field(description="SHA-256 of the egg; workers cache eggs on disk by it.")
    size: int = Field(description="Size of the egg in bytes.")
    uploaded_at: datetime


class InstalledProject(CamelModel):
    """A project installed in the worker image of the pool serving `queue`, as its
    workers announced it when they last started."""

    queue: str = Field(description="The queue whose workers have it installed; its jobs must go there.")
    settings_module: str = Field(description="The Scrapy settings module the pool is configured with.")
    spiders: list[str]
    announced_at: datetime


class Project(CamelModel):
    """A project in the catalog: the tenant's deployed versions, or a pool's installed copy."""

    name: str
    source: ProjectSource = Field(description="`egg`: deployed with addversion.json; `image`: in a worker image.")
    versions: list[ProjectVersion] = Field(
        default_factory=list, description="Deployed versions, oldest first: the last is the latest."
    )
    installed: list[InstalledProject] = Field(
        default_factory=list, description="Pools whose image has the project installed."
    )

    @property
    def latest(self) -> ProjectVersion | None:
        return self.versions[-1] if self.versions else None

    def spiders(self, version: str | None = None) -> list[str]:
        """The spiders of `version` (the latest when None); of an installed project, every pool's."""
        if self.source is ProjectSource.IMAGE:
            return sorted({spider for pool in self.installed for spider in pool.spiders})
        chosen = self.latest if version is None else next((v for v in self.versions if v.version == version), None)
        return chosen.spiders if chosen is not None else []


class ProjectsPage(CamelModel):
    projects: list[Project] = Field(description="The caller's projects and those installed in worker images.")

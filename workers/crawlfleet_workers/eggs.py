"""Deployed projects' eggs on a worker's disk, and how a crawl process loads a project.

A worker's pool process fetches an egg from the job store once and keeps it under
its content hash, so later crawls of that version find it on disk. Only the forked
crawl process puts it on `sys.path` (`activate`): the worker's own processes never
import a project's code, so one project cannot leave anything behind for the next."""

from __future__ import annotations

import configparser
import hashlib
import os
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from crawlfleet_core.store.projects import ProjectStore

ENTRY_POINTS = "EGG-INFO/entry_points.txt"


class EggError(Exception):
    """An egg the platform cannot run: not a zip, or no Scrapy settings entry point."""


class EggMissingError(Exception):
    """The job's version of its project is no longer deployed."""


@dataclass(frozen=True)
class ProjectCode:
    """What a crawl loads: a project's settings module, from its egg (None when the
    project is installed in the worker's image)."""

    settings_module: str
    egg: Path | None = None


def egg_settings_module(egg: Path) -> str:
    """The settings module an egg's `scrapy` entry point names, as the setup.py that
    scrapyd-deploy writes declares it: `entry_points={'scrapy': ['settings = mod']}`."""
    try:
        with zipfile.ZipFile(egg) as archive:
            text = archive.read(ENTRY_POINTS).decode()
    except zipfile.BadZipFile:
        raise EggError("the egg is not a zip file (with curl, send it as egg=@file.egg, not egg=file.egg)") from None
    except KeyError:
        raise EggError(f"the egg has no {ENTRY_POINTS}: build it with scrapyd-deploy") from None
    entry_points = configparser.ConfigParser()
    entry_points.read_string(text)
    if not entry_points.has_option("scrapy", "settings"):
        raise EggError(
            "the egg declares no Scrapy settings module: its setup.py needs "
            "entry_points={'scrapy': ['settings = <project>.settings']}"
        )
    return entry_points.get("scrapy", "settings").strip()


def activate(code: ProjectCode) -> None:
    """Make the project importable and its settings Scrapy's. Only ever called in a
    forked crawl process or the spider-listing subprocess."""
    if code.egg is not None:
        sys.path.insert(0, str(code.egg))
    os.environ["SCRAPY_SETTINGS_MODULE"] = code.settings_module


def used(egg: Path) -> None:
    """Mark `egg` as just used, to the nanosecond: the file system's own clock ticks too
    coarsely to order eggs used within a few milliseconds of each other."""
    moment = time.time_ns()
    os.utime(egg, ns=(moment, moment))


class EggCache:
    """Eggs on the worker's disk by SHA-256; written once, read by every later crawl.

    The cache holds at most `max_bytes` (the pod's /tmp is small): each use marks an
    egg as recently used, and adding one evicts the least recently used others."""

    def __init__(self, directory: Path, projects: ProjectStore, max_bytes: int) -> None:
        self.directory = directory
        self.projects = projects
        self.max_bytes = max_bytes

    def code(self, tenant: str, project: str, version: str) -> ProjectCode:
        """The project code of a deployed version, fetched into the cache if it is not there yet."""
        deployed = self.projects.version(tenant, project, version)
        if deployed is None:
            raise EggMissingError(f"version {version!r} of project {project!r} is no longer deployed")
        path = self.directory / f"{deployed.digest}.egg"
        if not path.exists():
            egg = self.projects.egg(tenant, project, version)
            if egg is None:
                raise EggMissingError(f"version {version!r} of project {project!r} is no longer deployed")
            if hashlib.sha256(egg).hexdigest() != deployed.digest:
                raise EggMissingError(f"the stored egg of {project!r} {version!r} does not match its digest")
            self.directory.mkdir(parents=True, exist_ok=True)
            # Written aside and renamed: a crawl never sees half an egg.
            partial = path.with_suffix(f".{os.getpid()}.partial")
            partial.write_bytes(egg)
            partial.replace(path)
        used(path)
        self.evict(keep=path)
        return ProjectCode(deployed.settings_module, path)

    def evict(self, keep: Path) -> None:
        """Delete the least recently used eggs but `keep` until the cache fits its bound."""
        eggs = sorted(self.directory.glob("*.egg"), key=lambda egg: egg.stat().st_mtime)
        total = sum(egg.stat().st_size for egg in eggs)
        for egg in eggs:
            if total <= self.max_bytes:
                return
            if egg != keep:
                total -= egg.stat().st_size
                egg.unlink(missing_ok=True)

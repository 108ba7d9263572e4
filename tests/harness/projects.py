"""The test suite's own Scrapy project, `tests/projects/pricewatch`, and its eggs,
built the way scrapyd-deploy builds them (by scrapyd-deploy itself)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from crawlfleet_api import deployments
from crawlfleet_api.config import ApiSettings
from crawlfleet_core.model.projects import ProjectVersion
from crawlfleet_core.store.projects import ProjectStore

FIXTURE = Path(__file__).resolve().parents[1] / "projects" / "pricewatch"
BIN = Path(sys.executable).parent
PROJECT = "pricewatch"
SPIDERS = ["catalog", "page"]


def project_copy(directory: Path, settings: str = "", files: dict[str, str] | None = None) -> Path:
    """A copy of the fixture project in `directory`, with `settings` appended to its
    settings module and `files` (path -> text) written into it."""
    copy = directory / PROJECT
    shutil.copytree(FIXTURE, copy, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    if settings:
        with (copy / PROJECT / "settings.py").open("a") as module:
            module.write("\n" + settings + "\n")
    for path, text in (files or {}).items():
        (copy / path).write_text(text)
    return copy


def build_egg(project: Path, egg: Path) -> Path:
    """`scrapyd-deploy --build-egg`, as a team builds an egg."""
    subprocess.run([BIN / "scrapyd-deploy", "--build-egg", str(egg)], cwd=project, check=True, capture_output=True)
    return egg


def deploy(store: ProjectStore, tenant: str, version: str, egg: Path) -> ProjectVersion:
    """Deploy an egg as addversion.json does."""
    return deployments.deploy(store, ApiSettings(), tenant, PROJECT, version, egg.read_bytes())

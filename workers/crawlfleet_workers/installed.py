"""A project installed in the worker's image (`CRAWLFLEET_PROJECT_SETTINGS_MODULE`):
the worker announces it and its spiders in the catalog when it starts, for each
queue it consumes, so that jobs can name it and the API lists it beside the
deployed ones.

The spiders are listed by `python -m crawlfleet_workers.catalog` in a process of its
own: the worker's processes never import a project, which is the crawl process's
alone. A pool whose project does not load does not start, with Scrapy's error."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from typing import Any

from celery import bootsteps

from crawlfleet_core.clock import now
from crawlfleet_core.model.projects import InstalledProject
from crawlfleet_core.store.projects import ProjectStore
from crawlfleet_workers.config import worker_settings

LIST_TIMEOUT_SECONDS = 120

log = logging.getLogger(__name__)


class InstalledProjectError(RuntimeError):
    """The installed project's spiders could not be listed."""


def installed_spiders(settings_module: str) -> list[str]:
    """The spiders of the installed project, listed in a process of their own."""
    listed = subprocess.run(
        [sys.executable, "-m", "crawlfleet_workers.catalog", "--settings-module", settings_module],
        capture_output=True,
        text=True,
        timeout=LIST_TIMEOUT_SECONDS,
        check=False,
    )
    if listed.returncode != 0:
        raise InstalledProjectError(
            f"CRAWLFLEET_PROJECT_SETTINGS_MODULE={settings_module}: the project does not load:\n{listed.stderr}"
        )
    spiders: list[str] = json.loads(listed.stdout.strip().splitlines()[-1])["spiders"]
    return spiders


class InstalledProjectAnnouncement(bootsteps.StartStopStep):
    """Announces the installed project as the worker starts."""

    def start(self, parent: Any) -> None:
        settings = worker_settings()
        name = settings.installed_project()
        if name is None:
            return
        spiders = installed_spiders(settings.project_settings_module)
        queues = sorted(parent.app.amqp.queues.consume_from)
        store = ProjectStore.from_settings(settings)
        try:
            for queue in queues:
                pool = InstalledProject(
                    queue=queue, settings_module=settings.project_settings_module, spiders=spiders, announced_at=now()
                )
                store.announce(name, pool)
        finally:
            store.client.close()
        log.info("announced project %s (spiders %s) on queues %s", name, ", ".join(spiders), ", ".join(queues))

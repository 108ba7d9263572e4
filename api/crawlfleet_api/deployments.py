"""Deploying a version of a project: an egg checked, its spiders listed, then stored.

Listing an egg's spiders means importing the project, which runs its code. As
Scrapyd runs `scrapy list`, the API runs `python -m crawlfleet_workers.catalog` in a
process of its own: in Python's isolated mode, in a scratch directory, without the
API's environment (its tokens and Redis URLs are not handed to the project's code),
in a session of its own that is killed whole when it outlives
CRAWLFLEET_EGG_INSPECT_TIMEOUT_SECONDS. It still runs as the API's user, in the
API's pod: the deploy role is for trusted teams, and the pod's egress policy holds
it. An egg that does not import, or has no spider, is refused with the error Scrapy
gave."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from crawlfleet_api.config import ApiSettings
from crawlfleet_core.clock import now
from crawlfleet_core.model.projects import ProjectVersion
from crawlfleet_core.store.logs import bounded_line
from crawlfleet_core.store.projects import ProjectStore

SPIDER_LISTER = "crawlfleet_workers.catalog"


class EggRefusedError(Exception):
    """The egg cannot be deployed; the message says why and what to do."""


class EggTooLargeError(EggRefusedError):
    pass


def spiders_of_egg(egg: bytes, timeout_seconds: float) -> tuple[str, list[str]]:
    """The egg's settings module and spider names, listed in an isolated process."""
    with tempfile.TemporaryDirectory(prefix="crawlfleet-egg-") as scratch:
        path = Path(scratch) / "project.egg"
        path.write_bytes(egg)
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": scratch,
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        with subprocess.Popen(
            [sys.executable, "-I", "-m", SPIDER_LISTER, str(path)],
            cwd=scratch,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        ) as lister:
            try:
                stdout, stderr = lister.communicate(timeout=timeout_seconds)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(lister.pid, signal.SIGKILL)
                lister.communicate()
                raise EggRefusedError(
                    f"listing the egg's spiders took longer than {timeout_seconds:g} s "
                    "(CRAWLFLEET_EGG_INSPECT_TIMEOUT_SECONDS): does the project do slow work when it is imported?"
                ) from None
    if lister.returncode != 0:
        raise EggRefusedError(f"the egg does not load:\n{bounded_line(stderr.strip())}")
    found = json.loads(stdout.strip().splitlines()[-1])
    return found["settingsModule"], found["spiders"]


def deploy(
    projects: ProjectStore, settings: ApiSettings, tenant: str, project: str, version: str, egg: bytes
) -> ProjectVersion:
    """Check `egg`, list its spiders and store it as `version` of the tenant's `project`."""
    if len(egg) > settings.egg_max_bytes:
        raise EggTooLargeError(
            f"the egg has {len(egg)} bytes, more than the limit of {settings.egg_max_bytes} (CRAWLFLEET_EGG_MAX_BYTES)"
        )
    if not zipfile.is_zipfile(io.BytesIO(egg)):
        raise EggRefusedError("the egg is not a zip file (with curl, send it as egg=@file.egg, not egg=file.egg)")
    settings_module, spiders = spiders_of_egg(egg, settings.egg_inspect_timeout_seconds)
    deployed = ProjectVersion(
        version=version,
        spiders=spiders,
        settings_module=settings_module,
        digest=hashlib.sha256(egg).hexdigest(),
        size=len(egg),
        uploaded_at=now(),
    )
    projects.add_version(tenant, project, deployed, egg)
    return deployed

"""A Scrapy project as `crawlfleet deploy` finds and packs it: the closest `scrapy.cfg`
at or above a directory, its `[deploy]` section, and the egg built by scrapyd-deploy
itself (`scrapyd-deploy --build-egg`), so that an egg deployed with the CLI is the one
a team's scrapyd-deploy would upload.

scrapyd-client imports Scrapy, which the CLI keeps out of its own process: the egg is
built by running scrapyd-deploy's module with this interpreter, in the project's folder."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

BUILD_OUTPUT_LINES = 20


class NotAProjectError(Exception):
    """The folder holds no Scrapy project, or its scrapy.cfg cannot be read."""


class EggBuildError(Exception):
    """scrapyd-deploy could not build the project's egg; the message ends with its output."""


@dataclass(frozen=True)
class ScrapyProject:
    root: Path
    deploy_project: str | None


def closest_scrapy_cfg(directory: Path) -> Path | None:
    """The scrapy.cfg that Scrapy (and so scrapyd-deploy) would use from `directory`: its own, or a parent's."""
    for folder in (directory, *directory.parents):
        if (folder / "scrapy.cfg").is_file():
            return folder / "scrapy.cfg"
    return None


def find_project(directory: Path) -> ScrapyProject:
    directory = directory.resolve()
    if not directory.is_dir():
        raise NotAProjectError(f"{directory} is not a folder")
    cfg = closest_scrapy_cfg(directory)
    if cfg is None:
        raise NotAProjectError(
            f"no scrapy.cfg in {directory} or above it: give the folder of a Scrapy project "
            "(`scrapy startproject` makes one)"
        )
    # Without interpolation: a `password = ${CRAWLFLEET_TOKEN}` line is scrapyd-deploy's business.
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(cfg)
    except configparser.Error as error:
        raise NotAProjectError(f"{cfg} cannot be read: {error}") from None
    return ScrapyProject(root=cfg.parent, deploy_project=parser.get("deploy", "project", fallback=None) or None)


def build_egg(project: ScrapyProject) -> bytes:
    """The project's egg, as `scrapyd-deploy --build-egg` writes it (which, like scrapyd-deploy
    always does, first writes a setup.py into a project that has none)."""
    environment = {name: value for name, value in os.environ.items() if name != "SCRAPY_SETTINGS_MODULE"}
    with tempfile.TemporaryDirectory(prefix="crawlfleet-egg-") as scratch:
        egg = Path(scratch) / "project.egg"
        # scrapyd-deploy builds in a temporary folder it never removes: TMPDIR puts it in ours.
        built = subprocess.run(
            [sys.executable, "-m", "scrapyd_client.deploy", "--build-egg", str(egg), "--debug"],
            cwd=project.root,
            env={**environment, "TMPDIR": scratch},
            capture_output=True,
            text=True,
            check=False,
        )
        if built.returncode != 0 or not egg.is_file():
            output = (built.stdout + built.stderr).strip().splitlines()[-BUILD_OUTPUT_LINES:]
            raise EggBuildError(
                f"scrapyd-deploy could not build the egg of {project.root} (exit {built.returncode}):\n"
                + "\n".join(output)
            )
        return egg.read_bytes()

"""What spiders a project has, as Scrapy's spider loader lists them.

Run as `python -m crawlfleet_workers.catalog EGG` (or `--settings-module MODULE`
for a project installed in the image): it imports the project, prints one JSON line
`{"settingsModule": ..., "spiders": [...]}` and exits 0; or prints Scrapy's error and
exits 1. Importing a project runs its code, so the API and the worker run this in a
process of its own, as Scrapyd runs `scrapy list`."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

from scrapy.settings import Settings as ScrapySettings
from scrapy.utils.misc import load_object

from crawlfleet_workers.eggs import EggError, ProjectCode, activate, egg_settings_module


class NoSpidersError(Exception):
    """The project imports but its spider modules hold no spider."""


def project_settings(code: ProjectCode) -> ScrapySettings:
    """The project's settings at Scrapy's `project` priority, its code made importable."""
    activate(code)
    settings = ScrapySettings()
    settings.setmodule(code.settings_module, priority="project")
    return settings


def spider_names(code: ProjectCode) -> list[str]:
    """The names of the project's spiders; Scrapy's error when a spider module does not import."""
    settings = project_settings(code)
    loader = load_object(settings["SPIDER_LOADER_CLASS"]).from_settings(settings.frozencopy())
    names = sorted(loader.list())
    if not names:
        raise NoSpidersError(f"the project has no spiders in SPIDER_MODULES = {settings.getlist('SPIDER_MODULES')}")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m crawlfleet_workers.catalog",
        description="List the spiders of a Scrapy project (an egg, or an installed settings module) as JSON.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("egg", nargs="?", type=Path, help="an egg as scrapyd-deploy builds it")
    source.add_argument("--settings-module", help="the settings module of a project installed in this environment")
    options = parser.parse_args(argv)
    try:
        if options.egg is not None:
            code = ProjectCode(egg_settings_module(options.egg), options.egg)
        else:
            code = ProjectCode(options.settings_module)
        spiders = spider_names(code)
    except (EggError, NoSpidersError) as error:
        print(error, file=sys.stderr)
        return 1
    except Exception:
        # A project that does not import: its own traceback is the message the team needs.
        traceback.print_exc()
        return 1
    print(json.dumps({"settingsModule": code.settings_module, "spiders": spiders}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

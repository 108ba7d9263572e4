"""The worker's settings: the platform's, plus what only a worker needs."""

from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path

from pydantic import Field

from crawlfleet_core.settings import Settings

# A dotted module path whose top package is also a valid project name.
MODULE_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,99}(\.[A-Za-z_][A-Za-z0-9_]*)*$"


class WorkerSettings(Settings):
    """One object for a worker, from the same `CRAWLFLEET_*` environment as every component."""

    egg_cache_dir: Path = Field(
        Path(tempfile.gettempdir()) / "crawlfleet-eggs",
        description="Where the worker keeps the eggs of deployed projects, by content hash.",
    )
    egg_cache_max_bytes: int = Field(
        128 * 1024 * 1024,
        ge=1,
        description="Most bytes of eggs the worker keeps; the least recently used go first (never the one in use).",
    )
    project_settings_module: str = Field(
        "",
        pattern=f"^$|{MODULE_PATTERN}",
        description=(
            "Scrapy settings module of the project installed in this worker's image (e.g. `pricewatch.settings`); "
            "the worker announces the project, named by the module's package, and its spiders when it starts."
        ),
    )

    def installed_project(self) -> str | None:
        """The name of the project installed in this worker's image: its settings module's top package."""
        return self.project_settings_module.split(".")[0] or None


@lru_cache
def worker_settings() -> WorkerSettings:
    return WorkerSettings()

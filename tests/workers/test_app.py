"""Loading the worker's Celery app without running a worker stays light: Flower and
the liveness probe (`celery inspect ping`) load it, and only a worker crawls."""

from __future__ import annotations

import json
import subprocess
import sys

CRAWL_MODULES = ("scrapy", "twisted")


def modules_loaded_by(code: str) -> set[str]:
    """Which of the crawl's modules a fresh interpreter has loaded after running `code`."""
    report = f"import json, sys; print(json.dumps([name for name in {CRAWL_MODULES!r} if name in sys.modules]))"
    run = subprocess.run([sys.executable, "-c", f"{code}\n{report}"], check=True, capture_output=True, text=True)
    return set(json.loads(run.stdout))


def test_importing_the_app_loads_neither_scrapy_nor_twisted() -> None:
    assert modules_loaded_by("import crawlfleet_workers.app") == set()


def test_the_task_modules_load_neither_scrapy_nor_twisted() -> None:
    """Flower imports the app's task modules (its `include`), as a worker does before it preloads the crawl."""
    code = "\n".join(
        (
            "from crawlfleet_workers.app import app",
            "app.loader.import_default_modules()",
            "assert 'crawlfleet.crawl' in app.tasks",
        )
    )
    assert modules_loaded_by(code) == set()

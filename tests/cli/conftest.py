"""The `crawlfleet` command as a user runs it: a subprocess, against a
`crawlfleet-api` process and real workers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from crawlfleet_core.settings import Settings
from tests.api.conftest import ApiProcess
from tests.harness.website import HeldWebsite

CLI = str(Path(sys.executable).parent / "crawlfleet")
TOKEN = "cli-secret-0001"
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def open_api(
    settings: Settings, platform_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiProcess]:
    """The API with authentication off."""
    server = ApiProcess(platform_env, tmp_path_factory.mktemp("cli-api") / "crawlfleet-api.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def guarded_api(
    settings: Settings, platform_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiProcess]:
    """The API with one token, of the tenant `alpha`."""
    env = {**platform_env, "CRAWLFLEET_API_TOKENS": f"alpha:{TOKEN}"}
    server = ApiProcess(env, tmp_path_factory.mktemp("cli-guarded-api") / "crawlfleet-api.log")
    yield server
    server.stop()


@pytest.fixture
def api_client(open_api: ApiProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=open_api.url, timeout=30) as client:
        yield client


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """An environment with no CLI settings of the user's leaking in."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("CRAWLFLEET_")}
    env["CRAWLFLEET_CONFIG"] = str(tmp_path / "no-config.toml")
    return env


@pytest.fixture
def crawlfleet(open_api: ApiProcess, cli_env: dict[str, str]) -> Run:
    """Run `crawlfleet ARGS…` against the open API; the finished process."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CLI, "--api-url", open_api.url, *args],
            env={**cli_env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture
def held_site() -> Iterator[HeldWebsite]:
    """A site whose crawls fetch `/slow/0` and `/slow/1`, then wait for `release()`."""
    site = HeldWebsite(held_from=2)
    yield site
    site.stop()

"""The dashboard as a user meets it: the `crawlfleet-api` process with tokens on,
real workers crawling a local site, and a real headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from crawlfleet_core.settings import Settings
from tests.api.conftest import ApiProcess
from tests.harness.browser import BrowserSession
from tests.harness.website import HeldWebsite

TOKEN = "dash-secret-0001"
OTHER_TENANT_TOKEN = "other-secret-0002"
FLOWER_URL = "http://127.0.0.1:5555/"


@pytest.fixture(scope="module")
def dashboard(
    settings: Settings, platform_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiProcess]:
    env = {
        **platform_env,
        "CRAWLFLEET_API_TOKENS": f"team-a:{TOKEN}:submit+deploy,team-b:{OTHER_TENANT_TOKEN}",
        "CRAWLFLEET_FLOWER_URL": FLOWER_URL,
    }
    server = ApiProcess(env, tmp_path_factory.mktemp("dashboard") / "crawlfleet-api.log")
    yield server
    server.stop()


@pytest.fixture
def api_client(dashboard: ApiProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dashboard.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as client:
        yield client


@pytest.fixture
def held_site() -> Iterator[HeldWebsite]:
    """A site whose crawls fetch `/slow/0` and `/slow/1`, then wait for `release()`."""
    site = HeldWebsite(held_from=2)
    yield site
    site.stop()


@pytest.fixture
def signed_in(browser_session: BrowserSession, dashboard: ApiProcess) -> BrowserSession:
    """A browser tab on the dashboard, signed in with team-a's token."""
    page = browser_session.page
    page.goto(f"{dashboard.url}/")
    page.get_by_label("API token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Jobs").wait_for()
    return browser_session

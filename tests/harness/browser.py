"""A real headless Chromium (Debian's `chromium`), driven by Playwright.

Playwright never downloads a browser here: it launches the system's binary. Every
context refuses, and records, any request that would leave loopback, so a page that
reached for a CDN fails its test instead of quietly loading from the internet.
Screenshots go to `CRAWLFLEET_TEST_ARTIFACTS` (default `.run/test-artifacts`, which
git ignores); the run's summary prints where."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
# A laptop screen.
VIEWPORT = {"width": 1366, "height": 768}
ARTIFACTS = Path(os.environ.get("CRAWLFLEET_TEST_ARTIFACTS", ".run/test-artifacts")).resolve()
SCREENSHOTS = ARTIFACTS / "screenshots"


@dataclass
class OffsiteRequests:
    """Requests a page tried to send off this machine; each was aborted."""

    urls: list[str] = field(default_factory=list)

    def refuse(self, route: Route) -> None:
        if (urlsplit(route.request.url).hostname or "") in LOOPBACK_HOSTS or route.request.url.startswith(
            ("data:", "blob:", "about:")
        ):
            route.continue_()
        else:
            self.urls.append(route.request.url)
            route.abort()


@dataclass
class BrowserSession:
    """A fresh context (its own storage, so its own sessionStorage) with a page."""

    context: BrowserContext
    page: Page
    offsite: OffsiteRequests

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


# Module-scoped: while Playwright's sync API runs, its event loop is the main thread's
# running loop, and a later test calling asyncio.run() would fail.
@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def chromium(playwright_driver: Playwright) -> Iterator[Browser]:
    """Playwright's `launch` gives the browser a fresh temporary user-data directory."""
    if shutil.which(CHROMIUM) is None:
        raise RuntimeError(f"{CHROMIUM} is missing; `make test` installs it (apt-get install chromium)")
    browser = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


@pytest.fixture
def browser_session(chromium: Browser) -> Iterator[BrowserSession]:
    context = chromium.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    offsite = OffsiteRequests()
    context.route("**/*", offsite.refuse)
    session = BrowserSession(context, context.new_page(), offsite)
    yield session
    context.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SCREENSHOTS.is_dir() and any(SCREENSHOTS.iterdir()):
        terminalreporter.write_line(f"browser screenshots: {SCREENSHOTS}")

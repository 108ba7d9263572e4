"""The API under test, always over real HTTP: a `crawlfleet-api` process for the
job path end to end, and uvicorn servers in this process for apps built with
particular settings (tokens, unreachable Redis)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from crawlfleet_api.config import ApiSettings
from crawlfleet_api.main import create_app
from crawlfleet_core.settings import Settings
from tests.harness.api_process import ApiProcess
from tests.harness.ports import free_port, wait_until

ServeApp = Callable[..., httpx.Client]


class InProcessServer:
    """A real uvicorn server on a free loopback port, in a thread of the test process."""

    def __init__(self, settings: ApiSettings) -> None:
        self.port = free_port()
        # ws="none": no websocket routes here, and the websockets library's
        # import-time deprecation warnings would fail the suite.
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, log_level="warning", ws="none", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_until(lambda: self.server.started, 15, "the in-process API server to start")
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)

    def stop(self) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(15)


@pytest.fixture(scope="session")
def api_process(
    settings: Settings, platform_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiProcess]:
    server = ApiProcess(platform_env, tmp_path_factory.mktemp("api") / "crawlfleet-api.log")
    yield server
    server.stop()


@pytest.fixture
def api(api_process: ApiProcess) -> Iterator[httpx.Client]:
    """A client of the `crawlfleet-api` process (authentication off)."""
    with httpx.Client(base_url=api_process.url, timeout=30) as client:
        yield client


@pytest.fixture
def serve_app(settings: Settings) -> Iterator[ServeApp]:
    """Serve an app built with the test platform's settings plus `overrides`; a client of it."""
    servers: list[InProcessServer] = []

    def serve(**overrides: Any) -> httpx.Client:
        server = InProcessServer(ApiSettings(**overrides))
        servers.append(server)
        return server.client

    yield serve
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def local_api(settings: Settings) -> Iterator[httpx.Client]:
    """One in-process app with the default API settings, shared by a module's tests."""
    server = InProcessServer(ApiSettings())
    yield server.client
    server.stop()


@pytest.fixture
def dead_redis_url() -> str:
    """A Redis URL on which nothing listens."""
    return f"redis://127.0.0.1:{free_port()}/0"

"""Session-wide real components: Redis, a website to crawl, Celery workers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crawlfleet_core.service import JobService
from crawlfleet_core.settings import Settings
from tests.harness.celery_worker import CeleryWorker
from tests.harness.redis_server import RedisServer
from tests.harness.website import Website

pytest_plugins = ["tests.harness.k8s_fixtures", "tests.harness.browser"]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def platform_env(redis_server: RedisServer) -> dict[str, str]:
    """The environment every component of the platform under test runs with."""
    return {
        **redis_server.platform_env(),
        "CRAWLFLEET_ALLOWED_NETWORKS": "127.0.0.0/8",
        "CRAWLFLEET_SOFT_TIME_LIMIT_SECONDS": "120",
        "CRAWLFLEET_HARD_TIME_LIMIT_SECONDS": "150",
        "CRAWLFLEET_VISIBILITY_TIMEOUT_SECONDS": "180",
        # Many tests keep jobs PENDING on queues that nothing serves; tests of the
        # queue rule itself turn this off.
        "CRAWLFLEET_EXTRA_QUEUES": "*",
    }


@pytest.fixture(scope="session")
def settings(platform_env: dict[str, str], monkeypatch_session: pytest.MonkeyPatch) -> Settings:
    for name, value in platform_env.items():
        monkeypatch_session.setenv(name, value)
    return Settings()


@pytest.fixture(scope="session")
def monkeypatch_session() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="session")
def job_service(settings: Settings) -> JobService:
    return JobService.from_settings(settings)


@pytest.fixture(scope="session")
def website() -> Iterator[Website]:
    site = Website()
    yield site
    site.stop()


@pytest.fixture(scope="session")
def celery_worker(
    job_service: JobService, platform_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CeleryWorker]:
    worker = CeleryWorker(job_service.app, platform_env, tmp_path_factory.mktemp("workers"))
    yield worker
    worker.stop()


@pytest.fixture
def worker_factory(
    job_service: JobService, platform_env: dict[str, str], tmp_path: Path
) -> Iterator[type[CeleryWorker]]:
    """Start extra workers (for tests that kill them); each is stopped after the test."""
    started: list[CeleryWorker] = []

    def start(**kwargs: object) -> CeleryWorker:
        worker = CeleryWorker(job_service.app, platform_env, tmp_path / "workers", **kwargs)  # type: ignore[arg-type]
        started.append(worker)
        return worker

    yield start  # type: ignore[misc]
    for worker in started:
        worker.stop()

"""A 202 means the job's task is in the broker, even when the API process that took the
job died between recording it and publishing it. The crash is real: a `crawlfleet-api`
process is SIGKILLed while its publish waits on a broker Redis that was stopped
(SIGSTOP) after the job store had recorded the job. Job store and broker are Redis
servers of the test's own, with the shipped defaults."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from crawlfleet_core.service import JobService
from crawlfleet_core.store.keys import queue_lists
from tests.api.conftest import ApiProcess
from tests.harness.celery_worker import CeleryWorker
from tests.harness.platform import production_env, production_settings
from tests.harness.ports import wait_until
from tests.harness.redis_server import RedisServer
from tests.harness.website import Website

QUEUE = "default"


@dataclass
class SplitPlatform:
    """The job store and results in one Redis, the broker in another, so that the
    broker can stop answering while the job store still does."""

    stores: RedisServer
    broker: RedisServer
    directory: Path

    @property
    def env(self) -> dict[str, str]:
        return production_env(self.broker.url(0), self.stores.url(1), self.stores.url(2))

    def messages(self) -> list[str]:
        """Ids of the tasks waiting in the queue, one per message."""
        broker = self.broker.client(0)
        return [
            json.loads(message)["headers"]["id"]
            for name in queue_lists(QUEUE)
            for message in broker.lrange(name, 0, -1)
        ]

    def recorded_jobs(self) -> list[str]:
        return [key.removeprefix("crawlfleet:job:") for key in self.stores.client(2).scan_iter("crawlfleet:job:*")]

    def crash_between_record_and_publish(self, spec: dict[str, Any], headers: dict[str, str]) -> str:
        """Submit through an API process that is killed after recording the job and before publishing it."""
        api = ApiProcess(self.env, self.directory / "crashed-api.log")
        self.broker.process.send_signal(signal.SIGSTOP)
        try:
            request = threading.Thread(target=self._post, args=(api.url, spec, headers), daemon=True)
            request.start()
            recorded = wait_until(self.recorded_jobs, 30, "the API to record the job")
            api.process.kill()
            api.process.wait(10)
            request.join(10)
        finally:
            self.broker.process.send_signal(signal.SIGCONT)
        api.log.close()
        assert self.messages() == [], "the publish was not dropped"
        assert isinstance(recorded, list) and len(recorded) == 1
        return str(recorded[0])

    @staticmethod
    def _post(url: str, spec: dict[str, Any], headers: dict[str, str]) -> None:
        with contextlib.suppress(httpx.HTTPError):  # the API dies mid-request
            httpx.post(f"{url}/v1/jobs", json=spec, headers=headers, timeout=60)


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[SplitPlatform]:
    platform = SplitPlatform(RedisServer(tmp_path / "stores"), RedisServer(tmp_path / "broker"), tmp_path)
    yield platform
    platform.broker.process.send_signal(signal.SIGCONT)
    platform.broker.stop()
    platform.stores.stop()


def test_a_retry_with_the_same_idempotency_key_answers_202_only_once_the_task_is_queued(
    platform: SplitPlatform, website: Website
) -> None:
    spec = {"startUrls": [website.url("/page/0")], "maxPages": 1}
    key = {"Idempotency-Key": "crashed-submission"}
    job_id = platform.crash_between_record_and_publish(spec, key)

    restarted = ApiProcess(platform.env, platform.directory / "api.log")
    try:
        response = httpx.post(f"{restarted.url}/v1/jobs", json=spec, headers=key, timeout=60)
        assert response.status_code == 202, response.text
        assert response.json()["id"] == job_id
        assert platform.messages() == [job_id], "a 202 for a job whose task is not in the broker (or is twice)"
        again = httpx.post(f"{restarted.url}/v1/jobs", json=spec, headers=key, timeout=60)
        assert (again.status_code, again.json()["id"]) == (202, job_id)
        assert platform.messages() == [job_id]
    finally:
        restarted.stop()


def test_a_job_whose_submitter_died_before_publishing_is_published_by_the_api_and_runs(
    platform: SplitPlatform, website: Website
) -> None:
    spec = {"startUrls": [website.url("/page/0")], "maxPages": 1}
    job_id = platform.crash_between_record_and_publish(spec, {})

    api = ApiProcess(platform.env, platform.directory / "api.log")
    service = JobService.from_settings(production_settings(platform.env))
    worker: CeleryWorker | None = None
    try:
        wait_until(lambda: platform.messages() == [job_id], 30, "another API process to publish the job")
        worker = CeleryWorker(service.app, platform.env, platform.directory / "workers")

        def finished() -> bool:
            return httpx.get(f"{api.url}/v1/jobs/{job_id}").json()["state"] in ("SUCCESS", "FAILURE")

        wait_until(finished, 60, "the job to finish")
        assert httpx.get(f"{api.url}/v1/jobs/{job_id}").json()["state"] == "SUCCESS"
    finally:
        if worker is not None:
            worker.stop()
        api.stop()
        service.app.close()

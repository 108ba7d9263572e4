"""Job webhooks: a real worker POSTs a signed summary to a local receiver that checks
the signature with the snippet docs/webhooks.md gives to users."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from crawlfleet_core.addresses import BlockedAddressError
from crawlfleet_core.service import InvalidSpecError, JobService
from crawlfleet_core.settings import Settings
from tests.harness.celery_worker import CeleryWorker
from tests.harness.jobs import Watch, spec
from tests.harness.ports import free_port, wait_until
from tests.harness.website import HeldWebsite, Website

DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
SECRET = "webhook-test-secret"
QUEUE = "webhooks"
LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]


def documented_verify() -> Callable[[str, str, bytes], bool]:
    """The `verify` function of the snippet in docs/webhooks.md, exactly as written there."""
    snippet = re.search(r"```python\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)
    assert snippet is not None
    namespace: dict[str, Any] = {}
    exec(snippet.group(1), namespace)  # noqa: S102 - the documentation's own example
    verify: Callable[[str, str, bytes], bool] = namespace["verify"]
    return verify


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes

    def job(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        assert parsed["event"] == "job.finished"
        return dict(parsed["job"])


@dataclass
class Receiver:
    """A webhook receiver on loopback that answers `failures` 503s before its 200s."""

    host: str = "127.0.0.1"
    failures: int = 0
    deliveries: list[Delivery] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.deliveries.append(Delivery(dict(self.headers), body))
                status = 503 if len(receiver.deliveries) <= receiver.failures else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer((self.host, free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.server.server_address[1]}/hooks/crawlfleet"

    def wait_for(self, count: int) -> list[Delivery]:
        wait_until(lambda: len(self.deliveries) >= count, 60, f"{count} webhook deliveries", interval=0.05)
        return self.deliveries

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def job_service(settings: Settings) -> JobService:
    """The job service of a platform that signs webhooks (without a key, it refuses a callbackUrl)."""
    return JobService.from_settings(settings.model_copy(update={"webhook_secret": SECRET}))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hooks = Receiver()
    yield hooks
    hooks.stop()


@pytest.fixture
def hooks_worker(worker_factory: type[CeleryWorker]) -> CeleryWorker:
    """A worker with the webhook secret and quick retries, on a queue of its own."""
    return worker_factory(  # type: ignore[call-arg]
        queues=QUEUE,
        extra_env={"CRAWLFLEET_WEBHOOK_SECRET": SECRET, "CRAWLFLEET_WEBHOOK_BACKOFF_SECONDS": "0.2"},
    )


def test_a_finished_job_posts_its_signed_summary_once(
    job_service: JobService, hooks_worker: CeleryWorker, website: Website, receiver: Receiver
) -> None:
    verify = documented_verify()
    job_id = job_service.submit(
        spec(startUrls=[website.url("/page/10")], maxPages=1, queue=QUEUE, callbackUrl=receiver.url)
    )
    Watch(job_service, job_id).finished()
    delivery = receiver.wait_for(1)[0]
    assert verify(SECRET, delivery.headers["Crawlfleet-Signature"], delivery.body)
    assert not verify("another-secret", delivery.headers["Crawlfleet-Signature"], delivery.body)
    assert not verify(SECRET, delivery.headers["Crawlfleet-Signature"], delivery.body.replace(b"1", b"2"))
    assert delivery.headers["Content-Type"] == "application/json"
    job = delivery.job()
    assert job["id"] == job_id
    assert job["state"] == "SUCCESS"
    assert job["progress"]["pages"] == 1
    assert job["result"]["finish_reason"] == "finished"
    assert job["finishedAt"] is not None

    # A second job's webhook comes after the first's; the first is not repeated.
    second = job_service.submit(
        spec(startUrls=[website.url("/page/11")], maxPages=1, queue=QUEUE, callbackUrl=receiver.url)
    )
    Watch(job_service, second).finished()
    assert [delivery.job()["id"] for delivery in receiver.wait_for(2)] == [job_id, second]


def test_a_failing_receiver_is_retried_until_it_answers(
    job_service: JobService, hooks_worker: CeleryWorker, website: Website
) -> None:
    verify = documented_verify()
    flaky = Receiver(failures=2)
    try:
        job_id = job_service.submit(
            spec(startUrls=[website.url("/page/12")], maxPages=1, queue=QUEUE, callbackUrl=flaky.url)
        )
        deliveries = flaky.wait_for(3)
    finally:
        flaky.stop()
    assert len({delivery.body for delivery in deliveries}) == 1, "every attempt carries the same summary"
    assert all(verify(SECRET, delivery.headers["Crawlfleet-Signature"], delivery.body) for delivery in deliveries)
    assert deliveries[0].job()["id"] == job_id


def test_a_failed_job_reports_its_error(
    job_service: JobService, hooks_worker: CeleryWorker, receiver: Receiver
) -> None:
    nothing_listens = f"http://127.0.0.1:{free_port()}/"
    job_id = job_service.submit(spec(startUrls=[nothing_listens], retries=0, queue=QUEUE, callbackUrl=receiver.url))
    job = receiver.wait_for(1)[0].job()
    assert job["id"] == job_id
    assert job["state"] == "FAILURE"
    assert "no page was fetched" in job["error"] or "Connection" in job["error"]


def test_a_cancelled_crawl_reports_revoked(
    job_service: JobService, hooks_worker: CeleryWorker, receiver: Receiver
) -> None:
    held = HeldWebsite(held_from=2)
    try:
        job_id = job_service.submit(
            spec(startUrls=[held.url("/slow/0")], maxPages=50, maxDepth=50, queue=QUEUE, callbackUrl=receiver.url)
        )
        Watch(job_service, job_id).until(lambda status: status.progress.pages >= 2, what="two pages crawled")
        job_service.cancel(job_id)
        job = receiver.wait_for(1)[0].job()
    finally:
        held.stop()
    assert job["id"] == job_id
    assert job["state"] == "REVOKED"


def test_a_callback_to_a_refused_address_is_not_sent(
    job_service: JobService, worker_factory: type[CeleryWorker], website: Website
) -> None:
    # The crawl may reach 127.0.0.1 only; the receiver listens on 127.0.0.2.
    elsewhere = Receiver(host="127.0.0.2")
    worker = worker_factory(  # type: ignore[call-arg]
        queues="webhooks-guarded",
        extra_env={"CRAWLFLEET_WEBHOOK_SECRET": SECRET, "CRAWLFLEET_ALLOWED_NETWORKS": "127.0.0.1/32"},
    )
    try:
        job_id = job_service.submit(
            spec(startUrls=[website.url("/page/9")], maxPages=1, queue="webhooks-guarded", callbackUrl=elsewhere.url)
        )
        assert Watch(job_service, job_id).finished().state == "SUCCESS"
        wait_until(
            lambda: "webhook not delivered: callbackUrl host '127.0.0.2'" in worker.log_path.read_text(),
            60,
            "the worker to log the refused callback",
            interval=0.2,
        )
    finally:
        elsewhere.stop()
    assert elsewhere.deliveries == []
    assert "is not a public address" in worker.log_path.read_text()


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.8/hook",
        "http://[fd00::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
    ],
)
def test_the_address_policy_refuses_private_callbacks(url: str) -> None:
    from crawlfleet_workers.webhooks import callback_target

    with pytest.raises(BlockedAddressError, match="not a public address"):
        callback_target(url, [])


def test_an_allowed_callback_goes_to_the_checked_address_with_its_own_host() -> None:
    from crawlfleet_workers.webhooks import callback_target

    target = callback_target("http://localhost:8123/hooks?x=1", LOOPBACK)
    assert target.url == "http://127.0.0.1:8123/hooks?x=1"
    assert target.host_header == "localhost:8123"
    assert target.tls_name is None
    secure = callback_target("https://127.0.0.1/hooks", LOOPBACK)
    assert (secure.url, secure.host_header, secure.tls_name) == ("https://127.0.0.1/hooks", "127.0.0.1", None)


def test_the_signature_is_hmac_sha256_of_the_timestamp_and_body() -> None:
    from crawlfleet_workers.webhooks import signature

    header = signature("key", 1700000000, b'{"a": 1}')
    assert header == "t=1700000000,v1=" + hmac.new(b"key", b'1700000000.{"a": 1}', hashlib.sha256).hexdigest()


def test_a_platform_without_a_signing_key_refuses_a_callback(settings: Settings) -> None:
    unsigned = JobService.from_settings(settings.model_copy(update={"webhook_secret": ""}))
    with pytest.raises(InvalidSpecError, match="CRAWLFLEET_WEBHOOK_SECRET") as refused:
        unsigned.submit(spec(startUrls=["https://example.com/"], queue=QUEUE, callbackUrl="https://hooks.example/"))
    assert refused.value.field == "callbackUrl"

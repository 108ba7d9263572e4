"""Job webhooks: when a job with a `callbackUrl` ends (SUCCESS, FAILURE or REVOKED),
POST its final status there, signed, retried with backoff.

The worker that sees the end announces it (`task_postrun` of the crawl, or
`task_revoked` when a crawl is terminated or a cancelled task discarded); the first
announcement claims the job's webhook in Redis, so it is sent once however many
signals fire, and the delivery runs as a task of its own (`crawlfleet.webhook`) on the
job's queue, where Celery retries it without holding a crawl slot.

The body is `{"event": "job.finished", "job": <JobStatus>}`. The header
`Crawlfleet-Signature: t=<unix seconds>,v1=<hex>` carries HMAC-SHA256 of
`<t>.<body>` under `CRAWLFLEET_WEBHOOK_SECRET`; a receiver recomputes it and checks
that `t` is recent (docs/webhooks.md). The callback's host goes through the crawls'
address policy: it is resolved here, every address is checked, and the request is
sent to an address that passed, so DNS cannot point it elsewhere in between."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from celery import Task, signals
from celery.result import AsyncResult

from crawlfleet_core.addresses import BlockedAddressError, allowed_addresses, parse_address
from crawlfleet_core.celery_app import CRAWL_TASK, WEBHOOK_TASK
from crawlfleet_core.model.status import JobStatus, job_status
from crawlfleet_core.settings import Network, get_settings
from crawlfleet_core.store import keys
from crawlfleet_workers.app import app
from crawlfleet_workers.bookkeeping import job_store

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Crawlfleet-Signature"
DELIVERY_TIMEOUT_SECONDS = 10.0
# Answers worth trying again: the receiver is busy, down or being deployed.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
DEFAULT_PORTS = {"http": 80, "https": 443}


class WebhookRefusedError(Exception):
    """The receiver answered in a way a retry will not change (a 4xx, a redirect)."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The value of the signature header for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def payload(status: JobStatus) -> bytes:
    return json.dumps({"event": "job.finished", "job": status.model_dump(mode="json", by_alias=True)}).encode()


@dataclass(frozen=True)
class Target:
    """Where a callback is sent: an address that passed the policy, and the URL's own host."""

    url: str
    host_header: str
    tls_name: str | None


def callback_target(url: str, networks: list[Network]) -> Target:
    """Where to send `url`'s request: the first of its host's addresses that the policy
    allows; BlockedAddressError when there is none."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        address = allowed_addresses(host, parts.port or DEFAULT_PORTS[parts.scheme.lower()], networks)[0]
    except BlockedAddressError as error:
        raise BlockedAddressError(f"callbackUrl host {error}") from None
    literal = f"[{address}]" if address.version == 6 else str(address)
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    tls_name = host if parts.scheme.lower() == "https" and parse_address(host) is None else None
    return Target(urlunsplit(parts._replace(netloc=netloc)), parts.netloc.rpartition("@")[2], tls_name)


def deliver(url: str, body: bytes, secret: str, networks: list[Network]) -> int:
    """POST `body` once; the receiver's status. Raises WebhookRefusedError for an answer
    a retry will not change, httpx.HTTPError or a retryable status as RuntimeError otherwise."""
    target = callback_target(url, networks)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "crawlfleet-webhook/1",
        "Host": target.host_header,
        SIGNATURE_HEADER: signature(secret, int(time.time()), body),
    }
    extensions = {"sni_hostname": target.tls_name} if target.tls_name else {}
    # trust_env off: a proxy from the environment would connect on our behalf, past the policy.
    with httpx.Client(timeout=DELIVERY_TIMEOUT_SECONDS, follow_redirects=False, trust_env=False) as client:
        response = client.post(target.url, content=body, headers=headers, extensions=extensions)
    if response.is_success:
        return response.status_code
    if response.status_code in RETRYABLE_STATUSES:
        raise RuntimeError(f"the receiver answered {response.status_code}")
    raise WebhookRefusedError(f"the receiver answered {response.status_code}; not retried")


def final_status(job_id: str) -> JobStatus | None:
    record = job_store().get(job_id)
    if record is None:
        return None
    result: AsyncResult[Any] = AsyncResult(job_id, app=app)
    return job_status(record, result.state, result.info, result.date_done)


def announce_end(job_id: str) -> None:
    """Queue the job's webhook if it has a callback, has ended, and nobody queued it yet."""
    store = job_store()
    record = store.get(job_id)
    if record is None or record.spec.callback_url is None:
        return
    status = final_status(job_id)
    if status is None or not status.state.finished:
        return
    if not store.client.set(keys.webhook_claim(job_id), "1", nx=True, ex=store.ttl_seconds):
        return
    app.send_task(WEBHOOK_TASK, args=[job_id], queue=record.spec.queue)


@signals.task_postrun.connect
def _crawl_ended(task_id: str, sender: Task[Any, Any] | None = None, **_: Any) -> None:
    if sender is not None and sender.name == CRAWL_TASK:
        announce_end(task_id)


@signals.task_revoked.connect
def _crawl_revoked(sender: Task[Any, Any] | None = None, request: Any = None, **_: Any) -> None:
    if sender is not None and sender.name == CRAWL_TASK and request is not None:
        announce_end(request.id)


@app.task(name=WEBHOOK_TASK, bind=True, acks_late=True)
def send_webhook(self: Task[Any, Any], job_id: str) -> dict[str, Any]:
    """Deliver the job's webhook; retried with exponential backoff while the receiver
    cannot be reached or answers 5xx, 408 or 429."""
    settings = get_settings()
    status = final_status(job_id)
    record = job_store().get(job_id)
    if status is None or record is None or record.spec.callback_url is None:
        return {"delivered": False, "reason": "the job expired"}
    if not settings.webhook_secret:
        log.warning("job %s: not sending its webhook: CRAWLFLEET_WEBHOOK_SECRET is empty on this worker", job_id)
        return {"delivered": False, "reason": "no webhook secret"}
    try:
        code = deliver(record.spec.callback_url, payload(status), settings.webhook_secret, settings.allowed_networks)
    except (BlockedAddressError, WebhookRefusedError) as error:
        log.warning("job %s: webhook not delivered: %s", job_id, error)
        return {"delivered": False, "reason": str(error)}
    except (httpx.HTTPError, RuntimeError) as error:
        attempt = self.request.retries + 1
        log.info("job %s: webhook attempt %d failed: %s", job_id, attempt, error)
        if attempt >= settings.webhook_attempts:
            return {"delivered": False, "reason": f"{attempt} attempts failed, the last: {error}"}
        raise self.retry(
            countdown=settings.webhook_backoff_seconds * 2**self.request.retries, max_retries=None
        ) from None
    return {"delivered": True, "status": code, "attempts": self.request.retries + 1}

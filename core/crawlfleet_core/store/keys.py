"""Redis key names, in one place so that every component reads what another wrote."""

from __future__ import annotations

PREFIX = "crawlfleet"

# Celery's Redis transport keeps one list per priority step of a queue; the
# highest step (0) is the bare queue name, the others carry this separator.
PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = tuple(range(10))


def job_record(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}"


def job_items(job_id: str) -> str:
    return f"{PREFIX}:items:{job_id}"


def webhook_claim(job_id: str) -> str:
    """Set by the first of the worker signals that announce a job's end, so its webhook is sent once."""
    return f"{PREFIX}:webhook:{job_id}"


def jobs_index(tenant: str | None = None) -> str:
    """The stream of every job id in submission order, or of one tenant's jobs."""
    return f"{PREFIX}:jobs" if tenant is None else f"{PREFIX}:jobs:tenant:{tenant}"


def idempotency(key: str) -> str:
    return f"{PREFIX}:idempotency:{key}"


def worker_activity_key(pod: str) -> str:
    """Where the worker running in `pod` reports how many tasks it holds."""
    return f"{PREFIX}:worker:{pod}:held"


def pool_reports() -> str:
    """The hash of the operator's last report on each WorkerPool (field `namespace/name`)."""
    return f"{PREFIX}:pools"


def queue_lists(queue: str) -> list[str]:
    """Every Redis list that holds waiting tasks of `queue`, highest priority first."""
    return [queue if step == 0 else f"{queue}{PRIORITY_SEPARATOR}{step}" for step in PRIORITY_STEPS]


def served_queues() -> str:
    """The queues some worker or WorkerPool serves, each scored by when its last announcement expires."""
    return f"{PREFIX}:queues:served"

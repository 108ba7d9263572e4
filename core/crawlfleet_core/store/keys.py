"""Redis key names, in one place so that every component reads what another wrote."""

from __future__ import annotations

PREFIX = "crawlfleet"

# Celery's Redis transport keeps one list per priority step of a queue; the
# highest step (0) is the bare queue name, the others carry this separator.
PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = tuple(range(10))

# kombu.transport.redis.Channel.unacked_key / unacked_index_key: what kombu delivered
# and no worker has acknowledged yet. Our Celery app sets no other names and no global
# key prefix.
UNACKED = "unacked"
UNACKED_INDEX = "unacked_index"


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


# Jobs recorded and not yet published, scored by when they were submitted, so that a
# sweep finds the job of a submitter that died between the two.
UNPUBLISHED_JOBS = f"{PREFIX}:unpublished"


def publishing_claim(job_id: str) -> str:
    """Held, with a TTL, by whoever is publishing the job's task, so that two never both do."""
    return f"{PREFIX}:publishing:{job_id}"


def job_item_keys(job_id: str) -> str:
    """The keys of the items stored in the job's stream, each kept once."""
    return f"{PREFIX}:item-keys:{job_id}"


def idempotency(key: str) -> str:
    return f"{PREFIX}:idempotency:{key}"


def worker_activity_key(pod: str) -> str:
    """The heartbeat of the worker running in `pod`: the tasks it holds, with a short TTL."""
    return f"{PREFIX}:worker:{pod}:held"


# Pods with a heartbeat, scored by when it runs out (Redis's clock), so that the
# restore script finds every heartbeat without scanning the key space.
WORKERS = f"{PREFIX}:workers"
# Delivery tags of unacknowledged tasks that no heartbeat names, with when that was first seen.
UNNAMED_TASKS = f"{PREFIX}:unnamed-tasks"
# Held by whichever worker sweeps for tasks of dead workers, so that the fleet sweeps once per interval.
RESTORE_LOCK = f"{PREFIX}:restore-lock"


def pool_reports() -> str:
    """The hash of the operator's last report on each WorkerPool (field `namespace/name`)."""
    return f"{PREFIX}:pools"


def queue_lists(queue: str) -> list[str]:
    """Every Redis list that holds waiting tasks of `queue`, highest priority first."""
    return [queue if step == 0 else f"{queue}{PRIORITY_SEPARATOR}{step}" for step in PRIORITY_STEPS]


def job_log(job_id: str) -> str:
    """The stream of the job's crawl log lines."""
    return f"{PREFIX}:log:{job_id}"


def tenant_projects(tenant: str) -> str:
    """The set of the names of the projects `tenant` deployed."""
    return f"{PREFIX}:projects:{tenant}"


def project_versions(tenant: str, project: str) -> str:
    """The hash of a deployed project's versions: version -> ProjectVersion JSON."""
    return f"{PREFIX}:project:{tenant}:{project}"


def project_egg(tenant: str, project: str, version: str) -> str:
    """The egg of one deployed version."""
    return f"{PREFIX}:egg:{tenant}:{project}:{version}"


def installed_projects() -> str:
    """The set of the names of the projects installed in some pool's worker image."""
    return f"{PREFIX}:installed"


def installed_project(project: str) -> str:
    """The hash of the pools that have `project` installed: queue -> InstalledProject JSON."""
    return f"{PREFIX}:installed:{project}"


FRONTIER_PARTS = ("queue", "requests", "seen", "in-flight", "counters", "shards")
"""The parts of a job's crawl frontier (`crawlfleet_core.store.frontier`), in the order its scripts take them."""


def frontier_keys(job_id: str) -> list[str]:
    """The keys of the job's crawl frontier, one per part of `FRONTIER_PARTS`."""
    return [f"{PREFIX}:frontier:{job_id}:{part}" for part in FRONTIER_PARTS]


def served_queues() -> str:
    """The queues some worker or WorkerPool serves, each scored by when its last announcement expires."""
    return f"{PREFIX}:queues:served"

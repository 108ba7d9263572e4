"""A worker lost mid-crawl: jobs on two workers of a platform of their own (its own
Redis, the shipped defaults), one worker's whole process group SIGKILLed while every
job is crawling, and what became of each job. The fault test asserts on it and the
benchmark prints its figures."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from crawlfleet_core.model.states import JobState
from crawlfleet_core.service import JobService
from tests.harness.celery_worker import CeleryWorker
from tests.harness.jobs import CursorReader, spec
from tests.harness.platform import production_env, production_settings, queued_task_ids
from tests.harness.ports import wait_until
from tests.harness.redis_server import RedisServer
from tests.harness.website import HeldWebsite

CHAIN = 1000
VICTIM, SURVIVOR = "pod-victim", "pod-survivor"


class HeldChains(HeldWebsite):
    """Job n crawls a chain of its own, `/slow/<1000 n>`, `/slow/<1000 n + 1>`, ...;
    the pages from the `held_from`th of each chain on answer only after `release()`."""

    def __init__(self, held_from: int) -> None:
        super().__init__(held_from)
        self.slow_delay = 0.2

    def holds(self, index: int) -> bool:
        return index % CHAIN >= self.held_from

    def start_url(self, job: int) -> str:
        return self.url(f"/slow/{CHAIN * job}")

    def runs(self, job: int) -> int:
        """How many times job n's crawl started: fetches of its chain's first page."""
        return self.paths_requested().count(f"/slow/{CHAIN * job}")


class Fleet:
    """A Redis, a job service and workers of their own, all with the shipped defaults."""

    def __init__(self, directory: Path) -> None:
        self.redis = RedisServer(directory / "redis")
        self.env = production_env(self.redis.url(0), self.redis.url(1), self.redis.url(2))
        self.service = JobService.from_settings(production_settings(self.env))
        self.log_dir = directory / "workers"
        self.workers: list[CeleryWorker] = []

    def start_worker(self, pod: str, concurrency: int) -> CeleryWorker:
        worker = CeleryWorker(
            self.service.app, self.env, self.log_dir, concurrency=concurrency, extra_env={"CRAWLFLEET_POD_NAME": pod}
        )
        self.workers.append(worker)
        return worker

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.service.app.close()
        self.redis.stop()


@dataclass(frozen=True)
class Figures:
    """What a user counts after the loss."""

    submitted: int
    finished: int
    """Jobs that ended in SUCCESS."""
    lost: int
    """Jobs without a record, or not finished."""
    killed_workers_jobs: int
    duplicated_items: int
    """Items that a client reading by cursor got a second time, over every job."""
    live_jobs_run_twice: int
    """Jobs of the worker that lived whose crawl started more than once."""
    redelivery_seconds: list[float]
    """From the kill until each of the killed worker's jobs was back in its queue or taken again."""


@dataclass
class WorkerLoss:
    fleet: Fleet
    site: HeldChains
    jobs: list[str]
    readers: list[CursorReader]
    held: set[str] = field(default_factory=set)
    """The killed worker's jobs."""
    killed_at: float = 0.0
    redelivered: dict[str, float] = field(default_factory=dict)
    """Seconds from the kill until each of the killed worker's jobs was back in its queue or taken again."""
    seen_lost: set[str] = field(default_factory=set)
    """Jobs seen as RETRY naming the lost worker before they were redelivered."""
    violations: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, fleet: Fleet, site: HeldChains, jobs: int, pages: int) -> WorkerLoss:
        """Two workers of `jobs // 2` slots each, and `jobs` crawls of `pages` pages."""
        fleet.start_worker(VICTIM, concurrency=jobs // 2)
        fleet.start_worker(SURVIVOR, concurrency=jobs // 2)
        service = fleet.service
        ids = [
            service.submit(spec(startUrls=[site.start_url(n)], maxPages=pages, maxDepth=100, concurrency=1))
            for n in range(jobs)
        ]
        return cls(fleet, site, ids, [CursorReader(service, job_id) for job_id in ids])

    def kill_mid_crawl(self) -> None:
        """Once every job is crawling (held after its first pages), kill the first worker outright."""
        service, (victim, _) = self.fleet.service, self.fleet.workers

        def crawling(job_id: str) -> bool:
            status = service.status(job_id)
            return (
                status is not None
                and status.state is JobState.PROGRESS
                and status.progress.items == self.site.held_from
            )

        wait_until(lambda: all(crawling(job_id) for job_id in self.jobs), 60, "every job to be crawling")
        self.read_items()
        active = service.app.control.inspect(destination=[victim.name]).active() or {}
        self.held = {task["id"] for task in active.get(victim.name, [])}
        self.killed_at = time.time()
        victim.kill()

    def read_items(self) -> None:
        for reader in self.readers:
            reader.read()

    def all_redelivered(self) -> bool:
        """Whether every job of the killed worker is back in its queue or taken again;
        notes how each read meanwhile. Never raises, so `wait_until` can poll it."""
        service = self.fleet.service
        queued = queued_task_ids(self.fleet.redis.client(0), "default")
        for job_id in self.held - self.redelivered.keys():
            record = service.record(job_id)
            taken_again = record is not None and record.received_at is not None and record.worker == SURVIVOR
            if job_id in queued or taken_again:
                self.redelivered[job_id] = time.time() - self.killed_at
                continue
            status = service.status(job_id)
            if status is not None and status.state is JobState.RETRY:
                if status.error is None or VICTIM not in status.error:
                    self.violations.append(f"{job_id} is RETRY without naming its lost worker: {status.error}")
                self.seen_lost.add(job_id)
            elif job_id in self.seen_lost:
                self.violations.append(f"{job_id} read {status and status.state} after its worker was found lost")
        self.read_items()
        return self.redelivered.keys() == self.held

    def all_finished(self) -> bool:
        self.read_items()
        return all(status.state.finished for job_id in self.jobs if (status := self.fleet.service.status(job_id)))

    def figures(self) -> Figures:
        self.read_items()
        states = [status.state if (status := self.fleet.service.status(job_id)) else None for job_id in self.jobs]
        return Figures(
            submitted=len(self.jobs),
            finished=sum(state is JobState.SUCCESS for state in states),
            lost=sum(state is None or not state.finished for state in states),
            killed_workers_jobs=len(self.held),
            duplicated_items=sum(reader.duplicates for reader in self.readers),
            live_jobs_run_twice=sum(
                self.site.runs(n) > 1 for n, job_id in enumerate(self.jobs) if job_id not in self.held
            ),
            redelivery_seconds=sorted(self.redelivered.values()),
        )

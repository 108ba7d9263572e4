from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.model.states import JobState
from crawlfleet_core.model.status import JobStatus
from crawlfleet_core.service import JobService


def spec(**fields: Any) -> JobSpec:
    return JobSpec.model_validate(fields)


class Watch:
    """Follows a job through the JobService, remembering every state it showed."""

    def __init__(self, service: JobService, job_id: str) -> None:
        self.service = service
        self.job_id = job_id
        self.states: list[JobState] = []
        self.last: JobStatus | None = None

    def poll(self) -> JobStatus:
        status = self.service.status(self.job_id)
        assert status is not None, f"job {self.job_id} has no record"
        if not self.states or self.states[-1] != status.state:
            self.states.append(status.state)
        self.last = status
        return status

    def until(self, done: Callable[[JobStatus], bool], timeout: float = 60, what: str = "") -> JobStatus:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.poll()
            if done(status):
                return status
            time.sleep(0.05)
        raise AssertionError(f"job {self.job_id} never reached {what or done}; states seen: {self.states}")

    def finished(self, timeout: float = 60) -> JobStatus:
        return self.until(lambda status: status.state.finished, timeout, "a finished state")


@dataclass
class CursorReader:
    """A client reading a job's items by cursor while it runs, as the API serves them."""

    service: JobService
    job_id: str
    cursor: str | None = None
    urls: list[str] = field(default_factory=list)

    def read(self) -> None:
        while True:
            page = self.service.store.read_items(self.job_id, self.cursor, 100)
            self.urls.extend(item["url"] for item in page.items)
            self.cursor = page.next_cursor
            if not page.has_more:
                return

    @property
    def duplicates(self) -> int:
        return len(self.urls) - len(set(self.urls))

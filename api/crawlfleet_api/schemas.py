"""Response bodies of the gateway's own (a job's status is the core's JobStatus)."""

from __future__ import annotations

from pydantic import Field

from crawlfleet_core.model.base import CamelModel
from crawlfleet_core.model.states import JobState
from crawlfleet_core.store.pools import PoolReport


class JobLinks(CamelModel):
    self_: str = Field(alias="self", description="The job's status.")
    items: str = Field(description="The job's items, a page at a time.")
    events: str = Field(description="A Server-Sent Events stream of the job's status changes.")


class JobAccepted(CamelModel):
    id: str = Field(description="The job id, which is also its Celery task id.")
    state: JobState = Field(description="The job's state now; PENDING for a new job.")
    links: JobLinks


class Problem(CamelModel):
    """The body of every error answer except 422, whose `detail` lists the fields at fault."""

    detail: str


class Readiness(CamelModel):
    status: str = Field(description="`ready`, or `unavailable` when a Redis database can't be reached.")
    checks: dict[str, str] = Field(description="Each Redis database the API needs, and `ok` or the error.")


class DashboardSettings(CamelModel):
    auth_required: bool = Field(description="Whether the API needs a bearer token (the dashboard then asks for one).")
    flower_url: str | None = Field(description="Where Flower answers, for the dashboard's link; null hides it.")


class QueueLoad(CamelModel):
    queue: str
    queued: int = Field(description="Tasks waiting in the queue now.")
    in_flight: int = Field(description="Tasks workers have taken from it and not finished.")


class PoolsBoard(CamelModel):
    pools: list[PoolReport] = Field(
        description="Each WorkerPool as the operator last reported it; empty where no operator runs."
    )
    queues: list[QueueLoad] = Field(description="The default queue and every pool's queue, measured now.")

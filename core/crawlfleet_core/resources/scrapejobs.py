"""The ScrapeJob custom resource: the single source of its CRD schema and of what
the operator reads from and writes into a ScrapeJob.

Its spec is the job model itself, inherited, plus what only a Kubernetes object
needs: a cron schedule, suspend and a time to live. Rules the API server must
check across fields or across an update are CEL rules carried in the JSON
schema, next to the fields they are about."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic_core import PydanticUndefined

from crawlfleet_core.model.base import CamelModel
from crawlfleet_core.model.conditions import Condition
from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.model.states import JobState
from crawlfleet_core.model.status import Progress

# Five cron fields or one of the macros; croniter checks the rest, the operator surfaces its verdict.
CRON_PATTERN = r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|\S+(\s+\S+){4})$"
# A scheduled run is named `<parent>-<minutes since the epoch>`, and must still be a valid name.
MAX_SCHEDULED_NAME_LENGTH = 52
# The built-in spider's fields that are lists or maps (`itemSelector` is the one other).
BUILT_IN_SPIDER_MAPS = ("startUrls", "allowedDomains", "extract", "cookies")


def _unchanged(model: type[BaseModel]) -> str:
    """A CEL expression true when no field of `model` changed in an update.

    Optional fields are compared through `has()`, not CEL's `?` optionals: those
    hide a field's size bounds from the API server's cost estimate, which then
    refuses the rule as too expensive."""
    comparisons = []
    for name, field in model.model_fields.items():
        alias = field.alias or name
        if field.is_required() or field.default not in (None, PydanticUndefined):
            comparisons.append(f"self.{alias} == oldSelf.{alias}")
        else:
            comparisons.append(
                f"has(self.{alias}) == has(oldSelf.{alias}) && (!has(self.{alias}) || self.{alias} == oldSelf.{alias})"
            )
    return " && ".join(comparisons)


SPEC_RULES: list[dict[str, str]] = [
    {
        "rule": "!has(self.extract) || !('url' in self.extract)",
        "message": "spec.extract may not name a field 'url': every item has the page's url",
        "fieldPath": ".extract",
    },
    {
        "rule": "has(self.project) == has(self.spider)",
        "message": (
            "spec.project and spec.spider go together: name both to run a project's spider, neither for the "
            "built-in one"
        ),
        "fieldPath": ".spider",
    },
    {
        "rule": "has(self.spider) || (has(self.startUrls) && size(self.startUrls) > 0)",
        "message": "spec.startUrls needs a URL for the built-in spider (or name spec.project and spec.spider)",
        "fieldPath": ".startUrls",
    },
    {
        "rule": (
            "!has(self.spider) || ("
            + " && ".join(f"(!has(self.{name}) || size(self.{name}) == 0)" for name in BUILT_IN_SPIDER_MAPS)
            + " && !has(self.itemSelector))"
        ),
        "message": (
            "spec.startUrls, allowedDomains, extract, itemSelector and cookies drive the built-in spider; "
            "a project's spider takes its own arguments in spec.spiderArgs"
        ),
    },
    {
        "rule": "has(self.project) || (!has(self.version) && (!has(self.spiderArgs) || size(self.spiderArgs) == 0))",
        "message": "spec.version and spec.spiderArgs belong to a project's spider: name spec.project and spec.spider",
    },
    {
        "rule": "has(self.schedule) == has(oldSelf.schedule)",
        "message": "spec.schedule cannot be added to or removed from an existing ScrapeJob; create a new one",
        "fieldPath": ".schedule",
    },
    {
        "rule": f"has(self.schedule) || ({_unchanged(JobSpec)})",
        "message": (
            "the crawl of a ScrapeJob without a schedule is immutable (only spec.suspend and "
            "spec.ttlSecondsAfterFinished may change); create a new ScrapeJob to crawl differently"
        ),
    },
]

OBJECT_RULES: list[dict[str, str]] = [
    {
        "rule": f"!has(self.spec.schedule) || size(self.metadata.name) <= {MAX_SCHEDULED_NAME_LENGTH}",
        "message": (
            f"metadata.name of a ScrapeJob with spec.schedule may have at most {MAX_SCHEDULED_NAME_LENGTH} "
            "characters, so that the names of its runs stay valid"
        ),
    },
    {
        # The crawl was handed to a worker; suspending now would pretend to pause what cannot be paused.
        "rule": (
            "has(self.spec.schedule) || !has(oldSelf.status) || !has(oldSelf.status.jobId) "
            "|| self.spec.suspend == oldSelf.spec.suspend"
        ),
        "message": (
            "spec.suspend cannot change once the job was submitted (status.jobId is set); "
            "delete the ScrapeJob to cancel its crawl"
        ),
    },
]


class ScrapeJobSpec(JobSpec):
    """A job, and when and for how long Kubernetes should keep running it."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": SPEC_RULES})  # type: ignore[dict-item]

    schedule: Annotated[str, StringConstraints(max_length=128, pattern=CRON_PATTERN)] | None = Field(
        None,
        description=(
            "Cron schedule in UTC (five fields or a macro such as @hourly); each tick creates a run, a child "
            "ScrapeJob without a schedule. Without it the ScrapeJob is one run, submitted at once."
        ),
    )
    suspend: bool = Field(
        False,
        description=(
            "Hold a ScrapeJob without a schedule unsubmitted, or stop a schedule from creating runs. "
            "Cannot change once the job was submitted."
        ),
    )
    ttl_seconds_after_finished: int | None = Field(
        None,
        ge=0,
        le=31_536_000,
        description="Delete the ScrapeJob this many seconds after its job finished; unset keeps it.",
    )
    history_limit: int = Field(
        3, ge=0, le=100, description="Finished runs of a schedule to keep; older ones are deleted."
    )

    @field_validator("schedule")
    @classmethod
    def _schedule_parses(cls, schedule: str | None) -> str | None:
        if schedule is not None and not croniter.is_valid(schedule):
            raise ValueError(f"{schedule!r} is not a valid cron schedule")
        return schedule

    def job_spec(self) -> JobSpec:
        """The job each run submits: the spec without the Kubernetes-only fields."""
        return JobSpec.model_validate({name: getattr(self, name) for name in JobSpec.model_fields})

    def run_spec(self) -> dict[str, Any]:
        """The spec of a run created by this schedule, as written into the run's object."""
        return self.model_dump(mode="json", by_alias=True, exclude={"schedule"}, exclude_none=True) | {"suspend": False}


class ScrapeJobPhase(StrEnum):
    PENDING = "Pending"
    QUEUED = "Queued"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    SCHEDULED = "Scheduled"

    @property
    def finished(self) -> bool:
        return self in (ScrapeJobPhase.SUCCEEDED, ScrapeJobPhase.FAILED, ScrapeJobPhase.CANCELLED)


class ScrapeJobStatus(CamelModel):
    """What the operator observed of the job; `kubectl get sj` shows its phase and progress."""

    phase: ScrapeJobPhase | None = Field(
        None,
        description=(
            "Pending (not submitted), Queued, Running, Succeeded, Failed, Cancelled; Scheduled for a ScrapeJob "
            "with a schedule, whose runs carry their own phase."
        ),
    )
    job_id: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        None, description="The job's id in the API, Flower and `celery inspect`: the object's uid."
    )
    celery_state: JobState | None = Field(None, description="The job's Celery state as last observed.")
    progress: Progress | None = Field(None, description="Counts of the crawl as last observed.")
    started_at: datetime | None = Field(None, description="When a worker started the crawl.")
    finished_at: datetime | None = Field(None, description="When the job finished, failed or was cancelled.")
    last_schedule_time: datetime | None = Field(None, description="When the schedule last created a run.")
    observed_generation: int | None = Field(
        None, ge=0, description="The metadata.generation this status was computed from."
    )
    conditions: list[Condition] = Field(
        default_factory=list, max_length=16, description="Latest observations of the job's state."
    )

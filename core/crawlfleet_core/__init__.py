"""The shared core of crawlfleet: the job model, job states, Redis key names,
settings and the one way to submit a job. Components import it; it imports none
of them.

Inside, the layers go one way: `service` (submit, read, cancel) uses `store` (Redis)
and `celery_app`; both use `model` and `resources` (plain pydantic models), which use
nothing of the core but each other and `settings`."""

from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.model.states import JobState
from crawlfleet_core.settings import Settings, get_settings

__all__ = ["JobSpec", "JobState", "Settings", "get_settings"]

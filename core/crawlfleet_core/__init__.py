"""The shared core of crawlfleet: the job model, job states, Redis key names,
settings and the one way to submit a job. Components import it; it imports none
of them."""

from crawlfleet_core.jobs import JobSpec
from crawlfleet_core.settings import Settings, get_settings
from crawlfleet_core.states import JobState

__all__ = ["JobSpec", "JobState", "Settings", "get_settings"]

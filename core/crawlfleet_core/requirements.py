"""What a job may ask for only where the platform is set up for it: a `callbackUrl`
needs a webhook signing key, a feed needs its bucket among the platform's.

The API answers a job that asks for more with a 422 naming the field; a worker
fails such a job at once (a ScrapeJob reaches the worker without the API's check)."""

from __future__ import annotations

from dataclasses import dataclass

from crawlfleet_core.model.feeds import bucket_of
from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.settings import Settings


@dataclass(frozen=True)
class Unmet:
    location: tuple[str, ...]
    """Where in the spec, as a 422's `loc` names it (camelCase)."""
    message: str

    def __str__(self) -> str:
        return f"{'.'.join(self.location)}: {self.message}"


def unmet_requirements(spec: JobSpec, settings: Settings) -> list[Unmet]:
    unmet = []
    if spec.callback_url is not None and not settings.webhook_secret:
        unmet.append(
            Unmet(
                ("callbackUrl",),
                "webhooks are off here: the platform has no CRAWLFLEET_WEBHOOK_SECRET to sign them",
            )
        )
    for uri in spec.feeds:
        if bucket_of(uri) not in settings.feeds_s3_buckets:
            allowed = ", ".join(settings.feeds_s3_buckets) or "none: feeds are off here"
            unmet.append(Unmet(("feeds", uri), f"bucket {bucket_of(uri)!r} is not one feeds may write to ({allowed})"))
    return unmet

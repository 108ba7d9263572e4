"""What a job may ask for only where the platform is set up for it: a `callbackUrl`
needs a webhook signing key, a feed needs its bucket among the platform's.

`JobService.submit` refuses a job that asks for more (the API answers 422 naming the
field, the operator fails the ScrapeJob saying why); a worker, whose settings are
its own, checks the feeds again before it crawls."""

from __future__ import annotations

from dataclasses import dataclass

from crawlfleet_core.model.feeds import bucket_of
from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.settings import Settings


@dataclass(frozen=True)
class Unmet:
    field: str
    """The spec's field as a client writes it (camelCase)."""
    value: object
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def unmet_requirements(spec: JobSpec, settings: Settings) -> list[Unmet]:
    unmet = []
    if spec.callback_url is not None and not settings.webhook_secret:
        unmet.append(
            Unmet(
                "callbackUrl",
                spec.callback_url,
                "webhooks are off here: the platform has no CRAWLFLEET_WEBHOOK_SECRET to sign them",
            )
        )
    for uri in spec.feeds:
        if bucket_of(uri) not in settings.feeds_s3_buckets:
            allowed = ", ".join(settings.feeds_s3_buckets) or "none: feeds are off here"
            unmet.append(
                Unmet("feeds", uri, f"{uri}: bucket {bucket_of(uri)!r} is not one feeds may write to ({allowed})")
            )
    return unmet

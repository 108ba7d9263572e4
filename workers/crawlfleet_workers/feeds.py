"""A job's feed exports (its spec's `feeds`): Scrapy's own FeedExporter, given the
job's FEEDS and the platform's S3 credentials, writing nowhere but S3.

Before the crawl starts, the job is failed at once if a feed names a bucket the
platform does not offer, or if the configured S3 endpoint is an address the
platform's policy refuses (a private one must be allowed with
CRAWLFLEET_ALLOWED_NETWORKS, as the tests allow their loopback store); a feed that
fails to upload at the end is counted in the job's result."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from crawlfleet_core.addresses import BlockedAddressError, allowed_addresses
from crawlfleet_core.model.failures import CrawlFailedError
from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.requirements import unmet_requirements
from crawlfleet_core.settings import Settings

S3_STORAGE = "S3FeedStorage"
DEFAULT_PORTS = {"http": 80, "https": 443}
# The spec admits s3:// URIs only; the storages that would reach other servers with
# credentials of their own are off as well. (Scrapy needs its `file` storage to exist:
# it is its fallback when it looks a scheme up.)
NO_OTHER_STORAGES = {scheme: None for scheme in ("stdout", "ftp", "ftps", "gs")}


def check_feeds(spec: JobSpec, settings: Settings) -> None:
    """Raise CrawlFailedError naming what stands in the way of the job's feeds."""
    if not spec.feeds:
        return
    unmet = [str(need) for need in unmet_requirements(spec, settings) if need.field == "feeds"]
    if unmet:
        raise CrawlFailedError("; ".join(unmet))
    endpoint = urlsplit(settings.feeds_s3_endpoint_url)
    if endpoint.hostname:
        try:
            allowed_addresses(
                endpoint.hostname, endpoint.port or DEFAULT_PORTS.get(endpoint.scheme, 443), settings.allowed_networks
            )
        except BlockedAddressError as error:
            raise CrawlFailedError(f"feeds: the S3 endpoint {error}") from None


def feed_settings(spec: JobSpec, settings: Settings) -> dict[str, Any]:
    """The Scrapy settings of the job's feeds; none for a job without any."""
    if not spec.feeds:
        return {}
    return {
        "FEEDS": {uri: options.model_dump(exclude_none=True) for uri, options in spec.feeds.items()},
        "FEED_STORAGES": NO_OTHER_STORAGES,
        "AWS_ACCESS_KEY_ID": settings.feeds_s3_access_key_id or None,
        "AWS_SECRET_ACCESS_KEY": settings.feeds_s3_secret_access_key or None,
        "AWS_ENDPOINT_URL": settings.feeds_s3_endpoint_url or None,
        "AWS_REGION_NAME": settings.feeds_s3_region or None,
    }


def feed_stats(crawler: Any) -> dict[str, int]:
    """How many feed files were stored and how many failed to, for the result of a job with feeds."""
    if not crawler.settings.getdict("FEEDS"):
        return {}
    stats = crawler.stats
    return {
        "feeds_stored": stats.get_value(f"feedexport/success_count/{S3_STORAGE}", 0),
        "feeds_failed": stats.get_value(f"feedexport/failed_count/{S3_STORAGE}", 0),
    }

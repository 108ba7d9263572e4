"""A job's feed exports: Scrapy's `FEEDS` setting, limited to what is safe to take
from a user: S3 URIs (the bucket is checked against the platform's list when the
job is submitted and again when it runs) and plain options, never class paths
(`item_classes`, `item_filter`, `postprocessing` would load code by name)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from crawlfleet_core.model.base import SpecModel

# s3://<bucket>/<key>: a bucket named by S3's rules, a key that may hold Scrapy's
# placeholders (%(name)s, %(time)s, %(batch_id)d ...); no credentials in the URI. The
# pattern bounds the length too (a CRD schema has no length rule for a map key), within
# the 1000 repeats that RE2, the regular expressions of CEL, allows.
FEED_URI_PATTERN = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[^\s@]{1,1000}$"
FeedUri = Annotated[str, StringConstraints(pattern=FEED_URI_PATTERN)]


class FeedOptions(SpecModel):
    """One feed's options, named as in Scrapy's FEEDS (camelCase accepted too)."""

    format: Literal["json", "jsonlines", "jsonl", "csv", "xml"] = Field(description="Scrapy's feed exporter.")
    fields: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] | None = Field(
        None, max_length=100, description="Item fields to export, in this order; all when absent."
    )
    encoding: Literal["utf-8", "latin-1", "ascii"] | None = Field(None, description="Text encoding; utf-8 by default.")
    indent: int | None = Field(None, ge=0, le=8, description="Indentation of json and xml feeds.")
    store_empty: bool = Field(False, description="Upload the feed even when it has no items.")
    batch_item_count: int | None = Field(
        None,
        ge=1,
        description="Start a new file every this many items; the URI then needs %(batch_id)d or %(batch_time)s.",
    )


def bucket_of(uri: str) -> str:
    return uri.removeprefix("s3://").split("/", 1)[0]

"""The platform's own spider as plain Scrapy runs it: `scrapy runspider bench/job_spider.py
-a start_url=URL`, for the baseline of `bench.frontier`."""

from __future__ import annotations

from typing import Any

from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_workers.spider import JobSpider


class PlainJobSpider(JobSpider):
    name = "plain-job"

    def __init__(self, start_url: str, **kwargs: Any) -> None:
        spec = JobSpec.model_validate({"startUrls": [start_url], "maxPages": 1_000_000, "maxDepth": 100})
        super().__init__(spec, **kwargs)

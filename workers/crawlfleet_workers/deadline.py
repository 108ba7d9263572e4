"""The crawl's time limit, held even when downloads hang.

Scrapy's CLOSESPIDER_TIMEOUT closes the crawl at its limit, but closing waits for
the requests in flight, each for up to its download timeout: a page that never
answered kept a crawl with a 3-second limit running for 30 seconds. This downloader
middleware gives every download only the time left until the limit, plus
`GRACE_SECONDS` for the close to go first, so that the crawl ends just after its
limit whatever its downloads do. It is enabled by the crawl's Scrapy settings
(`crawlfleet_workers.crawling`)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Self

from scrapy import Request, signals
from scrapy.exceptions import IgnoreRequest

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

GRACE_SECONDS = 1.0


def download_timeout(current: float, deadline: float, now: float) -> float | None:
    """The timeout of a download starting `now`: its own, cut so that it ends by
    the deadline and its grace; None when that has passed."""
    left = deadline + GRACE_SECONDS - now
    return min(current, left) if left > 0 else None


class DownloadDeadline:
    """Downloader middleware cutting each download's timeout to the crawl's
    deadline: CLOSESPIDER_TIMEOUT seconds after the spider opened."""

    def __init__(self, limit: float, default_timeout: float) -> None:
        self.limit = limit
        self.default_timeout = default_timeout
        self.deadline: float | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        middleware = cls(settings.getfloat("CLOSESPIDER_TIMEOUT"), settings.getfloat("DOWNLOAD_TIMEOUT"))
        crawler.signals.connect(middleware.spider_opened, signal=signals.spider_opened)
        return middleware

    def spider_opened(self) -> None:
        # The moment Scrapy's CloseSpider extension starts counting the same limit from.
        if self.limit:
            self.deadline = time.monotonic() + self.limit

    def process_request(self, request: Request) -> None:
        if self.deadline is None:
            return
        timeout = download_timeout(
            request.meta.get("download_timeout", self.default_timeout), self.deadline, time.monotonic()
        )
        if timeout is None:
            raise IgnoreRequest(f"the crawl's time limit of {self.limit:g} s was reached")
        request.meta["download_timeout"] = timeout

"""The page budget: a crawl fetches exactly `maxPages` pages, or every page it can
reach when there are fewer.

A request holds a slot of the budget from when the scheduler hands it to the engine
until its fetch ends. A page spends the slot. Anything else gives it back: a redirect
or a retry (its new request waits for a slot of its own), a refusal by robots.txt,
the address guard or the off-site filter, an HTTP error, a failed download. The
scheduler hands out a request only while a slot is free, so a crawl never fetches
more pages than its budget, and never stops short while requests wait. Requests
reach the queue through Scrapy's own duplicate filter, so a link that differs only
by its fragment, a duplicate link and a redirect to a page already met take no slot.

Both components are enabled by the crawl's Scrapy settings (`SCHEDULER`, `DOWNLOADER`,
see `crawlfleet_workers.crawling`). The counts are plain values in `PageBudget`, so a
frontier shared by several crawl processes can keep them in Redis instead."""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Self

from scrapy import Request, signals
from scrapy.core.downloader import Downloader
from scrapy.core.scheduler import Scheduler
from scrapy.exceptions import CloseSpider
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError, HttpErrorMiddleware
from scrapy.utils.misc import build_from_crawler

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler
    from scrapy.utils.request import RequestFingerprinterProtocol
    from twisted.internet.defer import Deferred
    from twisted.python.failure import Failure

PAGE_BUDGET_SETTING = "CRAWLFLEET_PAGE_BUDGET"
BUDGET_SPENT_REASON = "closespider_pagecount"
"""Scrapy's own finish reason for a page limit: the budget was spent with requests left unfetched."""

fetch_ended = object()
"""Scrapy signal sent as every fetch ends, with the `request` and its `outcome`: the
Response, the Request that replaces it (a redirect, a retry) or the Failure."""


@dataclass
class PageBudget:
    """Pages a crawl may fetch: `limit`, less the pages fetched and the requests in
    flight, each held under its request fingerprint."""

    limit: int
    pages: int = 0
    in_flight: Counter[str] = field(default_factory=Counter)

    @property
    def spent(self) -> bool:
        return self.pages >= self.limit

    def has_room(self) -> bool:
        return self.pages + self.in_flight.total() < self.limit

    def take(self, fingerprint: str) -> None:
        self.in_flight[fingerprint] += 1

    def settle(self, fingerprint: str, *, page: bool) -> None:
        """The fetch of a request in flight ended: as a page, or giving its slot back.
        A fetch the budget never handed out (robots.txt, say) settles nothing."""
        if not self.in_flight[fingerprint]:
            return
        self.in_flight[fingerprint] -= 1
        if not self.in_flight[fingerprint]:
            del self.in_flight[fingerprint]
        if page:
            self.pages += 1

    def percent(self, waiting: int) -> float:
        """Share of the known work done: the pages fetched, of those the crawl will
        fetch as far as the requests in flight and `waiting` tell. It grows as links
        are found, and stays under 100 until the crawl has ended."""
        known = min(self.limit, self.pages + self.in_flight.total() + waiting)
        return round(min(99.0, 100.0 * self.pages / known), 1) if known else 0.0


class BudgetScheduler(Scheduler):
    """Scrapy's scheduler, handing out requests only while the page budget
    (`PAGE_BUDGET_SETTING`) has room, and closing the crawl once it is spent."""

    budget: PageBudget
    fingerprinter: RequestFingerprinterProtocol
    http_errors: HttpErrorMiddleware

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        scheduler = super().from_crawler(crawler)
        # Unset or 0 is no budget, as Scrapy reads its own CLOSESPIDER_PAGECOUNT.
        scheduler.budget = PageBudget(crawler.settings.getint(PAGE_BUDGET_SETTING) or sys.maxsize)
        # The duplicate filter's own fingerprints: what it deems one page is one here.
        scheduler.fingerprinter = crawler.request_fingerprinter
        # A response is a page when it reaches the spider, which Scrapy decides here.
        scheduler.http_errors = build_from_crawler(HttpErrorMiddleware, crawler)
        crawler.signals.connect(scheduler.fetched, signal=fetch_ended)
        crawler.signals.connect(scheduler.idle, signal=signals.spider_idle)
        return scheduler

    def fingerprint(self, request: Request) -> str:
        return self.fingerprinter.fingerprint(request).hex()

    def has_pending_requests(self) -> bool:
        return not self.budget.spent and super().has_pending_requests()

    def next_request(self) -> Request | None:
        if not self.budget.has_room():
            return None
        request = super().next_request()
        if request is not None:
            self.budget.take(self.fingerprint(request))
        return request

    def fetched(self, request: Request, outcome: Response | Request | Failure) -> None:
        self.budget.settle(
            self.fingerprint(request), page=isinstance(outcome, Response) and self.is_page(outcome, request)
        )

    def is_page(self, response: Response, request: Request) -> bool:
        if response.request is None:
            response.request = request  # as the engine does next, so that its meta can be read
        try:
            self.http_errors.process_spider_input(response)
        except HttpError:
            return False
        return True

    def idle(self) -> None:
        """Say why a crawl whose budget is spent ends, when requests were left unfetched."""
        if self.budget.spent and super().has_pending_requests():
            raise CloseSpider(BUDGET_SPENT_REASON)

    def percent(self) -> float:
        return self.budget.percent(waiting=len(self))


class SignallingDownloader(Downloader):
    """Scrapy's downloader, sending `fetch_ended` as each fetch ends. Every request
    the engine sends passes through here, whatever its downloader middlewares turn
    it into, which no middleware or signal of Scrapy's own sees in every case."""

    def fetch(self, request: Request, spider: Spider | None = None) -> Deferred[Response | Request]:
        fetching: Deferred[Response | Request] = super().fetch(request)
        fetching.addBoth(self.fetch_ended, request)
        return fetching

    def fetch_ended(self, outcome: Response | Request | Failure, request: Request) -> Response | Request | Failure:
        self.signals.send_catch_log(fetch_ended, request=request, outcome=outcome)
        return outcome

"""The page budget: a crawl fetches exactly `maxPages` pages, or every page it can
reach when there are fewer.

A request holds a slot of the budget from when the scheduler hands it to the engine
until its fetch ends. A page spends the slot. Anything else gives it back: a redirect
or a retry (its new request waits for a slot of its own), a refusal by robots.txt,
the address guard or the off-site filter, an HTTP error, a failed download. The
scheduler hands out a request only while a slot is free, so a crawl never fetches
more pages than its budget, and never stops short while requests wait. Requests
reach the queue through the duplicate filter, so a link that differs only by its
fragment, a duplicate link and a redirect to a page already met take no slot.

The counts live in the job's frontier in Redis (`crawlfleet_core.store.frontier`),
so that they hold across every process crawling the job; the scheduler that keeps
them is `crawlfleet_workers.frontier.FrontierScheduler`. The downloader here tells it
how each fetch ended. Both are enabled by the crawl's Scrapy settings (`SCHEDULER`,
`DOWNLOADER`, see `crawlfleet_workers.crawling`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy import Request
from scrapy.core.downloader import Downloader
from scrapy.http import Response

if TYPE_CHECKING:
    from scrapy import Spider
    from twisted.internet.defer import Deferred
    from twisted.python.failure import Failure

PAGE_BUDGET_SETTING = "CRAWLFLEET_PAGE_BUDGET"

fetch_ended = object()
"""Scrapy signal sent as every fetch ends, with the `request` and its `outcome`: the
Response, the Request that replaces it (a redirect, a retry) or the Failure."""


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

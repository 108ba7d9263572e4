"""The crawl's scheduler and duplicate filter, backed by the job's frontier in Redis
(`crawlfleet_core.store.frontier`), so that a crawl killed mid-way resumes where it
stopped, and several crawl processes of one job can share one frontier and one page
budget. Both are enabled for every crawl by Scrapy's own `SCHEDULER` and
`DUPEFILTER_CLASS` settings (`crawlfleet_workers.crawling`).

Why not scrapy-redis: it keys its queue and fingerprints by spider name, where ours
belong to one job and go with it; it pops a request out of Redis as it hands it to
the engine, so a process killed mid-fetch loses the requests it held, and the pages
behind them; it has no page budget, never ends a crawl on its own, and serializes
requests with pickle, where the platform stores JSON only. What is needed beyond
Scrapy's own scheduler interface is small: the scripts of the frontier store and this
module.

A request is acknowledged, and so leaves the frontier for good, only once its fetch
has ended, the engine has finished with its response (its links are in the queue) and
the items that response yielded are in the job's stream: the scheduler asks for the
items to be stored (`reporting.progress_due`) before it acknowledges. A crawl killed
at any point leaves its unacknowledged requests in flight under its shard's name, and
the next run of that shard puts them back in the queue as it opens: a page whose
items were stored is never fetched again, and no page's items are lost.

With several shards (`shards` in the job's spec), one shard's engine running dry does
not end the crawl: another may be parsing a page whose links are about to arrive. A
shard ends its crawl when the frontier says the job's crawl is over
(`crawlfleet_core.model.frontier.finish_reason`), and meanwhile looks for new
requests every tick."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any, Self

from scrapy import Request, signals
from scrapy.core.scheduler import BaseScheduler
from scrapy.dupefilters import RFPDupeFilter
from scrapy.exceptions import CloseSpider, DontCloseSpider
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError, HttpErrorMiddleware
from scrapy.utils.misc import build_from_crawler, load_object
from scrapy.utils.request import request_from_dict
from twisted.internet.task import LoopingCall

from crawlfleet_core.model.frontier import BUDGET_SPENT_REASON, finish_reason
from crawlfleet_core.store.frontier import Frontier
from crawlfleet_workers.bookkeeping import patient_job_store
from crawlfleet_workers.budget import PAGE_BUDGET_SETTING, fetch_ended
from crawlfleet_workers.reporting import JOB_ID_SETTING, PLATFORM_SETTING, progress_due

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler
    from twisted.python.failure import Failure

SHARD_SETTING = "CRAWLFLEET_SHARD"
"""The name under which this crawl process holds requests in flight; a process that
runs again under the same name takes back what the one before it held."""

TICK_SECONDS = 0.1
"""How often the scheduler acknowledges the requests processed, renews its shard's
lease and looks for requests other shards added: a crawl killed fetches again the
pages processed since the last time, and each costs a round trip or two."""
LEASE_SECONDS = 30
"""How long a shard that stopped renewing its lease holds its requests in flight.
Longer than a live crawl's reactor is ever busy between two ticks; a dead shard whose
task is redelivered takes them back sooner, as it opens."""


def job_frontier(crawler: Crawler) -> Frontier:
    """The frontier of the crawl's job, in the job store the platform's settings name."""
    settings = crawler.settings
    store = patient_job_store(settings[PLATFORM_SETTING])
    # Unset or 0 is no budget, as Scrapy reads its own CLOSESPIDER_PAGECOUNT.
    return Frontier(store.client, settings[JOB_ID_SETTING], store.ttl_seconds, settings.getint(PAGE_BUDGET_SETTING))


def encode_request(request: Request, spider: Spider) -> str:
    """`request` as JSON: Scrapy's own dict of it, its bytes as base64 or Latin-1 text.
    A request whose meta or callback arguments are not JSON is refused, saying so."""
    fields = request.to_dict(spider=spider)
    fields["body"] = base64.b64encode(fields["body"]).decode("ascii")
    fields["headers"] = {
        name.decode("latin-1"): [value.decode("latin-1") for value in values]
        for name, values in fields["headers"].items()
    }
    try:
        return json.dumps(fields)
    except TypeError as error:
        raise ValueError(
            f"{request.url}: its meta and cb_kwargs must be JSON to be kept in the crawl frontier: {error}"
        ) from None


def decode_request(document: str, spider: Spider) -> Request:
    fields: dict[str, Any] = json.loads(document)
    fields["body"] = base64.b64decode(fields["body"])
    fields["headers"] = {
        name.encode("latin-1"): [value.encode("latin-1") for value in values]
        for name, values in fields["headers"].items()
    }
    return request_from_dict(fields, spider=spider)


class FrontierDupeFilter(RFPDupeFilter):
    """Scrapy's duplicate filter, its fingerprints kept in the job's frontier: a request
    is a duplicate when any run or shard of the job met it before.

    The fingerprints this process has met are remembered here too, as Scrapy's own
    filter remembers them: the frontier's only grow, so a fingerprint met here is a
    duplicate there, and a page's many links to pages met before (a docs site's
    navigation) cost no round trip to Redis."""

    frontier: Frontier
    met: set[str]

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        dupefilter = super().from_crawler(crawler)
        dupefilter.frontier = job_frontier(crawler)
        dupefilter.met = set()
        return dupefilter

    def request_seen(self, request: Request) -> bool:
        fingerprint = self.request_fingerprint(request)
        if fingerprint in self.met:
            return True
        self.met.add(fingerprint)
        return self.frontier.seen(fingerprint)


class FrontierScheduler(BaseScheduler):
    """Scrapy's scheduler interface over the job's frontier: requests go into its queue
    past its duplicate filter, and come out while its page budget has a slot free;
    the crawl closes once the budget is spent."""

    def __init__(self, crawler: Crawler, frontier: Frontier, dupefilter: FrontierDupeFilter, shard: str) -> None:
        self.crawler = crawler
        self.frontier = frontier
        self.dupefilter = dupefilter
        self.shard = shard
        self.spider: Spider | None = None
        # A response is a page when it reaches the spider, which Scrapy decides here.
        self.http_errors = build_from_crawler(HttpErrorMiddleware, crawler)
        self.handed: dict[Request, str] = {}
        """Requests handed to the engine and not yet acknowledged, with their frontier ids."""
        self.ticker: LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        dupefilter_class = load_object(crawler.settings["DUPEFILTER_CLASS"])
        if not issubclass(dupefilter_class, FrontierDupeFilter):
            raise ValueError("DUPEFILTER_CLASS must be a FrontierDupeFilter to share the frontier's fingerprints")
        scheduler = cls(
            crawler,
            job_frontier(crawler),
            build_from_crawler(dupefilter_class, crawler),
            crawler.settings.get(SHARD_SETTING, "0"),
        )
        crawler.signals.connect(scheduler.fetched, signal=fetch_ended)
        crawler.signals.connect(scheduler.idle, signal=signals.spider_idle)
        return scheduler

    def open(self, spider: Spider) -> None:
        self.spider = spider
        self.frontier.renew(self.shard, LEASE_SECONDS)
        # What an earlier run of this shard held when it died is to be fetched again.
        reclaimed = self.frontier.reclaim(self.shard)
        if reclaimed:
            spider.logger.info("resuming the crawl: %d requests in flight when it stopped are queued again", reclaimed)
        self.ticker = LoopingCall(self.tick)
        self.ticker.start(TICK_SECONDS, now=False)

    def close(self, reason: str) -> None:
        # The item pipelines have closed, and so stored every item, before the scheduler closes.
        if self.ticker is not None and self.ticker.running:
            self.ticker.stop()
        self.frontier.acknowledge(self.processed())
        self.dupefilter.close(reason)

    def has_pending_requests(self) -> bool:
        counts = self.frontier.counts()
        return counts.waiting > 0 and counts.pages < self.frontier.limit

    def enqueue_request(self, request: Request) -> bool:
        assert self.spider is not None  # the engine opens the scheduler before it enqueues
        fingerprint = None if request.dont_filter else self.dupefilter.request_fingerprint(request)
        if fingerprint is not None and fingerprint in self.dupefilter.met:
            self.dupefilter.log(request, self.spider)
            return False
        pushed = self.frontier.push(encode_request(request, self.spider), request.priority, fingerprint)
        if fingerprint is not None:
            self.dupefilter.met.add(fingerprint)
        if pushed:
            self.crawler.stats.inc_value("scheduler/enqueued/redis")
            return True
        self.dupefilter.log(request, self.spider)
        return False

    def next_request(self) -> Request | None:
        assert self.spider is not None
        popped = self.frontier.pop(self.shard)
        if popped is None:
            return None
        request_id, document = popped
        request = decode_request(document, self.spider)
        self.handed[request] = request_id
        self.crawler.stats.inc_value("scheduler/dequeued/redis")
        return request

    def __len__(self) -> int:
        return self.frontier.counts().waiting

    def fetched(self, request: Request, outcome: Response | Request | Failure) -> None:
        request_id = self.handed.get(request)
        if request_id is not None:  # robots.txt, say, is fetched past the scheduler
            page = isinstance(outcome, Response) and self.is_page(outcome, request)
            self.frontier.settle(request_id, page=page)

    def is_page(self, response: Response, request: Request) -> bool:
        if response.request is None:
            response.request = request  # as the engine does next, so that its meta can be read
        try:
            self.http_errors.process_spider_input(response)
        except HttpError:
            return False
        return True

    def processed(self) -> list[str]:
        """The ids of the requests handed out that the engine has finished with, forgotten here."""
        engine = self.crawler.engine
        assert engine is not None and engine.scraper.slot is not None
        slot = engine.scraper.slot
        busy = engine.downloader.active | slot.active | {request for _, request, _ in slot.queue}
        done = [request for request in self.handed if request not in busy]
        return [self.handed.pop(request) for request in done]

    def acknowledge(self) -> None:
        """Acknowledge the requests processed by now, once the items they yielded are stored."""
        done = self.processed()
        if done:
            self.crawler.signals.send_catch_log(progress_due)
            self.frontier.acknowledge(done)

    def tick(self) -> None:
        self.acknowledge()
        self.frontier.renew(self.shard, LEASE_SECONDS)
        # Another shard may have queued requests: the engine asks for them at once,
        # rather than at its next heartbeat, seconds away. Scrapy has no public call for this.
        slot = self.crawler.engine._slot if self.crawler.engine is not None else None
        if slot is not None:
            slot.nextcall.schedule()

    def idle(self) -> None:
        """Keep the crawl open until the job's crawl is over, across every shard, and say
        why it ended when the budget was spent with requests left unfetched."""
        self.acknowledge()
        self.frontier.reclaim_expired()
        reason = finish_reason(self.frontier.counts(), self.frontier.limit)
        if reason is None:
            raise DontCloseSpider
        if reason == BUDGET_SPENT_REASON:
            raise CloseSpider(reason)

    def pages(self) -> int:
        """Pages the job has fetched, over all its runs and shards."""
        return self.frontier.counts().pages

    def percent(self) -> float:
        return self.frontier.percent()

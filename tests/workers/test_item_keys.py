"""Each item of a job is stored once however often its crawl runs: the keys Scrapy's
own fingerprints give items are the same on every run, for items of any shape, and a
crawl retried after a crash adds only what the first run did not store."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import scrapy
from scrapy import Request
from scrapy.http import HtmlResponse
from scrapy.utils.request import RequestFingerprinter

from crawlfleet_core.model.states import JobState
from crawlfleet_core.service import JobService
from crawlfleet_workers.item_keys import ItemKeys
from tests.harness.celery_worker import CeleryWorker
from tests.harness.jobs import CursorReader, Watch, spec
from tests.harness.ports import wait_until
from tests.harness.website import HeldWebsite


@dataclass
class Quote:
    text: str


class Book(scrapy.Item):
    title = scrapy.Field()


def response(url: str) -> HtmlResponse:
    return HtmlResponse(url, body=b"<html></html>", request=Request(url))


async def callback_output(elements: list[Any]) -> AsyncIterator[Any]:
    for element in elements:
        yield element


def keys_of(middleware: ItemKeys, page: HtmlResponse, elements: list[Any]) -> list[str]:
    """Pass a callback's output through the middleware, as Scrapy does; the keys the pipeline would get."""

    async def run() -> list[Any]:
        return [element async for element in middleware.process_spider_output(page, callback_output(elements))]

    passed = asyncio.run(run())
    assert passed == elements, "the middleware changed the spider's output"
    return [middleware.key_of(element) for element in passed if not isinstance(element, Request)]


def output() -> list[Any]:
    """One callback's output: items of several shapes, with a request among them."""
    return [{"url": "https://example.com/a"}, Quote("q"), Request("https://example.com/next"), Book(title="b")]


def test_an_item_has_the_same_key_on_every_run_whatever_its_shape() -> None:
    page = response("https://example.com/a")
    first_run = keys_of(ItemKeys(RequestFingerprinter()), page, output())
    second_run = keys_of(ItemKeys(RequestFingerprinter()), response("https://example.com/a"), output())
    assert first_run == second_run
    assert len(set(first_run)) == 3
    fingerprint = RequestFingerprinter().fingerprint(page.request).hex()
    assert first_run == [f"{fingerprint}:0", f"{fingerprint}:1", f"{fingerprint}:2"]


def test_items_of_different_pages_have_different_keys() -> None:
    middleware = ItemKeys(RequestFingerprinter())
    a = keys_of(middleware, response("https://example.com/a"), [{"n": 1}])
    b = keys_of(middleware, response("https://example.com/b"), [{"n": 1}])
    assert a != b


def test_an_item_a_pipeline_replaced_is_keyed_by_its_content() -> None:
    middleware = ItemKeys(RequestFingerprinter())
    page = response("https://example.com/a")
    keys_of(middleware, page, [{"n": 1}])
    replaced = {"n": 1, "enriched": True}
    assert middleware.key_of(replaced) == middleware.key_of(dict(replaced))
    assert middleware.key_of(replaced).startswith("content:")


def test_a_crawl_retried_after_a_crash_stores_each_item_once(
    job_service: JobService, worker_factory: type[CeleryWorker], held_website: HeldWebsite
) -> None:
    """The retried crawl resumes from the job's frontier: the page in flight at the kill
    is fetched again, the first page, long stored, is not; a client reading by cursor
    gets each item once, and the job counts each once."""
    worker = worker_factory(queues="items-once", concurrency=1)
    job = spec(startUrls=[held_website.url("/slow/0")], maxPages=4, maxDepth=10, concurrency=1, queue="items-once")
    watch = Watch(job_service, job_service.submit(job))
    reader = CursorReader(job_service, watch.job_id)
    watch.until(lambda s: s.state is JobState.PROGRESS and s.progress.items == 2, 30, "the first two items")
    reader.read()
    assert len(reader.urls) == 2
    wait_until(lambda: "/slow/2" in held_website.paths_requested(), 10, "the third page to be in flight")
    (crawl,) = worker.crawl_processes()
    crawl.send_signal(signal.SIGKILL)
    watch.until(lambda s: s.state is JobState.RETRY, 15, "RETRY")
    held_website.release()

    final = watch.finished(60)
    assert final.state is JobState.SUCCESS, final.error
    assert (final.progress.pages, final.progress.items) == (4, 4)
    reader.read()
    assert sorted(reader.urls) == [held_website.url(f"/slow/{n}") for n in range(4)]
    assert held_website.paths_requested().count("/slow/2") == 2, "the crawl was not run a second time"
    assert held_website.paths_requested().count("/slow/0") == 1, "the retried crawl started again from zero"

"""Stable keys for items, so that a job stores each item once however often its crawl runs.

A job redelivered after its worker died, or retried after its crawl process crashed,
crawls again from the start; without keys, the items of the pages fetched before
would be stored a second time, and a client reading them by cursor would get them
twice. An item's key is the fingerprint of the request whose response it came from
(Scrapy's request fingerprinter, the one its duplicate filter uses) and its place
among the items that callback yielded: the same on every run of the crawl, for any
spider, whatever the items' shape. The job store keeps each key once
(`JobStore.append_items`).

A crawl frontier kept in Redis can mark a request done by the same fingerprint once
its items are stored, so that a resumed crawl neither fetches it again nor loses what
it yielded; and an item of a request it does fetch again still keeps its key.

An item that has no response to name it (one yielded from `start()`), or that an
earlier pipeline replaced by another object, is keyed by its content instead."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from itemadapter import ItemAdapter, is_item
from scrapy import signals
from scrapy.http import Response

# Items between the spider and the last pipeline; more only when pipelines drop or
# replace items without Scrapy's signals telling, and then the oldest are forgotten.
MAX_PENDING = 10_000


def content_key(item: Any) -> str:
    document = json.dumps(ItemAdapter(item).asdict(), sort_keys=True, default=str)
    return "content:" + hashlib.sha1(document.encode(), usedforsecurity=False).hexdigest()


class ItemKeys:
    """Spider middleware giving each item a callback yields its key; the item pipeline
    that stores items asks for it with `key_of` (see `reporting.ItemStream`).

    It sits nearest the spider (the highest order), so the place it counts is the
    spider's own."""

    def __init__(self, fingerprinter: Any) -> None:
        self.fingerprinter = fingerprinter
        # Keyed by the item's id, holding the item itself so that the id cannot be reused meanwhile.
        self._pending: OrderedDict[int, tuple[str, Any]] = OrderedDict()

    @classmethod
    def from_crawler(cls, crawler: Any) -> ItemKeys:
        middleware = cls(crawler.request_fingerprinter)
        crawler.signals.connect(middleware.forget, signal=signals.item_dropped)
        crawler.signals.connect(middleware.forget, signal=signals.item_error)
        return middleware

    async def process_spider_output(self, response: Any, result: AsyncIterator[Any]) -> AsyncIterator[Any]:
        request = response.request if isinstance(response, Response) else None
        prefix = self.fingerprinter.fingerprint(request).hex() if request is not None else None
        index = 0
        async for element in result:
            if prefix is not None and is_item(element):
                self._remember(element, f"{prefix}:{index}")
                index += 1
            yield element

    def key_of(self, item: Any) -> str:
        """The item's key, given once."""
        pending = self._pending.pop(id(item), None)
        if pending is not None and pending[1] is item:
            return pending[0]
        return content_key(item)

    def forget(self, item: Any, **_: Any) -> None:
        self._pending.pop(id(item), None)

    def _remember(self, item: Any, key: str) -> None:
        self._pending[id(item)] = (key, item)
        if len(self._pending) > MAX_PENDING:
            self._pending.popitem(last=False)

"""The generic spider a job spec drives: start URLs, link following within the
allowed domains, one item per page with the spec's extract fields."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, Spider
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.linkextractors import LinkExtractor
from twisted.python.failure import Failure

from crawlfleet_core.model.jobs import JobSpec, selector_xpath
from crawlfleet_workers.guards import BLOCKED_HOSTS, BlockedRequestError


def extract_fields(response: TextResponse, xpaths: dict[str, str]) -> dict[str, Any]:
    """A value per field: the single match as text, several as a list, none as None."""
    fields: dict[str, Any] = {}
    for name, xpath in xpaths.items():
        values = [value.strip() for value in response.xpath(xpath).getall()]
        fields[name] = values[0] if len(values) == 1 else (values or None)
    return fields


class JobSpider(Spider):
    name = "crawlfleet"

    def __init__(self, spec: JobSpec, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.allowed_domains = spec.domains()
        self.xpaths = {name: selector_xpath(selector) for name, selector in spec.extract.items()}
        self.links = LinkExtractor()
        self.pages = 0
        self.errors = 0
        self.skipped = 0
        self.first_error: str | None = None
        self.first_skip: str | None = None

    def in_domains(self, url: str) -> bool:
        """Host match that ignores the port (LinkExtractor's allow_domains compares host:port)."""
        host = (urlsplit(url).hostname or "").lower()
        return any(host == domain or host.endswith(f".{domain}") for domain in self.allowed_domains)

    def request(self, url: str) -> Request:
        return Request(url, callback=self.parse, errback=self.failed)

    async def start(self) -> AsyncIterator[Request]:
        for url in self.spec.start_urls:
            yield self.request(url)

    def parse(self, response: Response, **kwargs: Any) -> Iterator[dict[str, Any] | Request]:
        self.pages += 1
        item: dict[str, Any] = {"url": response.url}
        if not isinstance(response, TextResponse):
            yield item
            return
        item.update(extract_fields(response, self.xpaths))
        yield item
        # DEPTH_LIMIT bounds depth too, but it reads 0 as "no limit".
        if not self.spec.follow_links or response.meta.get("depth", 0) >= self.spec.max_depth:
            return
        for link in self.links.extract_links(response):
            if self.in_domains(link.url):
                yield self.request(link.url)

    def failed(self, failure: Failure) -> None:
        if failure.check(IgnoreRequest) and not failure.check(BlockedRequestError):
            # Dropped on purpose (robots.txt forbids it): not an error of the crawl.
            self.skipped += 1
            if self.first_skip is None:
                self.first_skip = failure.getErrorMessage()
            return
        self.errors += 1
        request = getattr(failure, "request", None)
        url = request.url if request is not None else ""
        if self.first_error is None:
            host = urlsplit(url).hostname or ""
            self.first_error = BLOCKED_HOSTS.get(host) or f"{url}: {failure.getErrorMessage()}"
        self.logger.warning("request to %s failed: %s", url, failure.getErrorMessage())

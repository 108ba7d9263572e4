"""Plain Scrapy, for comparison with the platform's crawls: `scrapy runspider` of a
spider that knows nothing of crawlfleet. It follows every link within its start
URL's host, yields one item per page, and leaves duplicates, fragments, redirects,
robots.txt and off-site links to Scrapy's own defaults."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy.http import Response
from scrapy.linkextractors import LinkExtractor


class PlainSpider(scrapy.Spider):
    name = "plain"

    def __init__(self, start_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start_urls = [start_url]
        self.allowed_domains = [urlsplit(start_url).hostname or ""]

    def parse(self, response: Response, **kwargs: Any) -> Iterator[dict[str, str] | scrapy.Request]:
        yield {"url": response.url}
        for link in LinkExtractor().extract_links(response):
            yield scrapy.Request(link.url)


def plain_scrapy_pages(start_url: str, depth: int, workdir: Path) -> list[str]:
    """The URL of every page `scrapy runspider` fetched from `start_url` within `depth` links."""
    output = workdir / "plain-items.jsonl"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "scrapy",
            "runspider",
            __file__,
            "-a",
            f"start_url={start_url}",
            "-s",
            f"DEPTH_LIMIT={depth}",
            # What `scrapy startproject` writes into a new project's settings.
            "-s",
            "ROBOTSTXT_OBEY=True",
            "-s",
            "TELNETCONSOLE_ENABLED=False",
            "-O",
            str(output),
            "-L",
            "WARNING",
        ],
        check=True,
        cwd=workdir,
        timeout=120,
    )
    return [json.loads(line)["url"] for line in output.read_text().splitlines()]

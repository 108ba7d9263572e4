"""A shard's part of the job's politeness, as the crawl's Scrapy settings carry it:
a site sees the job's concurrency and delay however many shards crawl it."""

from __future__ import annotations

from scrapy.settings import Settings as ScrapySettings

from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.settings import Settings
from crawlfleet_workers.crawling import scrapy_settings


def test_the_built_in_spider_s_shards_divide_its_concurrency_and_multiply_its_delay() -> None:
    spec = JobSpec.model_validate(
        {"startUrls": ["https://example.com/"], "concurrency": 8, "shards": 2, "downloadDelay": 0.5}
    )
    crawl = scrapy_settings(spec, Settings())
    assert crawl.getint("CONCURRENT_REQUESTS") == crawl.getint("CONCURRENT_REQUESTS_PER_DOMAIN") == 4
    assert crawl.getfloat("DOWNLOAD_DELAY") == 1.0
    single = scrapy_settings(spec.model_copy(update={"shards": 1}), Settings())
    assert single.getint("CONCURRENT_REQUESTS") == 8 and single.getfloat("DOWNLOAD_DELAY") == 0.5


def test_a_project_spider_s_shards_divide_the_project_s_own_concurrency_and_delay() -> None:
    project = ScrapySettings()
    project.setdict({"CONCURRENT_REQUESTS": 6, "CONCURRENT_REQUESTS_PER_DOMAIN": 3, "DOWNLOAD_DELAY": 2}, "project")
    spec = JobSpec.model_validate({"project": "shop", "spider": "catalog", "shards": 3})
    crawl = scrapy_settings(spec, Settings(), project)
    assert (crawl.getint("CONCURRENT_REQUESTS"), crawl.getint("CONCURRENT_REQUESTS_PER_DOMAIN")) == (2, 1)
    assert crawl.getfloat("DOWNLOAD_DELAY") == 6.0
    # The platform's share is not the job's to undo.
    assert crawl.getpriority("CONCURRENT_REQUESTS") == 100

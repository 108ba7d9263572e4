import scrapy

from pricewatch.items import Page


class PageSpider(scrapy.Spider):
    """One page, `url`; with `fail=yes` it raises while parsing it."""

    name = "page"

    def __init__(self, url=None, fail="no", **kwargs):
        super().__init__(**kwargs)
        self.url = url
        self.fail = fail == "yes"

    async def start(self):
        yield scrapy.Request(self.url)

    def parse(self, response):
        if self.fail:
            raise ValueError(f"the page spider was asked to fail on {response.url}")
        yield Page(url=response.url, title=response.css("h1.title::text").get())

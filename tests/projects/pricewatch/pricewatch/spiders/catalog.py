import scrapy

from pricewatch.items import Offer


class CatalogSpider(scrapy.Spider):
    """Every offer reachable from the page `url`, following links within the site."""

    name = "catalog"

    def __init__(self, url=None, **kwargs):
        super().__init__(**kwargs)
        if not url:
            raise ValueError("the catalog spider needs the argument url=<first page>")
        self.url = url

    async def start(self):
        yield scrapy.Request(self.url)

    def parse(self, response):
        title = response.css("h1.title::text").get()
        self.logger.info("offer page %s: %s", response.url, title)
        yield Offer(url=response.url, title=title, price=response.css("span.price::text").get())
        for href in response.css("a::attr(href)").getall():
            if href.startswith(("/page/", "/slow/")):
                yield response.follow(href)

from dataclasses import dataclass

import scrapy


class Offer(scrapy.Item):
    url = scrapy.Field()
    title = scrapy.Field()
    price = scrapy.Field()
    currency = scrapy.Field()


@dataclass
class Page:
    url: str
    title: str | None
    currency: str | None = None

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem


class PriceFilter:
    """Keeps offers up to PRICEWATCH_MAX_PRICE, priced in PRICEWATCH_CURRENCY."""

    def __init__(self, max_price, currency):
        self.max_price = max_price
        self.currency = currency

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.settings.getint("PRICEWATCH_MAX_PRICE"), crawler.settings.get("PRICEWATCH_CURRENCY"))

    def process_item(self, item):
        adapter = ItemAdapter(item)
        if adapter.get("price") is not None:
            price = int(adapter["price"])
            if price > self.max_price:
                raise DropItem(f"price {price} is over {self.max_price}")
            adapter["price"] = price
        adapter["currency"] = self.currency
        return item

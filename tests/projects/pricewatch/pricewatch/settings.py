BOT_NAME = "pricewatch"
SPIDER_MODULES = ["pricewatch.spiders"]
NEWSPIDER_MODULE = "pricewatch.spiders"
ROBOTSTXT_OBEY = True
ITEM_PIPELINES = {"pricewatch.pipelines.PriceFilter": 300}

# The project's own settings, read by its pipeline.
PRICEWATCH_MAX_PRICE = 100
PRICEWATCH_CURRENCY = "EUR"

"""A small Scrapy project of a team's own, crawled against the test website."""

"""Celery workers that run Scrapy crawls."""

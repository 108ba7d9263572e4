"""Why a job failed. These live in the core so that a reader of the result
backend (the API, the operator) can rebuild the exception a worker stored."""

from __future__ import annotations


class CrawlFailedError(Exception):
    """The crawl ran but fetched nothing: every request failed."""


class CrawlCrashedError(Exception):
    """The crawl's process died (a crash or a kill); the job is retried."""


class CrawlTimedOutError(Exception):
    """The crawl outlived its time limit and had to be stopped by force."""


class SpiderFailedError(Exception):
    """The job's spider raised, or could not start: a project that does not import, an
    unknown spider, arguments it refuses. Its traceback is the message; running it
    again would fail again, so it is not retried."""

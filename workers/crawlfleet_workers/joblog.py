"""A crawl's log, into the job's log in Redis, as the crawl process writes it.

The handler sits on the root logger of the forked crawl process, so it receives
Scrapy's records, the project's own loggers and Twisted's alike, at the job's
LOG_LEVEL. Records are buffered and appended in batches: every FLUSH_SECONDS from
a thread of the handler's own (so a reader sees a quiet crawl's last lines too), at
once for an error, and when the crawl ends."""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading

import redis
from scrapy.logformatter import SCRAPEDMSG

from crawlfleet_core.store.logs import JobLogs

FLUSH_SECONDS = 0.5
BATCH_RECORDS = 200


def not_a_scraped_item(record: logging.LogRecord) -> bool:
    """Scrapy logs every scraped item at DEBUG; a job's log never keeps them: the items are in the job's stream."""
    return record.msg != SCRAPEDMSG


class JobLogHandler(logging.handlers.BufferingHandler):
    def __init__(self, logs: JobLogs, job_id: str, level: int, formatter: logging.Formatter) -> None:
        super().__init__(BATCH_RECORDS)
        self.logs = logs
        self.job_id = job_id
        self.setLevel(level)
        self.setFormatter(formatter)
        self.addFilter(not_a_scraped_item)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._flush_regularly, name="crawlfleet-job-log", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def shouldFlush(self, record: logging.LogRecord) -> bool:
        return len(self.buffer) >= self.capacity or record.levelno >= logging.ERROR

    def flush(self) -> None:
        self.acquire()
        try:
            lines = [self.format(record) for record in self.buffer]
            self.buffer = []
        finally:
            self.release()
        if not lines:
            return
        try:
            self.logs.append(self.job_id, lines)
        except (redis.RedisError, OSError) as error:
            # Logging about the log would recurse; the worker's own stderr says it.
            print(f"crawlfleet: cannot store {len(lines)} log lines of job {self.job_id}: {error}", file=sys.stderr)

    def close(self) -> None:
        """Only flush: Scrapy's logging setup (`dictConfig`) closes every handler it
        finds, and this one must serve the crawl to its end. `stop` ends it."""
        self.flush()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(FLUSH_SECONDS * 4)
        super().close()

    def _flush_regularly(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            self.flush()

"""Event streams of job statuses, fanned out: one poller per job serves every stream
of this process that follows the job.

A status is read from two places (the result backend and the job record) and only
one of them publishes changes, so a job is polled rather than subscribed to. Polling
once per stream would cost Redis and the API's thread pool a read per stream per
interval (500 streams on one job slowed every other request twentyfold); polling once
per job costs one read per interval however many follow it. Each stream keeps only
the latest status to send, so a slow reader skips intermediate ones instead of
holding a queue of them.

Streams are bounded: a client may hold `max_streams_per_client` open at once (one
more is refused, and the route answers 429), and a stream ends after `max_seconds`
with a `timeout` event; an EventSource reconnects by itself and gets the current
status first."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from sse_starlette import ServerSentEvent
from starlette.concurrency import run_in_threadpool

from crawlfleet_api.errors import UNAVAILABLE_ERRORS
from crawlfleet_core.model.status import JobStatus


class StreamLimitError(Exception):
    """The client holds as many streams as it may."""


@dataclass
class JobFeed:
    """What the poller of one job last read, and who follows it."""

    latest: JobStatus
    followers: int = 0
    ending: ServerSentEvent | None = None
    """The last event of every stream when the job can no longer be read."""
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def publish(self, status: JobStatus | None = None, ending: ServerSentEvent | None = None) -> None:
        """Tell every follower, by setting the event they wait on and starting a new one."""
        if status is not None:
            self.latest = status
        self.ending = ending or self.ending
        self.changed.set()
        self.changed = asyncio.Event()


def error_event(detail: str, name: str = "error") -> ServerSentEvent:
    return ServerSentEvent(data=json.dumps({"detail": detail}), event=name)


class StatusFeeds:
    """Every job status feed of one app, and the streams each client holds."""

    def __init__(
        self,
        read: Callable[[str], JobStatus | None],
        poll_seconds: float,
        max_streams_per_client: int,
        max_seconds: float,
    ) -> None:
        self.read = read
        self.poll_seconds = poll_seconds
        self.max_streams_per_client = max_streams_per_client
        self.max_seconds = max_seconds
        self.feeds: dict[str, JobFeed] = {}
        self.streams: Counter[str] = Counter()
        # Strong references to the pollers, which the event loop holds only weakly.
        self._pollers: set[asyncio.Task[None]] = set()

    def open(self, client: str, first: JobStatus) -> Stream:
        """A stream for `client` that starts with `first`; StreamLimitError when the client holds too many."""
        if self.streams[client] >= self.max_streams_per_client:
            raise StreamLimitError(
                f"this client already holds {self.streams[client]} open event streams, the most it may "
                f"(CRAWLFLEET_EVENTS_MAX_STREAMS_PER_CLIENT); close one before opening another"
            )
        self.streams[client] += 1
        return Stream(self, client, first)

    def close(self, client: str) -> None:
        self.streams[client] -= 1
        if self.streams[client] <= 0:
            del self.streams[client]

    def follow(self, first: JobStatus) -> JobFeed:
        """The job's feed, with one more follower; its poller starts with its first follower."""
        feed = self.feeds.get(first.id)
        if feed is not None and feed.latest != first:
            feed.publish(first)  # read just now, so fresher than what the poller last read
        if feed is None:
            feed = self.feeds[first.id] = JobFeed(first)
            poller = asyncio.get_running_loop().create_task(self._poll(first.id, feed))
            self._pollers.add(poller)
            poller.add_done_callback(self._pollers.discard)
        feed.followers += 1
        return feed

    def unfollow(self, job_id: str, feed: JobFeed) -> None:
        """One follower fewer; the poller stops by itself once none is left."""
        feed.followers -= 1
        if feed.followers == 0 and self.feeds.get(job_id) is feed:
            del self.feeds[job_id]
            feed.publish()  # wakes the poller's wait, so it ends now rather than after its sleep

    async def _poll(self, job_id: str, feed: JobFeed) -> None:
        try:
            while feed.followers and feed.ending is None and not feed.latest.state.finished:
                try:
                    await asyncio.wait_for(feed.changed.wait(), self.poll_seconds)
                    continue  # woken because the last follower left: the loop's condition ends it
                except TimeoutError:
                    pass
                try:
                    current = await run_in_threadpool(self.read, job_id)
                except UNAVAILABLE_ERRORS as error:
                    # The client's EventSource reconnects by itself; tell it why first.
                    detail = f"the job store or the broker (Redis) is unreachable ({type(error).__name__})"
                    feed.publish(ending=error_event(detail))
                    return
                if current is None:
                    feed.publish(ending=error_event(f"job {job_id!r} expired"))
                elif current != feed.latest:
                    feed.publish(current)
        finally:
            if self.feeds.get(job_id) is feed:
                del self.feeds[job_id]


class Stream:
    """One client's stream of one job's statuses."""

    def __init__(self, feeds: StatusFeeds, client: str, first: JobStatus) -> None:
        self.feeds = feeds
        self.client = client
        self.first = first
        self._open = True

    def close(self) -> None:
        """Give the client's slot back; safe to call more than once."""
        if self._open:
            self._open = False
            self.feeds.close(self.client)

    async def events(self) -> AsyncIterator[ServerSentEvent]:
        """A `status` event now and at every change, until the job finishes, can no
        longer be read, or the stream has been open `max_seconds`."""
        deadline = time.monotonic() + self.feeds.max_seconds
        number = 1
        try:
            yield ServerSentEvent(data=self.first.model_dump_json(by_alias=True), event="status", id="1")
            if self.first.state.finished:
                return
            feed = self.feeds.follow(self.first)
            try:
                sent = self.first
                while True:
                    changed = feed.changed
                    if feed.latest != sent:
                        sent, number = feed.latest, number + 1
                        yield ServerSentEvent(data=sent.model_dump_json(by_alias=True), event="status", id=str(number))
                        if sent.state.finished:
                            return
                    if feed.ending is not None:
                        yield feed.ending
                        return
                    try:
                        await asyncio.wait_for(changed.wait(), deadline - time.monotonic())
                    except TimeoutError:
                        detail = (
                            f"this stream closes after {self.feeds.max_seconds:g} s (CRAWLFLEET_EVENTS_MAX_SECONDS); "
                            "reconnect to follow the job on"
                        )
                        yield error_event(detail, name="timeout")
                        return
            finally:
                self.feeds.unfollow(self.first.id, feed)
        finally:
            self.close()

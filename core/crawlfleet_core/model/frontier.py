"""When a crawl whose frontier several processes share has ended, and what its shards are called.

A job with `shards: N` runs as N crawl tasks, each a Scrapy process taking requests
from the job's one frontier (`crawlfleet_core.store.frontier`). No single process
knows the crawl is over when its own engine runs dry: another may be parsing a page
whose links are about to arrive. The frontier knows more: a request stays in flight,
under the name of the shard that took it, from the moment it is handed out until its
response has been parsed and its links and items stored. So the crawl has ended when
nothing waits and nothing is in flight, whatever each shard is doing; and a shard
that died does not hold it open for ever, because what it held goes back to the
queue when its lease runs out (or sooner, when its task is redelivered)."""

from __future__ import annotations

from dataclasses import dataclass

BUDGET_SPENT_REASON = "closespider_pagecount"
"""Scrapy's own finish reason for a page limit: the budget was spent with requests left unfetched."""
FINISHED_REASON = "finished"


@dataclass(frozen=True)
class FrontierCounts:
    pages: int
    """Pages fetched, their requests acknowledged or not."""
    slots: int
    """Requests taken whose fetch has not ended: each holds a slot of the page budget."""
    held: int
    """Requests in flight: taken by a shard and not yet acknowledged, so fetching, or
    fetched and with a response whose links and items are not all stored yet."""
    waiting: int
    """Requests in the queue."""


def finish_reason(counts: FrontierCounts, limit: int) -> str | None:
    """Why the crawl has ended, or None while it goes on: it has ended once no request
    is in flight anywhere, and none waits or the page budget is spent."""
    if counts.held:
        return None
    if not counts.waiting:
        return FINISHED_REASON
    return BUDGET_SPENT_REASON if counts.pages >= limit else None


def shard_task_id(job_id: str, shard: int) -> str:
    """The Celery task id of a job's shard: the first is the job's own task, whose
    result is the job's; the others carry their number."""
    return job_id if shard == 0 else f"{job_id}.shard-{shard}"

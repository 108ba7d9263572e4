"""Liveness probe of a worker: is it still reporting the tasks it holds?

The worker's main process refreshes its report in Redis every 2 s with a 7 s TTL
(crawlfleet_workers.activity). Report there: alive. Redis answers but the report
is gone: the worker stopped reporting, so it hangs or is dying. Redis does not
answer: unknown, and restarting the worker would not bring Redis back, so pass.

It imports redis, the key's name and how the platform reaches Redis (a sentinel://
URL included) only: probing through the Celery app (`celery inspect ping`) cost
seconds of CPU and 100 MB per probe, in every pod."""

import os
import sys

import redis

from crawlfleet_core.store.connections import redis_client
from crawlfleet_core.store.keys import worker_activity_key

pod = os.environ["CRAWLFLEET_POD_NAME"]
master = os.environ.get("CRAWLFLEET_REDIS_SENTINEL_MASTER", "")
client = redis_client(os.environ["CRAWLFLEET_BROKER_URL"], master, socket_timeout=3, socket_connect_timeout=3)
try:
    reported = client.exists(worker_activity_key(pod))
except (redis.RedisError, OSError) as error:
    print(f"Redis did not answer, so the worker cannot be judged: {error}")
    sys.exit(0)
if not reported:
    sys.exit(f"worker {pod} has stopped reporting its tasks to Redis")

"""The Celery application every component shares: the same broker, backend and
serialization settings whether it publishes, inspects or runs tasks."""

from __future__ import annotations

from celery import Celery

from crawlfleet_core.settings import Settings
from crawlfleet_core.store.keys import PRIORITY_SEPARATOR, PRIORITY_STEPS

CRAWL_TASK = "crawlfleet.crawl"
SLEEP_TASK = "crawlfleet.sleep"
WEBHOOK_TASK = "crawlfleet.webhook"


def create_celery_app(settings: Settings) -> Celery:
    app = Celery("crawlfleet", broker=settings.broker_url, backend=settings.result_backend)
    app.conf.update(
        # JSON only: a pickle payload in a shared Redis is remote code execution.
        task_serializer="json",
        result_serializer="json",
        event_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        timezone="UTC",
        enable_utc=True,
        task_track_started=True,
        task_send_sent_event=True,
        worker_send_task_events=True,
        result_extended=True,
        result_expires=settings.result_ttl_seconds,
        task_soft_time_limit=settings.soft_time_limit_seconds,
        task_time_limit=settings.hard_time_limit_seconds,
        # A task is acknowledged only when it ends, and requeued when its worker
        # dies, so an autoscaler that removes a pod or an OOM kill loses nothing.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=settings.default_queue,
        task_create_missing_queues=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout_seconds,
            # Sweep for tasks whose worker died every few seconds (one ZRANGE),
            # rather than kombu's default of about every 100 s.
            "unacked_restore_interval": min(10, max(1, settings.visibility_timeout_seconds // 4)),
            "unacked_restore_throttle": 1,
            "queue_order_strategy": "priority",
            "priority_steps": list(PRIORITY_STEPS),
            "sep": PRIORITY_SEPARATOR,
        },
        result_backend_transport_options={"retry_policy": {"timeout": 5.0}},
    )
    if settings.redis_sentinel_master:
        # kombu and Celery's result backend find the primary through the sentinels by this name.
        app.conf.broker_transport_options["master_name"] = settings.redis_sentinel_master
        app.conf.result_backend_transport_options["master_name"] = settings.redis_sentinel_master
    return app

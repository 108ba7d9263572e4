"""The gateway's app factory and the `crawlfleet-api` command."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Annotated, Any

import anyio
import typer
import uvicorn
from fastapi import FastAPI

from crawlfleet_api.body_limit import BodyLimitMiddleware
from crawlfleet_api.config import ApiSettings
from crawlfleet_api.errors import UNAVAILABLE_ERRORS, install_error_handlers
from crawlfleet_api.feeds import StatusFeeds
from crawlfleet_api.idempotency import IdempotencyKeys
from crawlfleet_api.methods import install_method_handlers
from crawlfleet_api.metrics import ApiMetrics, MetricsMiddleware
from crawlfleet_api.queues import KnownQueues
from crawlfleet_api.routes import dashboard, docs, exports, health, jobs, metrics, pools
from crawlfleet_core.service import STRANDED_SWEEP_SECONDS, JobService
from crawlfleet_core.store.connections import redis_client

logger = logging.getLogger("crawlfleet_api")

# A probe must answer before the kubelet's own timeout (1 s by default).
PROBE_TIMEOUT_SECONDS = 0.5

DESCRIPTION = """\
Submit Scrapy crawls as background jobs, follow their state and progress, read their items.

Every `/v1` route needs `Authorization: Bearer <token>` when `CRAWLFLEET_API_TOKENS` is set.
"""


async def publish_stranded_jobs(service: JobService) -> None:
    """Publish, every few seconds, the jobs whose submitter (this process or another)
    died between recording and publishing them, so that no 202 stays unqueued."""
    while True:
        try:
            published = await anyio.to_thread.run_sync(service.publish_stranded)
        except UNAVAILABLE_ERRORS as error:
            logger.warning("cannot look for unpublished jobs: %r", error)
        except Exception:
            # The sweep must outlive whatever one round of it met.
            logger.exception("looking for unpublished jobs failed")
        else:
            for job_id in published:
                logger.warning("published job %s, which its submitter recorded but did not publish", job_id)
        await anyio.sleep(STRANDED_SWEEP_SECONDS)


class Gateway(FastAPI):
    """The app, whose OpenAPI document says what this deployment requires: bearer
    tokens only when `CRAWLFLEET_API_TOKENS` names some."""

    def __init__(self, *, authenticated: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.authenticated = authenticated

    def openapi(self) -> dict[str, Any]:
        document = super().openapi()
        if not self.authenticated:
            document.get("components", {}).pop("securitySchemes", None)
            for operations in document["paths"].values():
                for operation in operations.values():
                    operation.pop("security", None)
                    for status_code in ("401", "403"):
                        operation.get("responses", {}).pop(status_code, None)
        return document


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings()
    service = JobService.from_settings(settings)
    redis_probes = {
        name: redis_client(
            url,
            settings.redis_sentinel_master,
            socket_connect_timeout=PROBE_TIMEOUT_SECONDS,
            socket_timeout=PROBE_TIMEOUT_SECONDS,
        )
        for name, url in settings.redis_urls().items()
    }

    # The queues' own Redis, where workers and the operator announce the queues they serve.
    broker = redis_client(settings.broker_url, settings.redis_sentinel_master, decode_responses=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.api_tokens:
            logger.warning("CRAWLFLEET_API_TOKENS is empty: the API accepts requests from anyone who can reach it")
        async with anyio.create_task_group() as background:
            background.start_soon(publish_stranded_jobs, service)
            yield
            background.cancel_scope.cancel()
        for client in redis_probes.values():
            client.close()
        service.store.client.close()
        broker.close()
        service.app.close()

    # The docs pages are routes of their own (routes/docs.py), served with their assets from the package.
    app = Gateway(
        authenticated=bool(settings.tokens),
        title="crawlfleet",
        version=version("crawlfleet"),
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.job_service = service
    app.state.idempotency_keys = IdempotencyKeys(service.store.client, settings.result_ttl_seconds)
    app.state.metrics = api_metrics = ApiMetrics()
    app.state.submitters = anyio.CapacityLimiter(settings.submit_threads)
    app.state.queues = KnownQueues(broker, settings.default_queue, settings.extra_queues)
    app.state.feeds = StatusFeeds(
        service.status,
        settings.events_poll_seconds,
        settings.events_max_streams_per_client,
        settings.events_max_seconds,
    )
    app.state.redis_probes = redis_probes
    app.include_router(jobs.router)
    app.include_router(exports.router)
    app.include_router(pools.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(docs.router)
    app.include_router(dashboard.router)
    install_error_handlers(app)
    install_method_handlers(app)
    # The last added runs first: the metrics see every answer, the 413s included.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=api_metrics)
    return app


app = create_app()

cli = typer.Typer(add_completion=False, help="Serve the crawlfleet API (settings from CRAWLFLEET_* variables).")


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on; 0.0.0.0 in a container.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8000,
    reload: Annotated[bool, typer.Option(help="Restart when the source changes (development only).")] = False,
) -> None:
    """Serve the crawlfleet API: submit crawls, follow them, read their items (OpenAPI at /docs)."""
    uvicorn.run("crawlfleet_api.main:app", host=host, port=port, reload=reload)


def run() -> None:
    cli()

"""Prometheus metrics of the gateway, in a registry of the app's own so that
several apps in one process (tests, reloads) never collide."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Requests that matched no route are counted under this label, not their raw
# path: a scanner trying random URLs must not create a time series per URL.
UNMATCHED_ROUTE = "unmatched"


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "crawlfleet_api_requests",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "crawlfleet_api_request_duration_seconds",
            "Time to answer an HTTP request (for event streams: how long the stream stayed open).",
            ["method", "route"],
            registry=self.registry,
        )
        self.submissions = Counter(
            "crawlfleet_api_job_submissions",
            "Job submissions, by queue and outcome (accepted, repeated, conflict, failed).",
            ["queue", "outcome"],
            registry=self.registry,
        )


class MetricsMiddleware:
    """Counts every answer, including those given before routing (413) and
    errors that escape the app (counted as 500)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status_code = 500
        started = time.perf_counter()

        async def send_and_record(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = scope.get("route")
            label = route.path if isinstance(route, BaseRoute) and hasattr(route, "path") else UNMATCHED_ROUTE
            self.metrics.requests.labels(scope["method"], label, str(status_code)).inc()
            self.metrics.latency.labels(scope["method"], label).observe(time.perf_counter() - started)

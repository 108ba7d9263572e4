"""/metrics for Prometheus. Open like the probes: it is scraped from inside the
cluster, and the NetworkPolicy, not a token, decides who may reach it."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from crawlfleet_api.deps import MetricsDep

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(api_metrics: MetricsDep) -> Response:
    """Requests by route and status, request durations and job submissions."""
    return Response(generate_latest(api_metrics.registry), media_type=CONTENT_TYPE_LATEST)

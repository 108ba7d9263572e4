"""The operator's Prometheus metrics, served on their own HTTP port.

They carry every autoscaling input and output per pool, live at each poll, while the
WorkerPool's status is refreshed less often to spare the API server."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, start_http_server

POOL_LABELS = ("namespace", "pool")

pool_queued = Gauge("crawlfleet_pool_queued", "Tasks waiting in the pool's queue (all priorities).", POOL_LABELS)
pool_in_flight = Gauge(
    "crawlfleet_pool_in_flight", "Tasks taken by the pool's workers and not yet acknowledged.", POOL_LABELS
)
pool_desired_replicas = Gauge(
    "crawlfleet_pool_desired_replicas", "Replicas the autoscaler wants for the pool's Deployment.", POOL_LABELS
)
pool_current_replicas = Gauge(
    "crawlfleet_pool_current_replicas", "Replicas of the pool's Deployment at the last poll.", POOL_LABELS
)
pool_max_replicas = Gauge(
    "crawlfleet_pool_max_replicas", "The pool's maxReplicas, for alerts on a pool that cannot grow.", POOL_LABELS
)
pool_scale_events = Counter(
    "crawlfleet_pool_scale_events_total",
    "Times the autoscaler changed the pool's replicas, by direction.",
    (*POOL_LABELS, "direction"),
)
pool_measure_errors = Counter(
    "crawlfleet_pool_measure_errors_total", "Polls that could not read the pool's queue from Redis.", POOL_LABELS
)

operator_ready = Gauge(
    "crawlfleet_operator_ready",
    "1 while the operator reconciles (or stands by to, as a peering standby), 0 otherwise; see /readyz.",
)

_POOL_GAUGES = (pool_queued, pool_in_flight, pool_desired_replicas, pool_current_replicas, pool_max_replicas)


def forget_pool(namespace: str, pool: str) -> None:
    """Drop a deleted pool's series, so dashboards do not show a ghost at its last value."""
    for gauge in _POOL_GAUGES:
        gauge.remove(namespace, pool)
    pool_measure_errors.remove(namespace, pool)
    for direction in ("up", "down"):
        pool_scale_events.remove(namespace, pool, direction)


def start_metrics_server(port: int, address: str = "0.0.0.0") -> None:  # noqa: S104 - scraped from other pods
    """Serve `/metrics` from a background thread; the operator's startup handler calls this once."""
    start_http_server(port, addr=address)

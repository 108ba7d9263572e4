"""`make bench`: every benchmark in turn. Figures only; nothing here passes or fails."""

from __future__ import annotations

from bench import (
    api_throughput,
    autoscale,
    event_streams,
    exports,
    first_request,
    frontier,
    node,
    operator_scale,
    operator_start,
    page_budget,
    projects,
    recovery,
    time_limit,
)

benchmarks = (
    first_request,
    projects,
    page_budget,
    time_limit,
    frontier,
    api_throughput,
    event_streams,
    autoscale,
    operator_start,
    operator_scale,
    node,
    exports,
    recovery,
)
for benchmark in benchmarks:
    print(f"\n== {benchmark.__name__}")
    benchmark.main()

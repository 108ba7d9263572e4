"""`make bench`: every benchmark in turn. Figures only; nothing here passes or fails."""

from __future__ import annotations

from bench import (
    autoscale,
    exports,
    first_request,
    frontier,
    node,
    operator_start,
    page_budget,
    recovery,
    time_limit,
)

for benchmark in (first_request, page_budget, time_limit, frontier, autoscale, operator_start, node, exports, recovery):
    print(f"\n== {benchmark.__name__}")
    benchmark.main()

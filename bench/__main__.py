"""`make bench`: every benchmark in turn. Figures only; nothing here passes or fails."""

from __future__ import annotations

from bench import autoscale, first_request, operator_start, page_budget, recovery, time_limit

for benchmark in (first_request, page_budget, time_limit, autoscale, operator_start, recovery):
    print(f"\n== {benchmark.__name__}")
    benchmark.main()

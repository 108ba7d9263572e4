"""`make bench`: every benchmark in turn. Figures only; nothing here passes or fails."""

from __future__ import annotations

from bench import autoscale, first_request, operator_start

for benchmark in (first_request, autoscale, operator_start):
    print(f"\n== {benchmark.__name__}")
    benchmark.main()

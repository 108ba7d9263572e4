"""`make bench`: every benchmark in turn. Figures only; nothing here passes or fails."""

from __future__ import annotations

from bench import api_throughput, autoscale, event_streams, first_request, operator_scale

for benchmark in (first_request, api_throughput, event_streams, autoscale, operator_scale):
    print(f"\n== {benchmark.__name__}")
    benchmark.main()

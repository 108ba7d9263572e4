"""`make bench`: every benchmark in turn. Figures only; nothing here passes or fails."""

from __future__ import annotations

from bench import autoscale, first_request, recovery

for benchmark in (first_request, autoscale, recovery):
    print(f"\n== {benchmark.__name__}")
    benchmark.main()

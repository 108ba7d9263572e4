"""Pages a crawl delivers for the pages its `maxPages` allows, on a site of 353
reachable pages that link to one another as a docs site's do: fragments, duplicate
links, redirects to pages met before, broken links, robots.txt refusals and
off-site links. Prints figures; never pass/fail.

The baseline, measured in the same run, is plain `scrapy runspider` of the same
site with the same depth limit: what a crawl with a budget larger than the site
should deliver. Run: `python -m bench.page_budget`."""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.crawl_platform import run_job, running_platform
from crawlfleet_core.model.jobs import JobSpec
from tests.harness.plain_scrapy import plain_scrapy_pages
from tests.harness.website import TangledWebsite

SIZE, DEPTH = 232, 5
BUDGETS = (25, 100, 200, 353, 2000)


def main() -> None:
    site = TangledWebsite(size=SIZE)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            plain = len(set(plain_scrapy_pages(site.url("/doc/0"), DEPTH, Path(scratch))))
        with running_platform() as service:
            delivered = {}
            for budget in BUDGETS:
                spec = {"startUrls": [site.url("/doc/0")], "maxDepth": DEPTH, "maxPages": budget}
                status, seconds = run_job(service, JobSpec.model_validate(spec))
                assert status.result is not None, status.error
                delivered[budget] = (status.result["pages"], status.result["finish_reason"], seconds)
    finally:
        site.stop()
    print(f"baseline, plain scrapy runspider, DEPTH_LIMIT {DEPTH}: {plain} pages")
    print(f"  (the site has {site.reachable(DEPTH)} within that depth)")
    for budget, (pages, reason, seconds) in delivered.items():
        expected = min(budget, plain)
        print(
            f"  maxPages {budget:>5}: {pages:>4} pages, {pages / expected:.2f}x of min(maxPages, baseline)"
            f"  finish_reason {reason}  ({seconds:.1f} s)"
        )


if __name__ == "__main__":
    main()

"""`python -m crawlfleet_operator.uninstall`: what `helm uninstall` runs first (a
pre-delete hook), while the operator and its RBAC still exist.

It deletes the ScrapeJobs and WorkerPools this operator runs and waits while the
running operator lets them go: it cancels the crawls and stops the pool daemons,
then releases its finalizers. Left to `helm uninstall`, the operator and its RBAC
would go first, nobody could release those finalizers, `helm uninstall --wait` and
the namespace's deletion would hang, and a reinstalled operator would finish the
old deletions on the new release's objects of the same names.

An object the operator has not released after `--timeout` (the operator is not
running) loses the operator's finalizer here; its crawl, if any, is not cancelled."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Mapping
from typing import Any

from kubernetes_asyncio import client

from crawlfleet_operator import cluster
from crawlfleet_operator.config import FINALIZER, OperatorConfig, label_selector

PLURALS = (cluster.SCRAPEJOBS, cluster.WORKERPOOLS)
POLL_SECONDS = 1.0
TOO_MANY_REQUESTS = 429
SERVER_ERRORS = 500


def describe(item: Mapping[str, Any]) -> str:
    return f"{item['kind']} {item['metadata']['namespace']}/{item['metadata']['name']}"


async def delete_all(scope: cluster.Scope) -> list[tuple[str, dict[str, Any]]]:
    """Ask for the deletion of every object of `scope` not being deleted yet; what is left, by plural."""
    remaining = [(plural, item) for plural in PLURALS for item in await scope.objects(plural)]
    for plural, item in remaining:
        if "deletionTimestamp" not in item["metadata"]:
            print(f"deleting {describe(item)}", flush=True)
            await scope.delete(plural, item["metadata"]["namespace"], item["metadata"]["name"])
    return remaining


async def release(scope: cluster.Scope, timeout: float) -> list[str]:
    """Delete every object of `scope` and wait until they are gone; the objects whose
    finalizer had to be removed here, as `Kind namespace/name`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            remaining = await delete_all(scope)
        except client.ApiException as error:
            # A busy or (re)initializing API server is worth waiting for; a refusal is not.
            transient = error.status == TOO_MANY_REQUESTS or error.status >= SERVER_ERRORS
            if not transient or time.monotonic() >= deadline:
                raise
            print(f"the API server answered {error.status} {cluster.message(error)}; retrying", flush=True)
        else:
            if not remaining:
                return []
            if time.monotonic() >= deadline:
                break
        await asyncio.sleep(POLL_SECONDS)
    forced = []
    for plural, item in remaining:
        await scope.remove_finalizer(plural, item["metadata"]["namespace"], item["metadata"]["name"], FINALIZER)
        forced.append(describe(item))
    return forced


async def run(config: OperatorConfig, timeout: float) -> list[str]:
    api = await cluster.connect()
    try:
        scope = cluster.Scope(api, tuple(config.namespaces), label_selector(config.release))
        return await release(scope, timeout)
    finally:
        await api.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m crawlfleet_operator.uninstall", description=__doc__)
    parser.add_argument(
        "--timeout", type=float, default=120, help="seconds to wait for the operator before removing its finalizers"
    )
    options = parser.parse_args(argv)
    try:
        forced = asyncio.run(run(OperatorConfig(), options.timeout))
    except client.ApiException as error:
        sys.exit(f"the API server refused: {error.status} {cluster.message(error)}")
    for name in forced:
        print(f"the operator did not release {name} in {options.timeout:g}s; removed its finalizer", flush=True)
    print("every ScrapeJob and WorkerPool of this operator is gone", flush=True)


if __name__ == "__main__":
    main()

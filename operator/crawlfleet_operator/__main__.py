"""`python -m crawlfleet_operator`: run the operator (kopf) with crawlfleet's handlers,
configured from the `CRAWLFLEET_OPERATOR_*` settings, so that the Helm chart and
`make dev-k8s` configure it the same way as everything else."""

from __future__ import annotations

import argparse
import time

import kopf

from crawlfleet_operator import handlers, health, pool_handlers
from crawlfleet_operator.config import configure_kopf, configure_logging

# Importing a module of handlers is what registers them with kopf.
REGISTERED = (handlers, pool_handlers, health)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m crawlfleet_operator", description=__doc__)
    parser.add_argument(
        "-n", "--namespace", action="append", dest="namespaces", help="namespace to watch (repeatable); default all"
    )
    parser.add_argument("--health-port", type=int, help="port of /healthz and /readyz; 0 for none")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    options = parser.parse_args(argv)
    config = handlers.CONFIG.model_copy(
        update={
            "namespaces": options.namespaces or handlers.CONFIG.namespaces,
            "health_port": handlers.CONFIG.health_port if options.health_port is None else options.health_port,
            "log_level": "debug" if options.verbose else handlers.CONFIG.log_level,
        }
    )
    if config.peering and not config.pod_id:
        parser.error("peering needs POD_ID, the replica's name among its peers")
    configure_logging(config.log_level)
    settings = kopf.OperatorSettings()
    # Among replicas the oldest is active, so that one starting in a rollout waits for
    # the old one to leave instead of taking over while it still works.
    priority = -time.time_ns() // 1000
    configure_kopf(settings, config, priority=priority)
    kopf.run(
        clusterwide=not config.namespaces,
        namespaces=config.namespaces,
        settings=settings,
        memo=kopf.Memo(config=config, priority=priority),
    )


if __name__ == "__main__":
    main()

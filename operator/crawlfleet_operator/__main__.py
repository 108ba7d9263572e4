"""`python -m crawlfleet_operator`: run the operator (kopf) with crawlfleet's handlers.

The same as `kopf run -m crawlfleet_operator.handlers -m crawlfleet_operator.pool_handlers`, with the namespaces and
the liveness endpoint taken from `CRAWLFLEET_OPERATOR_*` settings, so that the
Helm chart and `make dev-k8s` configure it the same way as everything else."""

from __future__ import annotations

import argparse

import kopf

from crawlfleet_operator import handlers, pool_handlers

# Importing a module of handlers is what registers them with kopf.
REGISTERED = (handlers, pool_handlers)


def main(argv: list[str] | None = None) -> None:
    config = handlers.CONFIG
    parser = argparse.ArgumentParser(prog="python -m crawlfleet_operator", description=__doc__)
    parser.add_argument(
        "-n", "--namespace", action="append", dest="namespaces", help="namespace to watch (repeatable); default all"
    )
    parser.add_argument("--liveness", default=config.liveness_endpoint, help="liveness endpoint URL; empty for none")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--debug", action="store_true")
    options = parser.parse_args(argv)
    namespaces = options.namespaces or config.namespaces
    kopf.configure(verbose=options.verbose, debug=options.debug)
    kopf.run(
        clusterwide=not namespaces,
        namespaces=namespaces,
        liveness_endpoint=options.liveness or None,
        standalone=not config.peering,
        peering_name=config.peering or None,
    )


if __name__ == "__main__":
    main()

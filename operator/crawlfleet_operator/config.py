"""The operator's settings, read from `CRAWLFLEET_OPERATOR_*` environment variables,
and how they turn into kopf's settings."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Literal

import kopf
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from crawlfleet_core.resources import GROUP
from crawlfleet_core.settings import CommaSeparatedStrings
from crawlfleet_operator.cluster import OPERATOR_NAME, SCRAPEJOBS, WORKERPOOLS, is_pattern

FINALIZER = f"{GROUP}/operator"
# Routes a ScrapeJob or WorkerPool to the cluster-wide release of that name.
RELEASE_LABEL = f"{GROUP}/release"

LogLevel = Literal["debug", "info", "warning", "error"]


class OperatorConfig(BaseSettings):
    """Every setting has an environment variable `CRAWLFLEET_OPERATOR_<NAME>` and a default."""

    model_config = SettingsConfigDict(env_prefix="CRAWLFLEET_OPERATOR_", extra="ignore")

    namespaces: CommaSeparatedStrings = Field(
        default_factory=list,
        description=(
            "Comma-separated namespaces to watch; empty watches all of them. Exact names start at once; "
            "patterns (globs) need the right to list namespaces."
        ),
    )
    release: str = Field(
        "",
        description=(
            f"Run only the ScrapeJobs and WorkerPools labelled `{RELEASE_LABEL}=<release>` (a cluster-wide "
            "operator); empty runs only those without the label, so that one operator per namespace and "
            "cluster-wide ones never take each other's objects."
        ),
    )
    health_port: int = Field(
        8080, ge=0, le=65535, description="Port of `/healthz` (alive) and `/readyz` (reconciling); 0 turns them off."
    )
    peering: str = Field(
        "",
        description=(
            "Name of the KopfPeering (or ClusterKopfPeering) that replicas coordinate through; "
            "empty runs standalone, which is right for one replica."
        ),
    )
    pod_id: str = Field(
        "",
        validation_alias="POD_ID",
        description="This replica's name among its peers (kopf reads the same variable); the chart sets the pod's.",
    )
    peering_lifetime_seconds: int = Field(
        60,
        ge=5,
        le=3600,
        description="How long a replica that stopped without a word stays the active one before a standby takes over.",
    )
    metrics_port: int = Field(
        9090, ge=0, le=65535, description="Port of the Prometheus `/metrics` endpoint; 0 turns it off."
    )
    status_interval_seconds: float = Field(
        2.0, gt=0, le=300, description="How often a running job's state and progress are copied into its status."
    )
    schedule_interval_seconds: float = Field(
        5.0, gt=0, le=60, description="How often scheduled ScrapeJobs are checked for a due run."
    )
    log_level: LogLevel = Field("info", description="Log level: debug, info, warning or error.")


def label_selector(release: str) -> str:
    """The objects an operator of `release` runs, as a Kubernetes label selector."""
    return f"{RELEASE_LABEL}={release}" if release else f"!{RELEASE_LABEL}"


def release_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """The labels that keep an object with the release of `labels` (a schedule's runs with the schedule)."""
    return {RELEASE_LABEL: labels[RELEASE_LABEL]} if RELEASE_LABEL in labels else {}


def configure_logging(level: LogLevel) -> None:
    """kopf's log format, at `level`."""
    kopf.configure(debug=level == "debug", quiet=level in ("warning", "error"))
    logging.getLogger().setLevel(level.upper())


def configure_kopf(settings: kopf.OperatorSettings, config: OperatorConfig, *, priority: int = 0) -> None:
    """Our own finalizer and annotation names, and handler progress kept in
    annotations only: kopf's default also writes `status.kopf`, which the
    ScrapeJob's structural status schema would silently prune.

    `priority` ranks this replica among its peers (the highest is active)."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.reporting_component = OPERATOR_NAME
    # Events tell a cluster user what happened to a ScrapeJob; kopf's own handler chatter is for the log.
    settings.posting.level = logging.WARNING
    # A watch the server forgets to close would leave the operator blind without either timeout.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    # The API server leaves out the other releases' objects: this operator never sees, let alone patches, them.
    for plural in (SCRAPEJOBS, WORKERPOOLS):
        settings.watching.label_selectors[GROUP, plural] = label_selector(config.release)
    # Told the namespaces by name (or all of them), kopf need not list namespaces, which a
    # namespaced operator may not do: it would retry the refused listing for almost a minute
    # before falling back to the names, reconciling nothing meanwhile. Nor need it watch the
    # CRDs: ours are installed before the operator, and /readyz fails if they are not served.
    settings.scanning.disabled = not any(map(is_pattern, config.namespaces))
    settings.peering.standalone = not config.peering
    if config.peering:
        settings.peering.name = config.peering
        settings.peering.mandatory = True
        settings.peering.clusterwide = not config.namespaces
        settings.peering.lifetime = config.peering_lifetime_seconds
        settings.peering.priority = priority

"""The operator's settings, read from `CRAWLFLEET_OPERATOR_*` environment variables,
and how they turn into kopf's settings."""

from __future__ import annotations

import logging

import kopf
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from crawlfleet_core.resources import GROUP
from crawlfleet_core.settings import CommaSeparatedStrings

FINALIZER = f"{GROUP}/operator"
REPORTING_COMPONENT = "crawlfleet-operator"


class OperatorConfig(BaseSettings):
    """Every setting has an environment variable `CRAWLFLEET_OPERATOR_<NAME>` and a default."""

    model_config = SettingsConfigDict(env_prefix="CRAWLFLEET_OPERATOR_", extra="ignore")

    namespaces: CommaSeparatedStrings = Field(
        default_factory=list, description="Comma-separated namespaces to watch; empty watches all of them."
    )
    liveness_endpoint: str = Field(
        "http://0.0.0.0:8080/healthz", description="Where kopf serves its liveness probe; empty turns it off."
    )
    peering: str = Field(
        "",
        description=(
            "Name of the KopfPeering (or ClusterKopfPeering) that replicas coordinate through; "
            "empty runs standalone, which is right for one replica."
        ),
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


def configure_kopf(settings: kopf.OperatorSettings, config: OperatorConfig) -> None:
    """Our own finalizer and annotation names, and handler progress kept in
    annotations only: kopf's default also writes `status.kopf`, which the
    ScrapeJob's structural status schema would silently prune."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.reporting_component = REPORTING_COMPONENT
    # Events tell a cluster user what happened to a ScrapeJob; kopf's own handler chatter is for the log.
    settings.posting.level = logging.WARNING
    # A watch the server forgets to close would leave the operator blind without either timeout.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.peering.standalone = not config.peering
    if config.peering:
        settings.peering.name = config.peering
        settings.peering.mandatory = True
        settings.peering.clusterwide = not config.namespaces

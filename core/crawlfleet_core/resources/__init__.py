"""crawlfleet's Kubernetes custom resources: ScrapeJob and WorkerPool, their
models (the single source of the CRD schemas) and the CRD generator."""

from __future__ import annotations

GROUP = "crawlfleet.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

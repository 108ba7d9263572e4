"""The real `helm`, run against the chart in charts/crawlfleet.

helm is built from upstream by hack/build-control-plane.sh next to the control
plane's binaries (`$KUBEBUILDER_ASSETS/helm`). A run without it fails: a chart test
that skipped would say nothing about the chart."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.harness.control_plane import REPO_ROOT, asset_dir

CHART = REPO_ROOT / "charts" / "crawlfleet"

Manifest = dict[str, Any]


class HelmUnavailableError(RuntimeError):
    """helm could not be found or built."""


class HelmFailedError(AssertionError):
    """helm exited non-zero; the message carries its stderr, which is what a user reads."""

    def __init__(self, args: Iterable[str], result: subprocess.CompletedProcess[str]) -> None:
        self.stderr = result.stderr
        super().__init__(f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")


@dataclass(frozen=True)
class Helm:
    binary: Path
    kubeconfig: Path | None = None

    @classmethod
    def find(cls) -> Helm:
        """`$KUBEBUILDER_ASSETS/helm`, or the build script's, built on first use."""
        binary = asset_dir() / "helm"
        if not os.access(binary, os.X_OK):
            raise HelmUnavailableError(f"no helm at {binary}; run hack/build-control-plane.sh")
        return cls(binary)

    def against(self, kubeconfig: Path) -> Helm:
        """The same helm, talking to the cluster of `kubeconfig`."""
        return Helm(self.binary, kubeconfig)

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        environment = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/tmp"),
        }
        if self.kubeconfig is not None:
            environment["KUBECONFIG"] = str(self.kubeconfig)
        result = subprocess.run(
            [str(self.binary), *args],
            check=False,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=environment,
        )
        if check and result.returncode != 0:
            raise HelmFailedError(args, result)
        return result

    def run_with_values(
        self, *args: str, values: Mapping[str, Any] | None = None, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run helm with `values` given as a values file on stdin (`--values=-`), as a user's file would be."""
        if values is None:
            return self.run(*args, check=check, timeout=timeout)
        return self.run(*args, "--values=-", stdin=yaml.safe_dump(dict(values)), check=check, timeout=timeout)

    def template(
        self,
        values: Mapping[str, Any] | None = None,
        *,
        values_files: Iterable[Path] = (),
        api_versions: Iterable[str] = (),
        release: str = "crawlfleet",
        namespace: str = "crawlfleet",
    ) -> list[Manifest]:
        """The parsed objects `helm template` renders (the test hook included, the CRDs not)."""
        output = self.run_with_values(
            "template",
            release,
            str(CHART),
            f"--namespace={namespace}",
            *(f"--values={path}" for path in values_files),
            *(f"--api-versions={version}" for version in api_versions),
            values=values,
        ).stdout
        return [document for document in yaml.safe_load_all(output) if document]


def by_kind(manifests: Iterable[Manifest], kind: str) -> dict[str, Manifest]:
    """The rendered objects of one kind, by name."""
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def pod_specs(manifests: Iterable[Manifest]) -> dict[str, Manifest]:
    """Every pod spec the chart renders (workloads' templates and bare Pods), by `Kind/name`."""
    specs = {}
    for manifest in manifests:
        key = f"{manifest['kind']}/{manifest['metadata']['name']}"
        if manifest["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            specs[key] = manifest["spec"]["template"]["spec"]
        elif manifest["kind"] == "Pod":
            specs[key] = manifest["spec"]
    return specs

"""The few Kubernetes API calls the operator makes itself, beyond kopf's patches:
creating and deleting ScrapeJobs (runs of a schedule, expired jobs), and what
the autoscaler reads and writes (a Deployment's scale, its pods' deletion costs,
a WorkerPool's status).

They all go through one ApiClient, made at startup and kept in kopf's memo, so
the operator holds one HTTP session and one set of credentials whichever of its
handler modules it runs."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import kopf
from kubernetes_asyncio import client, config

from crawlfleet_core.resources import API_VERSION, GROUP, VERSION
from crawlfleet_operator.schedules import SCHEDULE_LABEL, Run
from crawlfleet_operator.scrapejobs import FINISHED

SCRAPEJOBS = "scrapejobs"
WORKERPOOLS = "workerpools"
CONFLICT = 409
NOT_FOUND = 404


async def connect() -> client.ApiClient:
    """A client with the operator's credentials: the pod's service account in a
    cluster, the kubeconfig elsewhere."""
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        await config.load_kube_config()
    return client.ApiClient()


@kopf.on.startup()
async def connect_cluster(memo: kopf.Memo, **_: Any) -> None:
    api = await connect()
    memo.api = api
    memo.scrapejobs = ScrapeJobs(api)
    memo.workerpools = WorkerPools(api)


@kopf.on.cleanup()
async def disconnect_cluster(memo: kopf.Memo, **_: Any) -> None:
    api: client.ApiClient | None = memo.get("api")
    if api is not None:
        await api.close()


class ScrapeJobs:
    def __init__(self, api: client.ApiClient) -> None:
        self.objects = client.CustomObjectsApi(api)

    async def create_run(self, parent: dict[str, Any], name: str, spec: dict[str, Any]) -> bool:
        """Create a run of a schedule; False when it exists already (this tick was handled before a restart)."""
        metadata = parent["metadata"]
        body = {
            "apiVersion": API_VERSION,
            "kind": "ScrapeJob",
            "metadata": {
                "name": name,
                "namespace": metadata["namespace"],
                "labels": {SCHEDULE_LABEL: metadata["name"]},
                # The garbage collector deletes the runs with their schedule.
                "ownerReferences": [
                    {
                        "apiVersion": API_VERSION,
                        "kind": "ScrapeJob",
                        "name": metadata["name"],
                        "uid": metadata["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": spec,
        }
        try:
            await self.objects.create_namespaced_custom_object(GROUP, VERSION, metadata["namespace"], SCRAPEJOBS, body)
        except client.ApiException as error:
            if error.status == CONFLICT:
                return False
            raise
        return True

    async def runs(self, namespace: str, schedule: str) -> list[Run]:
        listing = await self.objects.list_namespaced_custom_object(
            GROUP, VERSION, namespace, SCRAPEJOBS, label_selector=f"{SCHEDULE_LABEL}={schedule}"
        )
        return [
            Run(
                name=item["metadata"]["name"],
                created=datetime.fromisoformat(item["metadata"]["creationTimestamp"]),
                finished=item.get("status", {}).get("phase") in FINISHED,
            )
            for item in listing["items"]
        ]

    async def delete(self, namespace: str, name: str) -> None:
        try:
            await self.objects.delete_namespaced_custom_object(
                GROUP, VERSION, namespace, SCRAPEJOBS, name, propagation_policy="Background"
            )
        except client.ApiException as error:
            if error.status != NOT_FOUND:
                raise


@dataclass(frozen=True)
class Scale:
    """A Deployment's scale subresource: its replicas and the label selector of its pods."""

    replicas: int
    selector: str | None


class WorkerPools:
    def __init__(self, api: client.ApiClient) -> None:
        self.apps = client.AppsV1Api(api)
        self.core = client.CoreV1Api(api)
        self.objects = client.CustomObjectsApi(api)

    async def scale(self, namespace: str, deployment: str) -> Scale | None:
        """The Deployment's scale; None when there is no such Deployment."""
        try:
            scale: client.V1Scale = await self.apps.read_namespaced_deployment_scale(deployment, namespace)
        except client.ApiException as error:
            if error.status == NOT_FOUND:
                return None
            raise
        return Scale(replicas=int(scale.spec.replicas or 0), selector=scale.status.selector)

    async def set_replicas(self, namespace: str, deployment: str, replicas: int) -> None:
        await self.apps.patch_namespaced_deployment_scale(deployment, namespace, {"spec": {"replicas": replicas}})

    async def pod_annotations(self, namespace: str, selector: str) -> dict[str, dict[str, str]]:
        """Each pod the selector matches, by name, with its annotations."""
        pods = (await self.core.list_namespaced_pod(namespace, label_selector=selector)).items
        return {pod.metadata.name: dict(pod.metadata.annotations or {}) for pod in pods}

    async def annotate_pods(self, namespace: str, annotations: Mapping[str, Mapping[str, str]]) -> None:
        """Merge `annotations[pod]` into each pod's annotations, all at once."""
        await asyncio.gather(
            *(
                self.core.patch_namespaced_pod(pod, namespace, {"metadata": {"annotations": dict(added)}})
                for pod, added in annotations.items()
            )
        )

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        # The client's stub omits `_content_type`, which its runtime accepts.
        await self.objects.patch_namespaced_custom_object_status(  # type: ignore[call-arg]
            GROUP,
            VERSION,
            namespace,
            WORKERPOOLS,
            name,
            {"status": status},
            # Custom resources take no strategic merge patch, which the client would pick for a dict.
            _content_type="application/merge-patch+json",
        )

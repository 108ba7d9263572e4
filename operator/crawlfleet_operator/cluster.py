"""The few Kubernetes API calls the operator makes itself, beyond kopf's patches:
creating and deleting ScrapeJobs (runs of a schedule, expired jobs), and what
the autoscaler reads and writes (a Deployment's scale, its pods' deletion costs,
a WorkerPool's status).

They all go through one ApiClient, made at startup and kept in kopf's memo, so
the operator holds one HTTP session and one set of credentials whichever of its
handler modules it runs."""

from __future__ import annotations

import asyncio
import fnmatch
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import kopf
from kubernetes_asyncio import client, config

from crawlfleet_core.resources import API_VERSION, GROUP, VERSION
from crawlfleet_operator.schedules import SCHEDULE_LABEL, Run
from crawlfleet_operator.scrapejobs import FINISHED

SCRAPEJOBS = "scrapejobs"
WORKERPOOLS = "workerpools"
# What the operator signs its writes with: its Events' component, and its field
# manager in `kubectl get -o yaml --show-managed-fields` (the user agent's name).
OPERATOR_NAME = "crawlfleet-operator"
CONFLICT = 409
NOT_FOUND = 404
UNPROCESSABLE = 422  # also what a JSON patch whose test failed gets
FINALIZER_ATTEMPTS = 3
# kopf's peering objects: KopfPeering (namespaced) and ClusterKopfPeering.
PEERING = ("kopf.dev", "v1")


def message(error: client.ApiException) -> str:
    """What the API server said, from the Status it answered with when it did."""
    try:
        return str(json.loads(error.body or "")["message"])
    except (TypeError, ValueError, KeyError):
        return str(error.reason)


async def connect() -> client.ApiClient:
    """A client with the operator's credentials: the pod's service account in a
    cluster, the kubeconfig elsewhere."""
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        await config.load_kube_config()
    api = client.ApiClient()
    api.user_agent = OPERATOR_NAME
    return api


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

    async def create_run(
        self, parent: dict[str, Any], name: str, spec: dict[str, Any], labels: Mapping[str, str]
    ) -> bool:
        """Create a run of a schedule; False when it exists already (this tick was handled before a restart)."""
        metadata = parent["metadata"]
        body = {
            "apiVersion": API_VERSION,
            "kind": "ScrapeJob",
            "metadata": {
                "name": name,
                "namespace": metadata["namespace"],
                "labels": dict(labels),
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


@dataclass(frozen=True)
class Scope:
    """The ScrapeJobs and WorkerPools one operator runs: those its label selector
    picks in the namespaces it watches. `namespaces` are names or glob patterns,
    as kopf takes them; none means every namespace."""

    api: client.ApiClient
    namespaces: tuple[str, ...]
    selector: str

    async def objects(self, plural: str, limit: int | None = None) -> list[dict[str, Any]]:
        """The objects of `plural`; with `limit`, at most that many per listing (enough to
        learn that the listing works, at a fraction of the cost of a large one)."""
        objects = client.CustomObjectsApi(self.api)
        options: dict[str, Any] = {"label_selector": self.selector} | ({"limit": limit} if limit else {})
        if self.namespaces and not any(map(is_pattern, self.namespaces)):
            listings = await asyncio.gather(
                *(
                    objects.list_namespaced_custom_object(GROUP, VERSION, namespace, plural, **options)
                    for namespace in self.namespaces
                )
            )
            return [item for listing in listings for item in listing["items"]]
        listing = await objects.list_cluster_custom_object(GROUP, VERSION, plural, **options)
        return [item for item in listing["items"] if self.watches(item["metadata"]["namespace"])]

    def watches(self, namespace: str) -> bool:
        """kopf's reading of the namespaces: any pattern matches, and no `!pattern` does."""
        included = [pattern for pattern in self.namespaces if not pattern.startswith("!")]
        excluded = [pattern[1:] for pattern in self.namespaces if pattern.startswith("!")]
        return (not included or any(fnmatch.fnmatchcase(namespace, pattern) for pattern in included)) and not any(
            fnmatch.fnmatchcase(namespace, pattern) for pattern in excluded
        )

    async def delete(self, plural: str, namespace: str, name: str) -> None:
        try:
            await client.CustomObjectsApi(self.api).delete_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name
            )
        except client.ApiException as error:
            if error.status != NOT_FOUND:
                raise

    async def remove_finalizer(self, plural: str, namespace: str, name: str, finalizer: str) -> None:
        """Take `finalizer` off the object and leave the others' finalizers: the patch
        tests that the list is as read, and a list changed meanwhile is read again."""
        objects = client.CustomObjectsApi(self.api)
        for _ in range(FINALIZER_ATTEMPTS):
            try:
                body = await objects.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
                finalizers = list(body["metadata"].get("finalizers", []))
                if finalizer not in finalizers:
                    return
                index = finalizers.index(finalizer)
                patch = [
                    {"op": "test", "path": f"/metadata/finalizers/{index}", "value": finalizer},
                    {"op": "remove", "path": f"/metadata/finalizers/{index}"},
                ]
                # The client's stub omits `_content_type`, which its runtime accepts.
                await objects.patch_namespaced_custom_object(  # type: ignore[call-arg]
                    GROUP, VERSION, namespace, plural, name, patch, _content_type="application/json-patch+json"
                )
                return
            except client.ApiException as error:
                if error.status == NOT_FOUND:
                    return
                if error.status != UNPROCESSABLE:
                    raise
        raise RuntimeError(f"the finalizers of {plural} {namespace}/{name} kept changing")


def is_pattern(namespace: str) -> bool:
    """Whether kopf reads a namespace setting as a pattern to match listed namespaces against."""
    return any(character in namespace for character in "*?[]!")


@dataclass(frozen=True)
class Peer:
    """A replica in a kopf peering object's status, as kopf writes it."""

    identity: str
    priority: int
    alive_until: datetime


async def peers(api: client.ApiClient, name: str, namespace: str | None) -> list[Peer]:
    """The replicas recorded in the KopfPeering `name` of `namespace` (the
    ClusterKopfPeering when None); none when the object does not exist."""
    objects = client.CustomObjectsApi(api)
    try:
        if namespace is None:
            body = await objects.get_cluster_custom_object(*PEERING, "clusterkopfpeerings", name)
        else:
            body = await objects.get_namespaced_custom_object(*PEERING, namespace, "kopfpeerings", name)
    except client.ApiException as error:
        if error.status == NOT_FOUND:
            return []
        raise
    return [
        Peer(
            identity=identity,
            priority=int(info.get("priority", 0)),
            alive_until=datetime.fromisoformat(info["lastseen"]) + timedelta(seconds=int(info.get("lifetime", 60))),
        )
        for identity, info in (body.get("status") or {}).items()
        if isinstance(info, dict) and "lastseen" in info
    ]

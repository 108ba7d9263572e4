"""The few Kubernetes API calls the operator makes itself, beyond kopf's patches:
creating and deleting ScrapeJobs (runs of a schedule, expired jobs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kubernetes_asyncio import client, config

from crawlfleet_core.resources import API_VERSION, GROUP, VERSION
from crawlfleet_operator.schedules import SCHEDULE_LABEL, Run
from crawlfleet_operator.scrapejobs import FINISHED

PLURAL = "scrapejobs"
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
            await self.objects.create_namespaced_custom_object(GROUP, VERSION, metadata["namespace"], PLURAL, body)
        except client.ApiException as error:
            if error.status == CONFLICT:
                return False
            raise
        return True

    async def runs(self, namespace: str, schedule: str) -> list[Run]:
        listing = await self.objects.list_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, label_selector=f"{SCHEDULE_LABEL}={schedule}"
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
                GROUP, VERSION, namespace, PLURAL, name, propagation_policy="Background"
            )
        except client.ApiException as error:
            if error.status != NOT_FOUND:
                raise

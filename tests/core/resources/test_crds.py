"""The CRDs: generated from the models, structural, and enforced by a real API server."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from crawlfleet_core.resources import crds
from tests.harness.control_plane import ControlPlane

REPO_ROOT = Path(__file__).resolve().parents[3]
CRD_DIR = REPO_ROOT / "manifests" / "crds"


def test_committed_crds_are_what_the_models_generate() -> None:
    assert crds.main([str(CRD_DIR), "--check"]) == 0, "run `python -m crawlfleet_core.resources.crds`"
    assert sorted(path.name for path in CRD_DIR.glob("*.crawlfleet.io.yaml")) == sorted(crds.rendered())


def nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from nodes(sub, f"{path}.{name}")
    if "items" in schema:
        yield from nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from nodes(schema["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("crd", [crds.scrapejob_crd(), crds.workerpool_crd()], ids=["scrapejob", "workerpool"])
def test_schema_is_structural_and_bounded(crd: dict[str, Any]) -> None:
    """Bounds on every string, list and map keep CEL's cost estimate, and etcd, within limits."""
    root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert "$ref" not in json.dumps(root)
    for path, node in nodes(root):
        assert "type" in node, path
        assert "anyOf" not in node, path
        if path in {".apiVersion", ".kind"}:
            continue
        if node["type"] == "string":
            assert "maxLength" in node or "enum" in node, f"{path} is an unbounded string"
        if node["type"] == "array":
            assert "maxItems" in node, f"{path} is an unbounded list"
        if node["type"] == "object" and "additionalProperties" in node:
            assert "maxProperties" in node, f"{path} is an unbounded map"


def test_scrapejob_names_printer_columns_and_short_name() -> None:
    crd = crds.scrapejob_crd()
    version = crd["spec"]["versions"][0]
    assert [c["name"] for c in version["additionalPrinterColumns"] if "priority" not in c] == [
        "Phase",
        "Pages",
        "Items",
        "Progress",
        "Age",
    ]
    assert version["subresources"] == {"status": {}}
    assert crd["spec"]["names"]["shortNames"] == ["sj"]
    assert crd["spec"]["names"]["categories"] == ["crawlfleet"]
    assert crds.workerpool_crd()["spec"]["names"]["shortNames"] == ["wp"]


def test_translation_refuses_what_a_structural_schema_cannot_say() -> None:
    with pytest.raises(crds.UnsupportedSchemaError, match="unions"):
        crds.structural({"anyOf": [{"type": "string"}, {"type": "integer"}]})
    with pytest.raises(crds.UnsupportedSchemaError, match="oneOf"):
        crds.structural({"type": "object", "oneOf": []})


@pytest.fixture(scope="session")
def installed_crds(control_plane: ControlPlane) -> ControlPlane:
    control_plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_DIR))
    control_plane.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    return control_plane


@pytest.fixture
def namespace(installed_crds: ControlPlane) -> Iterator[str]:
    name = f"crd-{uuid.uuid4().hex[:8]}"
    installed_crds.kubectl("create", "namespace", name)
    yield name
    installed_crds.kubectl("delete", "namespace", name, "--wait=false")


def scrapejob(name: str = "job", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "crawlfleet.io/v1alpha1",
        "kind": "ScrapeJob",
        "metadata": {"name": name},
        "spec": {"startUrls": ["https://quotes.toscrape.com/"], **spec},
    }


INVALID = {
    "no start url": (scrapejob(startUrls=[]), "spec.startUrls"),
    "start urls missing": ({**scrapejob(), "spec": {"maxPages": 3}}, "spec.startUrls"),
    "ftp url": (scrapejob(startUrls=["ftp://example.com/file"]), "spec.startUrls[0]"),
    "url without host": (scrapejob(startUrls=["https:///path"]), "spec.startUrls[0]"),
    "url too long": (scrapejob(startUrls=["https://example.com/" + "a" * 2100]), "spec.startUrls[0]"),
    "zero pages": (scrapejob(maxPages=0), "spec.maxPages"),
    "too deep": (scrapejob(maxDepth=101), "spec.maxDepth"),
    "priority above 9": (scrapejob(priority=10), "spec.priority"),
    "queue with capitals": (scrapejob(queue="Bulk_Queue"), "spec.queue"),
    "domain with a space": (scrapejob(allowedDomains=["not a domain"]), "spec.allowedDomains[0]"),
    "extract field name": (scrapejob(extract={"1st": "h1"}), "spec.extract"),
    "extract names url": (scrapejob(extract={"url": "a::attr(href)"}), "spec.extract"),
    "empty selector": (scrapejob(extract={"title": ""}), "spec.extract.title"),
    "concurrency as text": (scrapejob(concurrency="eight"), "spec.concurrency"),
    "unknown field": (scrapejob(maxPage=3), "spec.maxPage"),
    "not a cron schedule": (scrapejob(schedule="every minute"), "spec.schedule"),
    "negative ttl": (scrapejob(ttlSecondsAfterFinished=-1), "spec.ttlSecondsAfterFinished"),
    "scheduled name too long": (scrapejob(name="a" * 53, schedule="@hourly"), "metadata.name"),
    "callback to a file": (scrapejob(callbackUrl="file:///etc/passwd"), "spec.callbackUrl"),
    "feed to a file": (scrapejob(feeds={"file:///tmp/items.jsonl": {"format": "jsonl"}}), "spec.feeds"),
    "feed with credentials": (scrapejob(feeds={"s3://key:secret@bucket/x": {"format": "jsonl"}}), "spec.feeds"),
    "feed format pickle": (
        scrapejob(feeds={"s3://bucket/x": {"format": "pickle"}}),
        "spec.feeds.s3://bucket/x.format",
    ),
    "feed loading code": (
        scrapejob(feeds={"s3://bucket/x": {"format": "jsonl", "item_filter": "os.system"}}),
        "spec.feeds.s3://bucket/x.item_filter",
    ),
}


@pytest.mark.parametrize(("manifest", "field"), INVALID.values(), ids=INVALID.keys())
def test_api_server_rejects_an_invalid_scrapejob_naming_the_field(
    installed_crds: ControlPlane, namespace: str, manifest: dict[str, Any], field: str
) -> None:
    result = installed_crds.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest), check=False)
    assert result.returncode != 0, f"accepted: {manifest}"
    assert field in result.stderr, result.stderr
    assert installed_crds.kubectl("get", "sj", "-n", namespace, "-o", "name").stdout == ""


def test_api_server_fills_in_defaults(installed_crds: ControlPlane, namespace: str) -> None:
    installed_crds.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(scrapejob()))
    spec = json.loads(installed_crds.kubectl("get", "sj", "job", "-n", namespace, "-o", "json").stdout)["spec"]
    assert spec["maxPages"] == 100
    assert spec["maxDepth"] == 3
    assert spec["suspend"] is False
    assert "schedule" not in spec


def test_crawl_of_a_scrapejob_is_immutable(installed_crds: ControlPlane, namespace: str) -> None:
    installed_crds.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(scrapejob()))
    changed = installed_crds.kubectl(
        "patch", "sj", "job", "-n", namespace, "--type=merge", "-p", '{"spec": {"maxPages": 5}}', check=False
    )
    assert changed.returncode != 0
    assert "immutable" in changed.stderr
    installed_crds.kubectl("patch", "sj", "job", "-n", namespace, "--type=merge", "-p", '{"spec": {"suspend": true}}')


def test_suspend_cannot_change_once_submitted(installed_crds: ControlPlane, namespace: str) -> None:
    installed_crds.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(scrapejob()))
    installed_crds.kubectl(
        "patch", "sj", "job", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", '{"status": {"jobId": "0f1e", "phase": "Queued"}}',
    )  # fmt: skip
    suspended = installed_crds.kubectl(
        "patch", "sj", "job", "-n", namespace, "--type=merge", "-p", '{"spec": {"suspend": true}}', check=False
    )
    assert suspended.returncode != 0
    assert "spec.suspend" in suspended.stderr


def test_schedule_cannot_be_added_later(installed_crds: ControlPlane, namespace: str) -> None:
    installed_crds.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(scrapejob()))
    scheduled = installed_crds.kubectl(
        "patch", "sj", "job", "-n", namespace, "--type=merge", "-p", '{"spec": {"schedule": "@daily"}}', check=False
    )
    assert scheduled.returncode != 0
    assert "spec.schedule" in scheduled.stderr


def test_example_scrapejob_is_valid(installed_crds: ControlPlane, namespace: str) -> None:
    example = REPO_ROOT / "manifests" / "examples" / "scrapejob.yaml"
    installed_crds.kubectl("apply", "-n", namespace, "--dry-run=server", "-f", str(example))
    assert yaml.safe_load(example.read_text())["kind"] == "ScrapeJob"

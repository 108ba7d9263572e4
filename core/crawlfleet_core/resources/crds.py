"""The CustomResourceDefinitions, generated from the pydantic models.

`python -m crawlfleet_core.resources.crds` writes manifests/crds/; `--check` fails when the
committed files differ from what the models generate. A CRD schema must be
*structural*: no `$ref`, no `anyOf` standing in for a type, a type on every
node. The translation below turns pydantic's JSON schema into that, and refuses
any keyword it does not know rather than let the API server silently ignore or
reject it."""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from crawlfleet_core.resources import GROUP, VERSION
from crawlfleet_core.resources.scrapejobs import OBJECT_RULES, ScrapeJobSpec, ScrapeJobStatus
from crawlfleet_core.resources.workerpools import WorkerPoolSpec, WorkerPoolStatus

Schema = dict[str, Any]

CATEGORY = "crawlfleet"
# Timestamps are RFC 3339 strings; bounding them keeps CEL's cost estimate small.
TIMESTAMP_MAX_LENGTH = 64
# Keywords copied as they are; everything else is translated below or refused.
KEPT = frozenset(
    {
        "type",
        "description",
        "format",
        "enum",
        "pattern",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "minItems",
        "maxItems",
        "maxProperties",
        "x-kubernetes-validations",
    }
)
DROPPED = frozenset({"title"})


class UnsupportedSchemaError(ValueError):
    """The model uses a JSON schema shape a structural CRD schema cannot express."""


def structural(schema: Schema, definitions: dict[str, Schema] | None = None) -> Schema:
    """The structural OpenAPI v3 schema of pydantic's JSON `schema`."""
    definitions = schema.get("$defs", {}) if definitions is None else definitions
    if "$ref" in schema:
        target = definitions[schema["$ref"].removeprefix("#/$defs/")]
        merged = {**target, **{key: value for key, value in schema.items() if key != "$ref"}}
        return structural(merged, definitions)
    if "anyOf" in schema:
        return structural(_without_null(schema), definitions)
    result: Schema = {}
    for key, value in schema.items():
        result.update(_keyword(key, value, definitions))
    if result.get("format") == "date-time":
        result.setdefault("maxLength", TIMESTAMP_MAX_LENGTH)
    if "type" not in result:
        raise UnsupportedSchemaError(f"schema without a type: {schema!r}")
    return result


def _keyword(key: str, value: Any, definitions: dict[str, Schema]) -> Schema:
    """The structural form of one keyword of a JSON schema node."""
    if key in KEPT:
        return {key: copy.deepcopy(value)}
    if key in DROPPED:
        return {}
    translate = TRANSLATIONS.get(key)
    if translate is None or (key == "additionalProperties" and value is not False):
        raise UnsupportedSchemaError(f"JSON schema keyword {key!r}: {value!r} has no structural translation")
    return translate(value, definitions)


def _without_null(schema: Schema) -> Schema:
    """`X | None` is an optional field in Kubernetes: absent, never null."""
    variants = [variant for variant in schema["anyOf"] if variant != {"type": "null"}]
    if len(variants) != 1:
        raise UnsupportedSchemaError(f"only `X | None` unions are structural, not {schema['anyOf']!r}")
    rest = {key: value for key, value in schema.items() if key != "anyOf"}
    return {**variants[0], **rest}


def _without_nones(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_nones(item) for key, item in value.items() if item is not None}
    return value


def _map_schema(pattern_properties: dict[str, Schema], definitions: dict[str, Schema]) -> Schema:
    """A map with constrained keys: structural schemas have no patternProperties,
    so the values get `additionalProperties` and the keys a CEL rule."""
    if len(pattern_properties) != 1:
        raise UnsupportedSchemaError("a map may constrain its keys with one pattern only")
    ((pattern, values),) = pattern_properties.items()
    return {
        "additionalProperties": structural(values, definitions),
        "x-kubernetes-validations": [
            {"rule": f"self.all(key, key.matches({_cel_string(pattern)}))", "message": f"keys must match {pattern}"}
        ],
    }


def _cel_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


TRANSLATIONS: dict[str, Callable[[Any, dict[str, Schema]], Schema]] = {
    "$defs": lambda value, definitions: {},
    # Kubernetes has no null default: an optional field is simply absent.
    "default": lambda value, definitions: {} if value is None else {"default": _without_nones(value)},
    "properties": lambda value, definitions: {
        "properties": {name: structural(sub, definitions) for name, sub in value.items()}
    },
    "required": lambda value, definitions: {"required": list(value)},
    "items": lambda value, definitions: {"items": structural(value, definitions)},
    # `extra="forbid"`: a structural schema prunes unknown fields, and `kubectl apply` refuses them.
    "additionalProperties": lambda value, definitions: {},
    "patternProperties": _map_schema,
}


def model_schema(model: type[BaseModel]) -> Schema:
    return structural(model.model_json_schema(by_alias=True, mode="validation"))


def custom_resource_definition(
    *,
    kind: str,
    plural: str,
    short_name: str,
    spec: type[BaseModel],
    status: type[BaseModel],
    columns: list[dict[str, Any]],
    rules: list[dict[str, str]] | None = None,
) -> Schema:
    root: Schema = {
        "type": "object",
        "description": (spec.__doc__ or "").split("\n\n")[0].replace("\n", " "),
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": model_schema(spec),
            "status": model_schema(status),
        },
        "required": ["spec"],
    }
    if rules:
        root["x-kubernetes-validations"] = rules
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": [short_name],
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        *columns,
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


def scrapejob_crd() -> Schema:
    return custom_resource_definition(
        kind="ScrapeJob",
        plural="scrapejobs",
        short_name="sj",
        spec=ScrapeJobSpec,
        status=ScrapeJobStatus,
        rules=OBJECT_RULES,
        columns=[
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            {"name": "Pages", "type": "integer", "jsonPath": ".status.progress.pages"},
            {"name": "Items", "type": "integer", "jsonPath": ".status.progress.items"},
            {"name": "Progress", "type": "number", "jsonPath": ".status.progress.percent", "format": "float"},
            {"name": "Schedule", "type": "string", "jsonPath": ".spec.schedule", "priority": 1},
            {"name": "Job", "type": "string", "jsonPath": ".status.jobId", "priority": 1},
        ],
    )


def workerpool_crd() -> Schema:
    return custom_resource_definition(
        kind="WorkerPool",
        plural="workerpools",
        short_name="wp",
        spec=WorkerPoolSpec,
        status=WorkerPoolStatus,
        columns=[
            {"name": "Queue", "type": "string", "jsonPath": ".spec.queue"},
            {"name": "Deployment", "type": "string", "jsonPath": ".spec.deployment"},
            {"name": "Min", "type": "integer", "jsonPath": ".spec.minReplicas"},
            {"name": "Max", "type": "integer", "jsonPath": ".spec.maxReplicas"},
            {"name": "Desired", "type": "integer", "jsonPath": ".status.desiredReplicas"},
            {"name": "Current", "type": "integer", "jsonPath": ".status.currentReplicas"},
            {"name": "Queued", "type": "integer", "jsonPath": ".status.queued"},
            {"name": "In flight", "type": "integer", "jsonPath": ".status.inFlight"},
            {"name": "Reason", "type": "string", "jsonPath": ".status.lastScaleReason", "priority": 1},
        ],
    )


HEADER = "# Generated from the pydantic models by `python -m crawlfleet_core.resources.crds`; do not edit.\n"


def rendered() -> dict[str, str]:
    """File name to YAML text of every CRD."""
    documents = {}
    for crd in (scrapejob_crd(), workerpool_crd()):
        documents[f"{crd['metadata']['name']}.yaml"] = HEADER + yaml.safe_dump(
            crd, sort_keys=False, width=120, allow_unicode=True
        )
    return documents


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the CRDs generated from the models.")
    parser.add_argument("directory", type=Path, nargs="?", default=Path("manifests/crds"))
    parser.add_argument("--check", action="store_true", help="fail when the files differ from the models")
    options = parser.parse_args(argv)
    stale = []
    for name, text in rendered().items():
        path = options.directory / name
        if options.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print(f"out of date, run `python -m crawlfleet_core.resources.crds`: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

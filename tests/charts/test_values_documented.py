"""A reader of values.yaml understands every knob from its comment: every key has a
comment line right above it, except the fields of Kubernetes objects that a
commented key passes through verbatim (security contexts, resources, selectors)."""

from __future__ import annotations

import re

from tests.harness.helm import CHART

# Keys whose value is a Kubernetes object (or an example list of them) documented as a whole.
KUBERNETES_OBJECTS = re.compile(
    r"(^|\.)(podSecurityContext|containerSecurityContext|resources|hosts|namespaceSelector|podSelector"
    r"|allowedEgress|scaleUp|scaleDown|to|ports)\."
)
KEY = re.compile(r"^(?P<indent>\s*)(?P<item>- )?(?P<key>[A-Za-z][\w.-]*):")


def undocumented_keys() -> list[str]:
    lines = (CHART / "values.yaml").read_text().splitlines()
    parents: list[tuple[int, str]] = []
    missing = []
    for number, line in enumerate(lines):
        match = KEY.match(line)
        if match is None:
            continue
        indent = len(match["indent"]) + (2 if match["item"] else 0)
        while parents and parents[-1][0] >= indent:
            parents.pop()
        path = ".".join([key for _, key in parents] + [match["key"]])
        parents.append((indent, match["key"]))
        above = lines[number - 1].strip() if number else ""
        documented = above.startswith(("#", "- #"))
        if not documented and not KUBERNETES_OBJECTS.search(path):
            missing.append(f"line {number + 1}: {path}")
    return missing


def test_every_knob_has_a_comment() -> None:
    assert undocumented_keys() == []

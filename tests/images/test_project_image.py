"""The example image of a pool with a Scrapy project installed: the file the docs
show, clean for hadolint, installing the project as the tests install theirs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.harness.control_plane import REPO_ROOT

EXAMPLE = REPO_ROOT / "manifests" / "examples" / "project-worker.Dockerfile"
DOCS = REPO_ROOT / "docs" / "projects.md"
HADOLINT = Path(sys.executable).parent / "hadolint"


def test_the_docs_show_the_example_file() -> None:
    block = DOCS.read_text().split("```dockerfile\n", 1)[1].split("```", 1)[0]
    assert block == EXAMPLE.read_text()


def test_hadolint_finds_nothing_in_the_example() -> None:
    result = subprocess.run(
        [str(HADOLINT), "--failure-threshold=style", "--no-color", str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_installs_the_project_as_the_installed_project_test_does() -> None:
    text = EXAMPLE.read_text()
    assert "pip install --no-cache-dir --no-deps --target /opt/project" in text
    assert "ENV PYTHONPATH=/opt/project" in text
    assert text.splitlines()[-1] == "USER 10001:10001"

"""The README's command-line example for a team's own project, run as written against
the real stack: only the API's address, the shop's and the project's folder are the
tests' own."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.api.conftest import ApiProcess
from tests.harness.celery_worker import CeleryWorker
from tests.harness.control_plane import REPO_ROOT
from tests.harness.projects import BIN, SPIDERS, project_copy
from tests.harness.website import Website

README = (REPO_ROOT / "README.md").read_text()


def project_example() -> list[str]:
    """The commands of the CLI section's block about a team's project."""
    section = README.split("\n## The command line\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("A team's own Scrapy project", 1)[1]
    text = re.search(r"```sh\n(.*?)```", block, flags=re.DOTALL)
    assert text
    return [line.split("  #")[0].strip() for line in text[1].splitlines() if line.strip()]


def test_the_readmes_project_example_deploys_runs_and_follows_the_log(
    open_api: ApiProcess, cli_env: dict[str, str], celery_worker: CeleryWorker, website: Website, tmp_path: Path
) -> None:
    project_copy(tmp_path)
    deploy, projects, run, logs, listing = project_example()
    env = {**cli_env, "CRAWLFLEET_API_URL": open_api.url, "PATH": f"{BIN}:{cli_env['PATH']}"}

    def shell(command: str) -> subprocess.CompletedProcess[str]:
        command = command.replace("https://shop.example.com/", website.url("/page/0"))
        return subprocess.run(
            ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
        )

    deployed = shell(deploy)
    assert deployed.returncode == 0, deployed.stderr
    assert deployed.stdout.splitlines() == SPIDERS
    listed = shell(projects)
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"^pricewatch +deployed .*1\.0.* catalog, page", listed.stdout, flags=re.MULTILINE)
    ran = shell(run)
    assert ran.returncode == 0, ran.stderr
    job_id = ran.stdout.splitlines()[0]
    # The project's pipeline keeps the offers priced up to 100: pages 0 to 10.
    assert "15 pages · 11 items · 0 errors" in ran.stdout
    followed = shell(logs.replace("<id>", job_id))
    assert followed.returncode == 0, followed.stderr
    assert "'DOWNLOAD_DELAY': '0.25'" in followed.stdout
    assert followed.stdout.rstrip().endswith("Spider closed (finished)")
    jobs = shell(listing)
    assert jobs.returncode == 0, jobs.stderr
    assert job_id in jobs.stdout
    assert "pricewatch/catalog" in jobs.stdout


@pytest.mark.parametrize("command", ["deploy", "projects", "run", "logs", "ls"])
def test_the_readme_shows_every_project_command(command: str) -> None:
    assert any(
        line.startswith(f"crawlfleet {command} ") or line == f"crawlfleet {command}" for line in project_example()
    )

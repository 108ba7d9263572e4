"""A team's own Scrapy project through the CLI, as subprocesses against the real stack:
`deploy` the suite's project, see it in `projects`, `run` its spider, read its `logs`."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from crawlfleet_core.model.projects import InstalledProject
from crawlfleet_core.settings import Settings
from crawlfleet_core.store import keys
from crawlfleet_core.store.projects import ProjectStore
from tests.api.conftest import ApiProcess
from tests.api.polling import wait_for_state
from tests.cli.conftest import CLI, Run
from tests.harness.celery_worker import CeleryWorker
from tests.harness.projects import SPIDERS, project_copy
from tests.harness.website import HeldWebsite, Website

# A name of its own, so that other tests deploying the suite's project elsewhere do not change it.
PROJECT = "cliwatch"


@pytest.fixture(scope="module")
def deployed(open_api: ApiProcess, tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    """`crawlfleet deploy` of a copy of the suite's Scrapy project, run from one of its subfolders."""
    project = project_copy(tmp_path_factory.mktemp("cli-project"))
    env = {name: value for name, value in os.environ.items() if not name.startswith("CRAWLFLEET_")}
    return subprocess.run(
        [CLI, "--api-url", open_api.url, "deploy", "--project", PROJECT, "--version", "1.0"],
        cwd=project / "pricewatch" / "spiders",
        env={**env, "CRAWLFLEET_CONFIG": str(project / "no-config.toml")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_deploy_builds_the_egg_uploads_it_and_prints_its_spiders(
    deployed: subprocess.CompletedProcess[str], api_client: httpx.Client
) -> None:
    assert deployed.returncode == 0, deployed.stderr
    assert deployed.stdout.splitlines() == SPIDERS
    assert f"deployed {PROJECT} 1.0 with 2 spiders" in deployed.stderr
    version = api_client.get(f"/v1/projects/{PROJECT}").json()["versions"][-1]
    assert (version["version"], version["spiders"], version["settingsModule"]) == (
        "1.0",
        SPIDERS,
        "pricewatch.settings",
    )


def test_deploy_takes_the_project_name_from_scrapy_cfg_and_a_time_stamp_version(
    crawlfleet: Run, api_client: httpx.Client, tmp_path: Path
) -> None:
    project = project_copy(tmp_path)
    before = int(time.time())
    done = crawlfleet("deploy", str(project), "--json")
    assert done.returncode == 0, done.stderr
    version = json.loads(done.stdout)
    assert before <= int(version["version"]) <= time.time()
    listed = api_client.get("/v1/projects/pricewatch").json()["versions"]
    assert version["version"] in [listed_version["version"] for listed_version in listed]
    assert (project / "setup.py").is_file()
    assert api_client.delete(f"/v1/projects/pricewatch/versions/{version['version']}").status_code == 204


def test_projects_lists_the_catalog_with_versions_and_spiders(
    deployed: subprocess.CompletedProcess[str], crawlfleet: Run
) -> None:
    assert deployed.returncode == 0, deployed.stderr
    listed = crawlfleet("projects")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith(f"{PROJECT} "))
    assert row.split()[1:5] == ["deployed", "1.0", "catalog,", "page"]
    catalog = json.loads(crawlfleet("projects", "--json").stdout)
    assert PROJECT in [project["name"] for project in catalog["projects"]]


@pytest.fixture
def installed(settings: Settings) -> Iterator[str]:
    """A project as the workers of queue `images` announce it when it is installed in their image;
    withdrawn afterwards, since every tenant's catalog lists it."""
    store = ProjectStore.from_settings(settings)
    name = f"installed-{uuid.uuid4().hex[:8]}"
    store.announce(
        name,
        InstalledProject(
            queue="images", settings_module="pricewatch.settings", spiders=SPIDERS, announced_at=datetime.now(UTC)
        ),
    )
    yield name
    store.client.delete(keys.installed_project(name))
    store.client.srem(keys.installed_projects(), name)


def test_projects_shows_where_an_installed_project_runs(installed: str, crawlfleet: Run) -> None:
    listed = crawlfleet("projects")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith(f"{installed} "))
    assert row.split()[1:] == ["image", "of", "queue", "images", "—", "catalog,", "page", "—"]


def test_run_with_an_argument_and_a_setting_waits_for_exactly_its_items(
    deployed: subprocess.CompletedProcess[str], crawlfleet: Run, celery_worker: CeleryWorker, website: Website
) -> None:
    assert deployed.returncode == 0, deployed.stderr
    # The project's pipeline keeps offers priced up to PRICEWATCH_MAX_PRICE: pages 0 to 5 (0 to 50) here.
    done = crawlfleet(
        "run", PROJECT, "catalog", "-a", f"url={website.url('/page/0')}", "-s", "PRICEWATCH_MAX_PRICE=50", "--wait"
    )
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.splitlines()[0]
    assert "SUCCESS" in done.stdout
    assert "15 pages · 6 items · 0 errors" in done.stdout
    items = [json.loads(line) for line in crawlfleet("items", job_id).stdout.splitlines()]
    assert sorted(item["price"] for item in items) == [0, 10, 20, 30, 40, 50]
    assert {item["currency"] for item in items} == {"EUR"}

    log = crawlfleet("logs", job_id)
    assert log.returncode == 0, log.stderr
    assert f"offer page {website.url('/page/5')}: Page 5" in log.stdout
    assert "[scrapy.core.engine] INFO: Spider closed (finished)" in log.stdout

    page_job = crawlfleet("run", PROJECT, "page", "-a", f"url={website.url('/page/3')}", "--wait")
    assert page_job.returncode == 0, page_job.stderr
    page_id = page_job.stdout.splitlines()[0]
    of_page = crawlfleet("ls", "--project", PROJECT, "--spider", "page", "-q", "--limit", "500").stdout.splitlines()
    assert page_id in of_page
    assert job_id not in of_page
    of_project = crawlfleet("ls", "--project", PROJECT, "--limit", "500")
    assert job_id in of_project.stdout
    assert f"{PROJECT}/catalog" in of_project.stdout


def test_logs_follow_prints_a_running_crawl_s_lines_until_it_ends(
    deployed: subprocess.CompletedProcess[str],
    crawlfleet: Run,
    open_api: ApiProcess,
    cli_env: dict[str, str],
    celery_worker: CeleryWorker,
    held_site: HeldWebsite,
    api_client: httpx.Client,
) -> None:
    assert deployed.returncode == 0, deployed.stderr
    started = crawlfleet(
        "run", PROJECT, "catalog", "-a", f"url={held_site.url('/slow/0')}", "-s", "CLOSESPIDER_PAGECOUNT=4"
    )
    job_id = started.stdout.strip()
    wait_for_state(api_client, job_id, lambda body: body["progress"]["pages"] >= 2, what="two pages crawled")
    follower = subprocess.Popen(
        [CLI, "--api-url", open_api.url, "logs", job_id, "-f"],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while "Slow 1" not in api_client.get(f"/v1/jobs/{job_id}/log").text:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert follower.poll() is None, "logs -f ended while the job ran"
        held_site.release()
        stdout, stderr = follower.communicate(timeout=60)
    finally:
        follower.kill()
    assert follower.returncode == 0, stderr
    assert api_client.get(f"/v1/jobs/{job_id}").json()["state"] == "SUCCESS"
    assert stdout.index("Spider opened") < stdout.index("Slow 1") < stdout.index("Slow 2")
    assert stdout.rstrip().splitlines()[-1].endswith("Spider closed (closespider_pagecount)")


def test_running_an_unknown_project_exits_5_naming_it(crawlfleet: Run) -> None:
    refused = crawlfleet("run", "no-such-project", "catalog", "--wait")
    assert refused.returncode == 5
    assert refused.stderr.startswith("error: project:")
    assert "no project 'no-such-project'" in refused.stderr
    assert refused.stdout == ""


def test_logs_of_an_unknown_job_exit_4(crawlfleet: Run) -> None:
    missing = crawlfleet("logs", "no-such-job", "-f")
    assert (missing.returncode, missing.stderr) == (4, "error: no job with id 'no-such-job'\n")


def test_deploying_a_folder_without_scrapy_cfg_is_a_usage_error(crawlfleet: Run, tmp_path: Path) -> None:
    refused = crawlfleet("deploy", str(tmp_path))
    assert refused.returncode == 2
    assert f"no scrapy.cfg in {tmp_path} or above it" in refused.stderr
    assert "DIR" in refused.stderr


def test_a_project_whose_egg_does_not_build_exits_8_with_the_build_s_output(crawlfleet: Run, tmp_path: Path) -> None:
    project = project_copy(tmp_path, files={"setup.py": "raise SystemExit('setup.py: this project is broken')\n"})
    failed = crawlfleet("deploy", str(project), "--version", "2.0")
    assert failed.returncode == 8
    assert f"scrapyd-deploy could not build the egg of {project}" in failed.stderr
    assert "this project is broken" in failed.stderr


def test_an_egg_the_api_refuses_exits_5_with_its_reason(crawlfleet: Run, tmp_path: Path) -> None:
    project = project_copy(tmp_path, files={"pricewatch/spiders/catalog.py": "", "pricewatch/spiders/page.py": ""})
    refused = crawlfleet("deploy", str(project), "--project", "empty", "--version", "1.0")
    assert refused.returncode == 5
    assert "no spider" in refused.stderr

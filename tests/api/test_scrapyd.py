"""Scrapyd's JSON API, driven by real Scrapyd clients: `scrapyd-deploy` and the
Python client of scrapyd-client, against a live API, a real worker and the local site."""

from __future__ import annotations

import configparser
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from scrapyd_client.exceptions import ErrorResponse
from scrapyd_client.pyclient import ScrapydClient

from crawlfleet_core.clock import now
from crawlfleet_core.model.projects import InstalledProject
from crawlfleet_core.settings import Settings
from crawlfleet_core.store import keys
from crawlfleet_core.store.jobs import JobStore
from crawlfleet_core.store.projects import ProjectStore
from tests.api.conftest import ServeApp
from tests.harness.celery_worker import CeleryWorker
from tests.harness.projects import BIN, PROJECT, project_copy
from tests.harness.website import HeldWebsite, Website

DEPLOY_TOKEN, SUBMIT_TOKEN = "scrapyd-deploy-token", "scrapyd-submit-token"


@pytest.fixture
def tenant() -> str:
    return f"s-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def api(serve_app: ServeApp, tenant: str) -> httpx.Client:
    return serve_app(api_tokens=f"{tenant}:{DEPLOY_TOKEN}:submit+deploy,{tenant}:{SUBMIT_TOKEN}:submit")


@pytest.fixture
def scrapyd(api: httpx.Client, tenant: str) -> ScrapydClient:
    return ScrapydClient(str(api.base_url).rstrip("/"), username=tenant, password=DEPLOY_TOKEN)


def scrapyd_deploy(
    project: Path, api: httpx.Client, user: str, token: str, *arguments: str
) -> subprocess.CompletedProcess[str]:
    """Run `scrapyd-deploy` in the project, its scrapy.cfg's target set to the API,
    its password taken from $CRAWLFLEET_TOKEN as the README shows."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(project / "scrapy.cfg")
    config["deploy"]["url"] = str(api.base_url)
    config["deploy"]["username"] = user
    with (project / "scrapy.cfg").open("w") as file:
        config.write(file)
    return subprocess.run(
        [str(BIN / "scrapyd-deploy"), *arguments],
        cwd=project,
        env={**os.environ, "CRAWLFLEET_TOKEN": token},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def finished(scrapyd: ScrapydClient, job_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while scrapyd.status(job_id)["currstate"] != "finished":
        assert time.monotonic() < deadline, f"job {job_id} did not finish"
        time.sleep(0.1)


def test_deploy_schedule_follow_and_read_items_with_scrapyd_s_own_tools(
    api: httpx.Client,
    scrapyd: ScrapydClient,
    tenant: str,
    tmp_path: Path,
    celery_worker: CeleryWorker,
    website: Website,
) -> None:
    deployed = scrapyd_deploy(project_copy(tmp_path), api, tenant, DEPLOY_TOKEN, "-v", "1.0")
    assert deployed.returncode == 0, deployed.stderr
    assert "Server response (200)" in deployed.stderr
    answer = json.loads(deployed.stdout)
    assert (answer["status"], answer["project"], answer["version"], answer["spiders"]) == ("ok", PROJECT, "1.0", 2)

    assert scrapyd.projects() == [PROJECT]
    assert scrapyd.versions(PROJECT) == ["1.0"]
    assert scrapyd.spiders(PROJECT) == ["catalog", "page"]
    job_id = scrapyd.schedule(
        PROJECT, "catalog", args=[("url", website.url("/page/0")), ("setting", "PRICEWATCH_MAX_PRICE=50")]
    )
    finished(scrapyd, job_id)

    [job] = scrapyd.jobs(PROJECT)["finished"]
    assert job["id"] == job_id and (job["project"], job["spider"]) == (PROJECT, "catalog")
    assert job["start_time"] <= job["end_time"]
    auth = (tenant, SUBMIT_TOKEN)
    items = api.get(job["items_url"], auth=auth)
    assert items.status_code == 200 and items.headers["content-type"] == "application/x-ndjson"
    assert sorted(int(line.split('"price": ')[1].split(",")[0]) for line in items.text.splitlines()) == [
        0,
        10,
        20,
        30,
        40,
        50,
    ]
    log = api.get(job["log_url"], auth=auth)
    assert log.status_code == 200 and "Spider closed (finished)" in log.text
    # The Scrapyd job id is the platform's job id.
    native = api.get(f"/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {SUBMIT_TOKEN}"}).json()
    assert (native["state"], native["progress"]["items"], native["version"]) == ("SUCCESS", 6, "1.0")
    status = scrapyd.daemonstatus()
    assert status["status"] == "ok" and status["finished"] == 1 and status["pending"] == status["running"] == 0


def test_schedule_runs_a_job_as_shards_given_as_a_setting(
    api: httpx.Client,
    scrapyd: ScrapydClient,
    tenant: str,
    tmp_path: Path,
    celery_worker: CeleryWorker,
    website: Website,
    settings: Settings,
) -> None:
    """Scrapyd has no shards: `setting=CRAWLFLEET_SHARDS=N` asks for them. The job runs
    as two crawl tasks on one frontier, and stores each of its items once."""
    assert scrapyd_deploy(project_copy(tmp_path), api, tenant, DEPLOY_TOKEN, "-v", "1.0").returncode == 0
    job_id = scrapyd.schedule(
        PROJECT,
        "catalog",
        args=[
            ("url", website.url("/page/0")),
            ("setting", "PRICEWATCH_MAX_PRICE=50"),
            ("setting", "CRAWLFLEET_SHARDS=2"),
        ],
    )
    finished(scrapyd, job_id)
    record = JobStore.from_settings(settings).get(job_id)
    assert record is not None and record.spec.shards == 2 and "CRAWLFLEET_SHARDS" not in record.spec.settings
    native = api.get(f"/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {SUBMIT_TOKEN}"}).json()
    assert (native["state"], native["progress"]["items"]) == ("SUCCESS", 6)


def test_two_versions_pinning_one_and_deleting_them(
    api: httpx.Client,
    scrapyd: ScrapydClient,
    tenant: str,
    tmp_path: Path,
    celery_worker: CeleryWorker,
    website: Website,
) -> None:
    assert scrapyd_deploy(project_copy(tmp_path / "1"), api, tenant, DEPLOY_TOKEN, "-v", "1.0").returncode == 0
    dollars = project_copy(tmp_path / "2", settings='PRICEWATCH_CURRENCY = "USD"')
    assert scrapyd_deploy(dollars, api, tenant, DEPLOY_TOKEN, "-v", "2.0").returncode == 0
    assert scrapyd.versions(PROJECT) == ["1.0", "2.0"]

    def currency(*extra: tuple[str, str]) -> str:
        job_id = scrapyd.schedule(PROJECT, "page", args=[("url", website.url("/page/2")), *extra])
        finished(scrapyd, job_id)
        [line] = api.get(f"/items/{PROJECT}/page/{job_id}.jl", auth=(tenant, DEPLOY_TOKEN)).text.splitlines()
        return line.split('"currency": "')[1][:3]

    assert currency() == "USD"
    assert currency(("_version", "1.0")) == "EUR"
    assert scrapyd.delversion(PROJECT, "2.0")["status"] == "ok"
    assert scrapyd.versions(PROJECT) == ["1.0"]
    assert currency() == "EUR"
    assert scrapyd.delproject(PROJECT)["status"] == "ok"
    assert scrapyd.projects() == []
    with pytest.raises(ErrorResponse, match="project 'pricewatch' not found"):
        scrapyd.spiders(PROJECT)


def test_only_a_deploy_token_deploys_and_basic_auth_names_the_tenant(
    api: httpx.Client, tenant: str, tmp_path: Path
) -> None:
    project = project_copy(tmp_path)
    refused = scrapyd_deploy(project, api, tenant, SUBMIT_TOKEN)
    assert refused.returncode == 1
    assert "Deploy failed (403)" in refused.stderr and "it needs the 'deploy' role" in refused.stdout
    wrong_user = scrapyd_deploy(project, api, "someone-else", DEPLOY_TOKEN)
    assert wrong_user.returncode == 1 and "the user name must be the token's tenant" in wrong_user.stdout
    anonymous = api.get("/listprojects.json")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == 'Basic realm="crawlfleet"'
    assert anonymous.json()["status"] == "error"
    # The API's bearer token works too.
    bearer = api.get("/listprojects.json", headers={"Authorization": f"Bearer {SUBMIT_TOKEN}"})
    assert bearer.json() == {"node_name": bearer.json()["node_name"], "status": "ok", "projects": []}


def test_an_egg_that_does_not_import_is_refused_with_scrapy_s_error(
    api: httpx.Client, scrapyd: ScrapydClient, tenant: str, tmp_path: Path
) -> None:
    broken = project_copy(tmp_path, files={"pricewatch/spiders/broken.py": "import pricewatch.no_such_module\n"})
    refused = scrapyd_deploy(broken, api, tenant, DEPLOY_TOKEN)
    assert refused.returncode == 1
    assert "Deploy failed (400)" in refused.stderr
    assert "ModuleNotFoundError: No module named 'pricewatch.no_such_module'" in refused.stdout
    assert scrapyd.projects() == []


def form(api: httpx.Client, endpoint: str, tenant: str, data: list[tuple[str, str]]) -> httpx.Response:
    fields: dict[str, list[str]] = {}
    for name, value in data:
        fields.setdefault(name, []).append(value)
    return api.post(endpoint, data=fields, auth=(tenant, DEPLOY_TOKEN))


SCHEDULE_ERRORS: list[tuple[list[tuple[str, str]], int, str]] = [
    ([("project", PROJECT)], 400, "'spider' parameter is required"),
    ([("project", "elsewhere"), ("spider", "page")], 404, "project: no project 'elsewhere'"),
    ([("project", PROJECT), ("spider", "nobody")], 404, "spider: project 'pricewatch' version '1.0' has no spider"),
    ([("project", PROJECT), ("spider", "page"), ("_version", "7")], 404, "_version: project 'pricewatch' has no"),
    ([("project", PROJECT), ("spider", "page"), ("setting", "NO_EQUALS")], 400, "send setting=NAME=VALUE"),
    ([("project", PROJECT), ("spider", "page"), ("setting", "A-B=1")], 400, "setting A-B: String should match"),
    ([("project", PROJECT), ("spider", "page"), ("1st", "x")], 400, "spider argument '1st': String should match"),
    ([("project", PROJECT), ("spider", "page"), ("priority", "high")], 400, "priority is invalid"),
    ([("project", PROJECT), ("spider", "page"), ("priority", "nan")], 400, "priority is invalid"),
    ([("project", PROJECT), ("spider", "page"), ("priority", "-inf")], 400, "priority is invalid"),
    ([("project", PROJECT), ("spider", "page"), ("jobid", "a/b")], 400, "jobid 'a/b' is invalid"),
    ([("project", PROJECT), ("spider", "page"), ("setting", "CRAWLFLEET_SHARDS=two")], 400, "CRAWLFLEET_SHARDS is"),
    ([("project", PROJECT), ("spider", "page"), ("setting", "CRAWLFLEET_SHARDS=0")], 400, "shards"),
]


def test_schedule_errors_are_scrapyd_errors_naming_the_parameter(
    api: httpx.Client, tenant: str, tmp_path: Path
) -> None:
    assert scrapyd_deploy(project_copy(tmp_path), api, tenant, DEPLOY_TOKEN, "-v", "1.0").returncode == 0
    for data, status, words in SCHEDULE_ERRORS:
        response = form(api, "/schedule.json", tenant, data)
        assert response.status_code == status, (data, response.text)
        body: dict[str, Any] = response.json()
        assert body["status"] == "error" and words in body["message"], (data, body)


def test_a_chosen_job_id_is_the_job_s_id_and_cannot_be_taken_twice(
    api: httpx.Client, tenant: str, tmp_path: Path
) -> None:
    assert scrapyd_deploy(project_copy(tmp_path), api, tenant, DEPLOY_TOKEN, "-v", "1.0").returncode == 0
    data = [("project", PROJECT), ("spider", "page"), ("url", "http://127.0.0.1:9/"), ("jobid", f"mine-{tenant}")]
    first = form(api, "/schedule.json", tenant, data)
    assert first.json()["jobid"] == f"mine-{tenant}"
    assert scrapyd_status(api, tenant, f"mine-{tenant}") in ("pending", "running", "finished")
    again = form(api, "/schedule.json", tenant, data)
    assert again.status_code == 409 and "is taken" in again.json()["message"]


def scrapyd_status(api: httpx.Client, tenant: str, job_id: str) -> str | None:
    state: str | None = api.get("/status.json", params={"job": job_id}, auth=(tenant, SUBMIT_TOKEN)).json()["currstate"]
    return state


@pytest.fixture
def held_site() -> Iterator[HeldWebsite]:
    site = HeldWebsite(held_from=2)
    yield site
    site.stop()


def test_a_running_job_is_listed_running_and_cancel_stops_it(
    api: httpx.Client,
    scrapyd: ScrapydClient,
    tenant: str,
    tmp_path: Path,
    celery_worker: CeleryWorker,
    held_site: HeldWebsite,
) -> None:
    assert scrapyd_deploy(project_copy(tmp_path), api, tenant, DEPLOY_TOKEN, "-v", "1.0").returncode == 0
    job_id = scrapyd.schedule(PROJECT, "catalog", args=[("url", held_site.url("/slow/0"))])
    deadline = time.monotonic() + 30
    while scrapyd.status(job_id)["currstate"] != "running" or "/slow/1" not in held_site.paths_requested():
        assert time.monotonic() < deadline, "the job never ran"
        time.sleep(0.05)
    [running] = scrapyd.jobs(PROJECT)["running"]
    assert running["id"] == job_id and running["pid"] is None and running["start_time"]
    assert scrapyd.cancel(PROJECT, job_id)["prevstate"] == "running"
    assert scrapyd.status(job_id)["currstate"] == "finished"
    native = api.get(f"/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {SUBMIT_TOKEN}"}).json()
    assert native["state"] == "REVOKED"
    assert scrapyd.cancel(PROJECT, job_id)["prevstate"] is None


def test_schedule_refuses_a_queue_nothing_serves_listing_the_known_ones(
    serve_app: ServeApp, tenant: str, settings: Settings
) -> None:
    """An installed project whose pool is gone still names its queue: a job for it
    would wait for good, so schedule.json refuses it as POST /v1/jobs does."""
    tokens = f"{tenant}:{DEPLOY_TOKEN}:submit+deploy,{tenant}:{SUBMIT_TOKEN}:submit"
    api = serve_app(api_tokens=tokens, extra_queues="")
    projects = ProjectStore.from_settings(settings)
    name, queue = f"gone-{uuid.uuid4().hex[:8]}", f"q-{uuid.uuid4().hex[:10]}"
    projects.announce(
        name, InstalledProject(queue=queue, settings_module=f"{name}.settings", spiders=["page"], announced_at=now())
    )
    try:
        response = form(api, "/schedule.json", tenant, [("project", name), ("spider", "page")])
    finally:
        projects.client.delete(keys.installed_project(name))
        projects.client.srem(keys.installed_projects(), name)
        projects.client.close()
    assert response.status_code == 400, response.text
    message = response.json()["message"]
    assert f"no worker pool serves queue {queue!r}" in message and settings.default_queue in message
    listed = api.get("/v1/jobs", params={"project": name}, headers={"Authorization": f"Bearer {SUBMIT_TOKEN}"})
    assert listed.json()["jobs"] == []

"""/v1/projects: deploying eggs, the catalog, deleting, and who may do what.

Every egg is a real one, built by scrapyd-deploy from the suite's own project or a
variant of it, and its spiders are listed by the platform's real spider lister."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import ServeApp
from tests.harness.projects import PROJECT, build_egg, project_copy

DEPLOYER, SUBMITTER, OTHER, ADMIN = "deploy-token-a1", "submit-token-a2", "deploy-token-b1", "admin-token-c1"
IDLE_QUEUE = "nobody-consumes-this"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tenants() -> tuple[str, str]:
    return f"a-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def client(serve_app: ServeApp, tenants: tuple[str, str]) -> httpx.Client:
    alpha, beta = tenants
    tokens = (
        f"{alpha}:{DEPLOYER}:submit+deploy,{alpha}:{SUBMITTER}:submit,{beta}:{OTHER}:submit+deploy,ops:{ADMIN}:admin"
    )
    return serve_app(api_tokens=tokens)


def upload(
    client: httpx.Client, egg: Path, version: str = "1.0", token: str = DEPLOYER, **query: str
) -> httpx.Response:
    return client.post(
        f"/v1/projects/{PROJECT}/versions",
        data={"version": version},
        files={"egg": ("project.egg", egg.read_bytes())},
        headers=bearer(token),
        params=query,
    )


def project_job(**fields: Any) -> dict[str, Any]:
    return {"project": PROJECT, "spider": "catalog", "queue": IDLE_QUEUE, **fields}


def test_a_deployed_version_is_in_the_catalog_with_its_spiders(client: httpx.Client, pricewatch_egg: Path) -> None:
    response = upload(client, pricewatch_egg, "1.0")
    assert response.status_code == 201, response.text
    deployed = response.json()
    assert deployed["version"] == "1.0" and deployed["spiders"] == ["catalog", "page"]
    assert deployed["settingsModule"] == "pricewatch.settings"
    assert deployed["size"] == pricewatch_egg.stat().st_size
    # The API (served in this process) listed the spiders without importing the project itself.
    assert PROJECT not in sys.modules
    assert upload(client, pricewatch_egg, "2.0").status_code == 201

    listing = client.get("/v1/projects", headers=bearer(SUBMITTER)).json()["projects"]
    assert [(project["name"], project["source"]) for project in listing] == [(PROJECT, "egg")]
    project = client.get(f"/v1/projects/{PROJECT}", headers=bearer(SUBMITTER)).json()
    assert [version["version"] for version in project["versions"]] == ["1.0", "2.0"]


def test_a_job_is_pinned_to_the_latest_version_at_submission_unless_it_names_one(
    client: httpx.Client, pricewatch_egg: Path
) -> None:
    upload(client, pricewatch_egg, "1.0")
    upload(client, pricewatch_egg, "2.0")
    latest = client.post("/v1/jobs", json=project_job(), headers=bearer(SUBMITTER)).json()["id"]
    pinned = client.post("/v1/jobs", json=project_job(version="1.0"), headers=bearer(SUBMITTER)).json()["id"]
    assert client.get(f"/v1/jobs/{latest}", headers=bearer(SUBMITTER)).json()["version"] == "2.0"
    assert client.get(f"/v1/jobs/{pinned}", headers=bearer(SUBMITTER)).json()["version"] == "1.0"
    listed = client.get("/v1/jobs", params={"project": PROJECT, "spider": "catalog"}, headers=bearer(SUBMITTER))
    assert {job["id"] for job in listed.json()["jobs"]} == {latest, pinned}
    assert client.get("/v1/jobs", params={"spider": "page"}, headers=bearer(SUBMITTER)).json()["jobs"] == []


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"project": "nothing-here"}, "project", "no project 'nothing-here'"),
        ({"version": "9.9"}, "version", "has no version '9.9'; it has 1.0"),
        ({"spider": "nobody"}, "spider", "has no spider 'nobody'; its spiders: catalog, page"),
    ],
)
def test_a_job_naming_what_is_not_deployed_is_422_naming_the_field(
    client: httpx.Client, pricewatch_egg: Path, fields: dict[str, str], field: str, words: str
) -> None:
    upload(client, pricewatch_egg, "1.0")
    response = client.post("/v1/jobs", json=project_job(**fields), headers=bearer(SUBMITTER))
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body", field] and words in problem["msg"]


def test_versions_and_projects_are_deleted(client: httpx.Client, pricewatch_egg: Path) -> None:
    upload(client, pricewatch_egg, "1.0")
    upload(client, pricewatch_egg, "2.0")
    assert client.delete(f"/v1/projects/{PROJECT}/versions/2.0", headers=bearer(DEPLOYER)).status_code == 204
    assert client.delete(f"/v1/projects/{PROJECT}/versions/2.0", headers=bearer(DEPLOYER)).status_code == 404
    job = client.post("/v1/jobs", json=project_job(), headers=bearer(SUBMITTER)).json()
    assert client.get(f"/v1/jobs/{job['id']}", headers=bearer(SUBMITTER)).json()["version"] == "1.0"
    assert client.delete(f"/v1/projects/{PROJECT}", headers=bearer(DEPLOYER)).status_code == 204
    assert client.get(f"/v1/projects/{PROJECT}", headers=bearer(DEPLOYER)).status_code == 404
    assert client.delete(f"/v1/projects/{PROJECT}", headers=bearer(DEPLOYER)).status_code == 404


def test_only_a_deploy_token_deploys_and_deletes(client: httpx.Client, pricewatch_egg: Path) -> None:
    response = upload(client, pricewatch_egg, token=SUBMITTER)
    assert response.status_code == 403 and "'deploy' role" in response.json()["detail"]
    upload(client, pricewatch_egg)
    assert client.delete(f"/v1/projects/{PROJECT}", headers=bearer(SUBMITTER)).status_code == 403
    assert client.get(f"/v1/projects/{PROJECT}", headers=bearer(SUBMITTER)).status_code == 200


def test_a_tenant_neither_sees_nor_runs_nor_deletes_another_tenant_s_project(
    client: httpx.Client, pricewatch_egg: Path, tenants: tuple[str, str]
) -> None:
    upload(client, pricewatch_egg)
    assert client.get("/v1/projects", headers=bearer(OTHER)).json()["projects"] == []
    assert client.get(f"/v1/projects/{PROJECT}", headers=bearer(OTHER)).status_code == 404
    refused = client.post("/v1/jobs", json=project_job(), headers=bearer(OTHER))
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "project"]
    assert client.delete(f"/v1/projects/{PROJECT}", headers=bearer(OTHER)).status_code == 404
    assert client.get(f"/v1/projects/{PROJECT}", headers=bearer(DEPLOYER)).status_code == 200
    # An admin may act for a tenant it names.
    alpha, _ = tenants
    listed = client.get("/v1/projects", params={"tenant": alpha}, headers=bearer(ADMIN)).json()["projects"]
    assert [project["name"] for project in listed] == [PROJECT]


BROKEN_SPIDER = "import scrapy\nimport pricewatch.no_such_module\n"
NO_SPIDERS = 'SPIDER_MODULES = ["pricewatch.empty"]\n'
SETTINGS_SPY = (
    "import os\n"
    "raise RuntimeError(f'environment: {sorted(name for name in os.environ if name.startswith(\"CRAWLFLEET\"))}')\n"
)


@pytest.mark.parametrize(
    ("appended", "files", "words"),
    [
        (
            "",
            {"pricewatch/spiders/broken.py": BROKEN_SPIDER},
            "ModuleNotFoundError: No module named 'pricewatch.no_such",
        ),
        (
            NO_SPIDERS,
            {"pricewatch/empty.py": ""},
            "the project has no spiders in SPIDER_MODULES = ['pricewatch.empty']",
        ),
        # The listing process runs without the API's environment: its tokens and Redis URLs.
        (SETTINGS_SPY, {}, "RuntimeError: environment: []"),
    ],
    ids=["does-not-import", "no-spiders", "no-api-environment"],
)
def test_an_egg_that_does_not_load_is_refused_with_scrapy_s_error(
    client: httpx.Client, tmp_path: Path, appended: str, files: dict[str, str], words: str
) -> None:
    egg = build_egg(project_copy(tmp_path, settings=appended, files=files), tmp_path / "bad.egg")
    response = upload(client, egg)
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith("the egg does not load:")
    assert words in response.json()["detail"]
    assert client.get(f"/v1/projects/{PROJECT}", headers=bearer(DEPLOYER)).status_code == 404


def test_what_is_not_an_egg_is_refused(client: httpx.Client, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a zip")
    response = upload(client, text)
    assert response.status_code == 400 and "not a zip file" in response.json()["detail"]
    bad_version = upload(client, text, version="feature/x")
    assert bad_version.status_code == 422 and bad_version.json()["detail"][0]["loc"] == ["body", "version"]


def test_an_egg_over_the_limit_is_413_naming_the_setting(serve_app: ServeApp, pricewatch_egg: Path) -> None:
    client = serve_app(egg_max_bytes=2048)
    response = upload(client, pricewatch_egg)
    assert response.status_code == 413
    assert "CRAWLFLEET_EGG_MAX_BYTES" in response.json()["detail"]


def test_an_egg_whose_import_outlasts_the_timeout_is_refused_naming_the_setting(
    serve_app: ServeApp, tmp_path: Path
) -> None:
    client = serve_app(egg_inspect_timeout_seconds=1)
    egg = build_egg(project_copy(tmp_path, settings="import time\ntime.sleep(30)\n"), tmp_path / "slow.egg")
    response = upload(client, egg)
    assert response.status_code == 400
    assert "CRAWLFLEET_EGG_INSPECT_TIMEOUT_SECONDS" in response.json()["detail"]

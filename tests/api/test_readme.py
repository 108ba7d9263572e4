"""The README's examples, run as written against the live platform: the quotes crawl,
and a team's project from `scrapyd-deploy` through `schedule.json` and a ScrapeJob
to its log and items. Only the addresses change: the API's and the site's are the
tests' own, and the tenant is a namespace the test operator watches."""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import subprocess
import tomllib
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import ApiProcess, ServeApp
from tests.api.polling import FINISHED, state_is, wait_for_state
from tests.harness.celery_worker import CeleryWorker
from tests.harness.control_plane import REPO_ROOT, ControlPlane
from tests.harness.ports import wait_until
from tests.harness.projects import BIN, FIXTURE, project_copy
from tests.harness.website import QUOTES, Website
from tests.operator.test_handlers import NAMESPACE_PREFIX, Operator

README = (REPO_ROOT / "README.md").read_text()
TOKEN = "readme-deploy-token"


def section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def commands(block: str) -> list[str]:
    """The block's shell commands, continuation lines joined, comments dropped."""
    joined = block.replace("\\\n", " ")
    return [line.split("  #")[0].strip() for line in joined.splitlines() if line.strip()]


def test_the_quotes_example_gives_one_item_per_quote(
    api_process: ApiProcess, api: httpx.Client, celery_worker: CeleryWorker, website: Website
) -> None:
    example = blocks(section("A job from start to items"), "sh")[0]
    body = json.loads(example.split("-d '", 1)[1].split("'", 1)[0])
    assert body["startUrls"] == ["https://quotes.toscrape.com/"]
    job_id = api.post("/v1/jobs", json={**body, "startUrls": [website.url("/quotes")]}).json()["id"]
    final = wait_for_state(api, job_id, state_is(*FINISHED), what="a finished state")
    assert final["state"] == "SUCCESS", final["error"]
    items = api.get(f"/v1/jobs/{job_id}/items").json()["items"]
    assert items == [{"url": website.url("/quotes"), "quote": text, "author": author} for text, author in QUOTES]


@pytest.fixture
def cluster(control_plane: ControlPlane) -> ControlPlane:
    control_plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO_ROOT / "manifests" / "crds"))
    control_plane.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    return control_plane


def test_a_team_s_project_from_scrapyd_deploy_to_items(
    serve_app: ServeApp,
    celery_worker: CeleryWorker,
    website: Website,
    cluster: ControlPlane,
    platform_env: dict[str, str],
    tmp_path: Path,
) -> None:
    text = section("Your own Scrapy project")
    tenant = f"{NAMESPACE_PREFIX}readme-{uuid.uuid4().hex[:6]}"
    api = serve_app(api_tokens=f"{tenant}:{TOKEN}:submit+deploy")
    url = str(api.base_url).rstrip("/") + "/"

    # The README's scrapy.cfg is the suite's project's.
    [ini] = blocks(text, "ini")
    shown, ours = configparser.ConfigParser(interpolation=None), configparser.ConfigParser(interpolation=None)
    shown.read_string(ini)
    ours.read(FIXTURE / "scrapy.cfg")
    assert dict(shown["deploy"]) == dict(ours["deploy"])
    project = project_copy(tmp_path)
    (project / "scrapy.cfg").write_text(
        (project / "scrapy.cfg").read_text().replace("http://127.0.0.1:8000/", url).replace("team-a", tenant)
    )

    def localised(command: str) -> str:
        return (
            command.replace("http://127.0.0.1:8000/", url)
            .replace("https://shop.example.com/", website.url("/page/0"))
            .replace("team-a", tenant)
        )

    [shell, apply_and_watch] = blocks(text, "sh")
    install, *steps = commands(shell)
    # crawlfleet depends on scrapyd-client (its CLI builds eggs with it); the suite never installs from the network.
    assert install == "pip install scrapyd-client"
    dependencies = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(requirement.startswith("scrapyd-client") for requirement in dependencies)
    environment = {**os.environ, "CRAWLFLEET_TOKEN": TOKEN, "PATH": f"{BIN}:{os.environ['PATH']}"}
    outputs: list[str] = []
    for step in steps:
        ran = subprocess.run(
            ["bash", "-c", localised(step)],
            cwd=project,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert ran.returncode == 0, (step, ran.stdout, ran.stderr)
        outputs.append(ran.stdout)
    deployed, scheduled, scrapyd_status, status, log, items = outputs
    assert json.loads(deployed)["spiders"] == 2
    assert json.loads(scheduled)["jobid"] == "prices-1"
    assert json.loads(scrapyd_status)["currstate"] in ("pending", "running", "finished")
    assert json.loads(status)["project"] == "pricewatch"
    # Following the log ends when the job does, so by then every item is there.
    assert "Spider closed (finished)" in log
    prices = sorted(item["price"] for item in json.loads(items)["items"])
    assert prices == [index * 10 for index in range(11)]

    # The same spider as a ScrapeJob, in the namespace named like the tenant.
    [manifest] = blocks(text, "yaml")
    (project / "prices.yaml").write_text(localised(manifest))
    apply, watch = commands(apply_and_watch)
    assert watch.endswith(" -w")
    kubectl = {
        **environment,
        "KUBECONFIG": str(cluster.kubeconfig),
        "PATH": f"{cluster.assets_dir}:{environment['PATH']}",
    }
    cluster.kubectl("create", "namespace", tenant)
    operator = Operator(cluster, platform_env, tmp_path / "operator.log")
    try:
        subprocess.run(shlex.split(localised(apply)), cwd=project, env=kubectl, check=True, capture_output=True)
        get = [*shlex.split(localised(watch))[:-1], "-o", "json"]

        def finished() -> dict[str, Any] | None:
            body: dict[str, Any] = json.loads(subprocess.run(get, env=kubectl, capture_output=True, check=True).stdout)
            return body if body.get("status", {}).get("phase") in ("Succeeded", "Failed") else None

        done = wait_until(finished, 90, "the README's ScrapeJob to finish", interval=0.5)
        assert done is not None and done["status"]["phase"] == "Succeeded", done
        assert done["status"]["progress"]["items"] == 11
    finally:
        operator.stop()
        cluster.kubectl("delete", "namespace", tenant, "--wait=false")

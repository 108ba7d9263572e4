"""A team's own Scrapy project, deployed as an egg or installed in the worker's
environment, crawled by real workers through the same path as the built-in spider."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.model.projects import ProjectSource
from crawlfleet_core.model.states import JobState
from crawlfleet_core.service import JobService
from crawlfleet_core.store import keys
from crawlfleet_core.store.logs import JobLogs
from tests.harness.celery_worker import CeleryWorker
from tests.harness.jobs import Watch
from tests.harness.projects import PROJECT, build_egg, deploy, project_copy
from tests.harness.website import Website


@pytest.fixture
def tenant(job_service: JobService, pricewatch_egg: Path) -> Iterator[str]:
    """A tenant of its own with the fixture project deployed as version 1.0."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    deploy(job_service.projects, name, "1.0", pricewatch_egg)
    yield name
    job_service.projects.delete_project(name, PROJECT)


def project_job(spider: str, **fields: object) -> JobSpec:
    return JobSpec.model_validate({"project": PROJECT, "spider": spider, **fields})


def run(job_service: JobService, job: JobSpec, tenant: str, timeout: float = 60) -> Watch:
    watch = Watch(job_service, job_service.submit(job, tenant=tenant))
    watch.finished(timeout)
    return watch


def test_a_deployed_spider_runs_with_its_argument_pipeline_and_setting(
    job_service: JobService, celery_worker: CeleryWorker, website: Website, tenant: str
) -> None:
    watch = run(job_service, project_job("catalog", spiderArgs={"url": website.url("/page/0")}), tenant)
    status = watch.last
    assert status is not None and status.state is JobState.SUCCESS, status and status.error
    assert (status.project, status.spider, status.version) == (PROJECT, "catalog", "1.0")
    assert status.result is not None
    # The project's pipeline keeps the offers priced up to its PRICEWATCH_MAX_PRICE of 100: pages 0 to 10.
    assert status.result["pages"] == website.size == 15
    assert status.result["item_scraped_count"] == status.result["items"] == 11
    assert status.result["item_dropped_count"] == 4
    assert status.progress.items == 11 and status.progress.percent == 100.0
    items = job_service.store.read_items(watch.job_id, None, 100).items
    assert sorted(item["price"] for item in items) == [index * 10 for index in range(11)]
    assert {item["currency"] for item in items} == {"EUR"}
    assert {item["title"] for item in items} == {f"Page {index}" for index in range(11)}


def log_of(job_service: JobService, job_id: str) -> str:
    logs = JobLogs.from_settings(job_service.settings)
    return "\n".join(line for _, line in logs.read(job_id, None, 100_000))


def test_the_job_s_settings_win_over_the_project_s(
    job_service: JobService, celery_worker: CeleryWorker, website: Website, tenant: str
) -> None:
    job = project_job(
        "catalog",
        spiderArgs={"url": website.url("/page/0")},
        settings={"PRICEWATCH_MAX_PRICE": 50, "LOG_LEVEL": "DEBUG"},
    )
    watch = run(job_service, job, tenant)
    status = watch.last
    assert status is not None and status.state is JobState.SUCCESS, status and status.error
    assert status.result is not None and status.result["items"] == 6
    log = log_of(job_service, watch.job_id)
    # At DEBUG the log has every request, and still no scraped item: those are in the job's items.
    assert f"Crawled (200) <GET {website.url('/page/14')}>" in log
    assert "Scraped from" not in log
    assert "Dropped: price 140 is over 50" in log


def test_items_of_any_shape_go_through_the_project_s_pipeline(
    job_service: JobService, celery_worker: CeleryWorker, website: Website, tenant: str
) -> None:
    watch = run(job_service, project_job("page", spiderArgs={"url": website.url("/page/3")}), tenant)
    assert watch.last is not None and watch.last.state is JobState.SUCCESS, watch.last.error
    items = job_service.store.read_items(watch.job_id, None, 10).items
    # A dataclass item, with the field the project's pipeline filled in.
    assert items == [{"url": website.url("/page/3"), "title": "Page 3", "currency": "EUR"}]


def test_a_spider_that_raises_fails_its_job_with_the_traceback_in_its_error_and_log(
    job_service: JobService, celery_worker: CeleryWorker, website: Website, tenant: str
) -> None:
    job = project_job("page", spiderArgs={"url": website.url("/page/1"), "fail": "yes"})
    watch = run(job_service, job, tenant)
    status = watch.last
    assert status is not None and status.state is JobState.FAILURE
    assert JobState.RETRY not in watch.states
    assert status.error is not None
    assert status.error.startswith("SpiderFailedError: Traceback (most recent call last)")
    assert "ValueError: the page spider was asked to fail on" in status.error
    assert 'pricewatch/spiders/page.py", line' in status.error
    log = log_of(job_service, watch.job_id)
    assert "Spider error processing" in log and "ValueError: the page spider was asked to fail on" in log


def test_a_spider_that_refuses_its_arguments_fails_at_once_without_retries(
    job_service: JobService, celery_worker: CeleryWorker, tenant: str
) -> None:
    watch = run(job_service, project_job("catalog", retries=3), tenant)
    status = watch.last
    assert status is not None and status.state is JobState.FAILURE
    assert JobState.RETRY not in watch.states
    assert (
        status.error is not None
        and "ValueError: the catalog spider needs the argument url=<first page>" in status.error
    )
    assert "the catalog spider needs the argument url=<first page>" in log_of(job_service, watch.job_id)


def test_a_job_whose_version_was_deleted_before_it_ran_fails_saying_so(
    job_service: JobService, worker_factory: type[CeleryWorker], website: Website, tenant: str
) -> None:
    queue = f"q-{uuid.uuid4().hex[:8]}"
    job = project_job("page", spiderArgs={"url": website.url("/page/1")}, queue=queue)
    job_id = job_service.submit(job, tenant=tenant)
    assert job_service.projects.delete_project(tenant, PROJECT)
    worker_factory(queues=queue, concurrency=1)
    status = Watch(job_service, job_id).finished(30)
    assert status.state is JobState.FAILURE
    assert status.error == "SpiderFailedError: version '1.0' of project 'pricewatch' is no longer deployed"


GUARD_REMOVING_SETTINGS = """
DOWNLOADER_MIDDLEWARES = {"crawlfleet_workers.guards.AddressGuardMiddleware": None}
TWISTED_DNS_RESOLVER = "scrapy.resolver.CachingThreadedResolver"
CRAWLFLEET_ALLOWED_NETWORKS = ["127.0.0.0/8"]
HTTPPROXY_ENABLED = True
TELNETCONSOLE_ENABLED = True
DOWNLOAD_HANDLERS = {"file": "scrapy.core.downloader.handlers.file.FileDownloadHandler"}
"""


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"], ids=["ip-literal", "host-name"])
def test_settings_that_remove_the_address_guard_are_overridden(
    job_service: JobService, worker_factory: type[CeleryWorker], own_website: Website, tmp_path: Path, host: str
) -> None:
    """The worker allows no loopback address here, so a guard that held keeps the
    crawl off the local site; one removed would let it fetch the site (loopback only)."""
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    egg = build_egg(project_copy(tmp_path, settings=GUARD_REMOVING_SETTINGS), tmp_path / "sneaky.egg")
    deploy(job_service.projects, tenant, "1.0", egg)
    queue = f"q-{uuid.uuid4().hex[:8]}"
    worker_factory(queues=queue, concurrency=1, extra_env={"CRAWLFLEET_ALLOWED_NETWORKS": "192.0.2.0/24"})
    job = project_job(
        "catalog",
        queue=queue,
        spiderArgs={"url": f"http://{host}:{own_website.port}/page/0"},
        settings={
            "CRAWLFLEET_ALLOWED_NETWORKS": "127.0.0.0/8",
            "DOWNLOADER_MIDDLEWARES": '{"crawlfleet_workers.guards.AddressGuardMiddleware": null}',
            "TWISTED_DNS_RESOLVER": "scrapy.resolver.CachingThreadedResolver",
        },
    )
    status = run(job_service, job, tenant).last
    assert status is not None and status.state is JobState.FAILURE
    assert own_website.requests == []
    assert status.error is not None and "127.0.0.1 is not a public address" in status.error
    log = log_of(job_service, status.id)
    for name in (
        "DOWNLOADER_MIDDLEWARES[crawlfleet_workers.guards.AddressGuardMiddleware]",
        "TWISTED_DNS_RESOLVER",
        "CRAWLFLEET_ALLOWED_NETWORKS",
        "HTTPPROXY_ENABLED",
        "TELNETCONSOLE_ENABLED",
        "DOWNLOAD_HANDLERS[file]",
    ):
        assert f"the project's setting {name} is the platform's" in log
    assert "the job's setting CRAWLFLEET_ALLOWED_NETWORKS is the platform's" in log
    assert "Telnet console listening" not in log


MARKING_PACKAGE = """
import os
import pathlib

if "PRICEWATCH_IMPORT_MARKERS" in os.environ:
    pathlib.Path(os.environ["PRICEWATCH_IMPORT_MARKERS"], str(os.getpid())).touch()
"""


def test_a_project_is_imported_by_its_crawl_process_only(
    job_service: JobService, worker_factory: type[CeleryWorker], website: Website, tmp_path: Path
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    egg = build_egg(project_copy(tmp_path, files={"pricewatch/__init__.py": MARKING_PACKAGE}), tmp_path / "m.egg")
    deploy(job_service.projects, tenant, "1.0", egg)
    markers = tmp_path / "imports"
    markers.mkdir()
    queue = f"q-{uuid.uuid4().hex[:8]}"
    worker = worker_factory(queues=queue, concurrency=2, extra_env={"PRICEWATCH_IMPORT_MARKERS": str(markers)})
    for page in (1, 2):
        job = project_job("page", queue=queue, spiderArgs={"url": website.url(f"/page/{page}")})
        assert run(job_service, job, tenant).last.state is JobState.SUCCESS  # type: ignore[union-attr]
    importers = {int(marker.name) for marker in markers.iterdir()}
    main = psutil.Process(worker.process.pid)
    worker_processes = {main.pid, *(child.pid for child in main.children())}
    assert len(importers) == 2, "each crawl process imports the project once"
    assert not importers & worker_processes


@pytest.fixture
def installed_project(tmp_path: Path, job_service: JobService) -> Iterator[Path]:
    """The fixture project pip-installed into a directory, as a worker image has it;
    the pools' announcements of it are withdrawn after the test."""
    target = tmp_path / "site-packages"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(project_copy(tmp_path)),
        ],
        check=True,
    )
    yield target
    job_service.projects.client.delete(keys.installed_project(PROJECT))
    job_service.projects.client.srem(keys.installed_projects(), PROJECT)


def test_a_project_installed_in_the_worker_s_environment_is_announced_and_runs(
    job_service: JobService, worker_factory: type[CeleryWorker], website: Website, installed_project: Path
) -> None:
    queue = f"q-{uuid.uuid4().hex[:8]}"
    environment = {"PYTHONPATH": str(installed_project), "CRAWLFLEET_PROJECT_SETTINGS_MODULE": "pricewatch.settings"}
    worker_factory(queues=queue, concurrency=1, extra_env=environment)
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    project = job_service.projects.project(tenant, PROJECT)
    assert project is not None and project.source is ProjectSource.IMAGE
    assert [(pool.queue, pool.settings_module, pool.spiders) for pool in project.installed] == [
        (queue, "pricewatch.settings", ["catalog", "page"])
    ]
    job = project_job("catalog", queue=queue, spiderArgs={"url": website.url("/page/0")})
    status = run(job_service, job, tenant).last
    assert status is not None and status.state is JobState.SUCCESS, status.error
    assert status.version is None
    assert status.result is not None and status.result["items"] == 11

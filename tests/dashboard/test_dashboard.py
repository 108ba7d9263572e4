"""The dashboard at `/`, driven in a real headless Chromium against the real stack."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.api.conftest import ApiProcess
from tests.api.polling import state_is, wait_for_state
from tests.dashboard.conftest import FLOWER_URL, TOKEN
from tests.harness.browser import BrowserSession
from tests.harness.celery_worker import CeleryWorker
from tests.harness.website import HeldWebsite, Website

WAIT_MS = 60_000
DASHBOARD_PROJECT = "dashwatch"
BETWEEN_0_AND_100 = re.compile(r"^(?!0$|100$)[0-9]{1,2}(\.[0-9]+)?$")


def job_id_of(page: Page) -> str:
    return page.url.rsplit("#/jobs/", 1)[1]


def bar_value(page: Page, name: str) -> float:
    return float(page.get_by_role("progressbar", name=name).get_attribute("value") or 0)


def test_nothing_works_before_signing_in_and_a_wrong_token_is_refused(
    browser_session: BrowserSession, dashboard: ApiProcess
) -> None:
    page = browser_session.page
    page.goto(f"{dashboard.url}/#/submit")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.get_by_role("heading", name="New crawl").count() == 0
    page.get_by_label("API token").fill("not-a-real-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That token is not valid.")
    browser_session.screenshot("dashboard-sign-in-refused")
    # The page holds nothing without a token, and the API gave it nothing.
    assert page.evaluate("sessionStorage.length") == 0
    assert httpx.get(f"{dashboard.url}/v1/jobs").status_code == 401


def test_a_crawl_submitted_from_the_form_moves_its_bar_to_success_and_shows_its_items_and_log(
    signed_in: BrowserSession, celery_worker: CeleryWorker, held_site: HeldWebsite, api_client: httpx.Client
) -> None:
    page = signed_in.page
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.get_by_role("link", name="New crawl").click()
    page.get_by_label("Start URLs").fill(held_site.url("/slow/0"))
    page.get_by_label("Extract").fill("title = h1.title::text")
    page.get_by_label("Most pages").fill("5")
    page.get_by_label("Link depth").fill("10")
    page.get_by_label("Concurrency").fill("1")
    page.get_by_role("button", name="Start crawl").click()
    page.wait_for_url("**/#/jobs/*")
    job_id = job_id_of(page)

    # The site holds the crawl after two pages: the bar shows them before the end.
    expect(page.locator(".badge")).to_have_text("PROGRESS", timeout=WAIT_MS)
    expect(page.get_by_role("progressbar", name="Progress of this job")).to_have_attribute(
        "value", BETWEEN_0_AND_100, timeout=WAIT_MS
    )
    running = bar_value(page, "Progress of this job")
    expect(page.locator(".progress-text")).to_contain_text("2 pages")
    # The log tail follows the running crawl: its first pages are there, its end not yet.
    log = page.get_by_role("region", name="Log").locator("pre")
    expect(log).to_contain_text("Spider opened", timeout=WAIT_MS)
    expect(log).not_to_contain_text("Spider closed")
    expect(page.get_by_role("status").filter(has_text="Following the log")).to_be_visible()
    signed_in.screenshot("dashboard-job-running")
    held_site.release()
    expect(page.locator(".badge")).to_have_text("SUCCESS", timeout=WAIT_MS)
    expect(log).to_contain_text("Spider closed (closespider_pagecount)", timeout=WAIT_MS)
    expect(page.get_by_text("The log is complete.")).to_be_visible()
    assert 0 < running < bar_value(page, "Progress of this job") == 100
    expect(page.locator(".progress-text")).to_contain_text("5 pages · 5 items")

    items = api_client.get(f"/v1/jobs/{job_id}/items").json()["items"]
    table = page.get_by_role("table", name="Items")
    expect(table.locator("tbody tr")).to_have_count(5)
    for item in items:
        expect(table).to_contain_text(item["title"])
    expect(page.get_by_role("table", name="Result")).to_contain_text("finish_reason")
    signed_in.screenshot("dashboard-job-succeeded")

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download JSONL").click()
    download = download_info.value
    assert download.suggested_filename == f"{job_id}-items.jsonl"
    lines = Path(download.path()).read_text().splitlines()
    assert [json.loads(line) for line in lines] == items

    # The token rode in a header on every call, never in a URL.
    assert requested and not any(TOKEN in url for url in requested)
    assert page.evaluate("localStorage.length") == 0


def test_the_jobs_table_streams_a_running_job_and_cancels_it(
    signed_in: BrowserSession, celery_worker: CeleryWorker, held_site: HeldWebsite, api_client: httpx.Client
) -> None:
    page = signed_in.page
    accepted = api_client.post(
        "/v1/jobs", json={"startUrls": [held_site.url("/slow/0")], "maxPages": 50, "maxDepth": 50, "concurrency": 1}
    )
    job_id = accepted.json()["id"]
    page.reload()
    row = page.locator(f'tr[data-job="{job_id}"]')
    expect(row.locator(".badge")).to_have_text("PROGRESS", timeout=WAIT_MS)
    expect(row.locator(".progress-text")).to_contain_text("2 pages", timeout=WAIT_MS)
    signed_in.screenshot("dashboard-jobs-running")

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=f"Cancel job {job_id}").click()
    expect(row.locator(".badge")).to_have_text("REVOKED", timeout=WAIT_MS)
    expect(row.get_by_role("button")).to_have_count(0)
    wait_for_state(api_client, job_id, state_is("REVOKED"), what="REVOKED")
    signed_in.screenshot("dashboard-jobs-cancelled")


def test_the_jobs_table_filters_by_state(
    signed_in: BrowserSession, celery_worker: CeleryWorker, website: Website, api_client: httpx.Client
) -> None:
    page = signed_in.page
    done = api_client.post("/v1/jobs", json={"startUrls": [website.url("/page/14")], "maxPages": 1}).json()["id"]
    wait_for_state(api_client, done, state_is("SUCCESS"), what="SUCCESS")
    page.get_by_label("State").select_option("FAILURE")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/#/jobs?state=FAILURE")
    expect(page.get_by_role("table", name="Recent jobs, newest first")).not_to_contain_text(done[:8])
    page.get_by_label("State").select_option("SUCCESS")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator(f'tr[data-job="{done}"] .badge')).to_have_text("SUCCESS")


def test_a_bad_field_is_named_in_the_form(signed_in: BrowserSession) -> None:
    page = signed_in.page
    page.get_by_role("link", name="New crawl").click()
    page.get_by_label("Start URLs").fill("ftp://example.com/")
    page.get_by_role("button", name="Start crawl").click()
    expect(page.get_by_role("alert")).to_contain_text("startUrls.0")
    signed_in.screenshot("dashboard-submit-error")
    assert "#/submit" in page.url


def test_the_form_can_be_completed_with_the_keyboard(
    signed_in: BrowserSession, celery_worker: CeleryWorker, website: Website
) -> None:
    page = signed_in.page
    page.get_by_role("link", name="New crawl").focus()
    page.keyboard.press("Enter")
    page.get_by_label("Start URLs").focus()
    page.keyboard.type(website.url("/page/13"))
    page.keyboard.press("Tab")
    page.keyboard.type("price = span.price::text")
    page.keyboard.press("Tab")
    page.keyboard.press("Control+A")
    page.keyboard.type("1")
    page.keyboard.press("Enter")
    page.wait_for_url("**/#/jobs/*")
    expect(page.locator(".badge")).to_have_text("SUCCESS", timeout=WAIT_MS)
    expect(page.get_by_role("table", name="Items")).to_contain_text("130")


def test_every_form_control_has_a_label_and_the_nav_links_flower(signed_in: BrowserSession) -> None:
    page = signed_in.page
    for view in ("#/jobs", "#/submit", "#/run"):
        page.goto(page.url.split("#")[0] + view)
        page.locator("main form").first.wait_for()
        unlabelled = page.evaluate(
            """[...document.querySelectorAll('main input, main select, main textarea')]
                 .filter((control) => !control.labels.length).map((control) => control.name)"""
        )
        assert unlabelled == [], view
    assert page.get_by_role("link", name="Flower").get_attribute("href") == FLOWER_URL


def test_the_colours_follow_the_operating_systems_scheme(signed_in: BrowserSession) -> None:
    page = signed_in.page
    backgrounds: dict[str, Any] = {}
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
        backgrounds[scheme] = page.evaluate("getComputedStyle(document.body).backgroundColor")
        signed_in.screenshot(f"dashboard-jobs-{scheme}")
    assert backgrounds == {"light": "rgb(255, 255, 255)", "dark": "rgb(15, 18, 23)"}


def test_the_pools_page_shows_the_queues(signed_in: BrowserSession) -> None:
    page = signed_in.page
    page.get_by_role("link", name="Worker pools").click()
    queues = page.get_by_role("table", name="Queues")
    expect(queues).to_contain_text("default")
    expect(page.get_by_text("No WorkerPools reported")).to_be_visible()
    signed_in.screenshot("dashboard-pools")


def test_signing_out_forgets_the_token(signed_in: BrowserSession) -> None:
    page = signed_in.page
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_without_tokens_the_jobs_page_opens_with_no_sign_in(
    browser_session: BrowserSession, platform_env: dict[str, str], tmp_path: Path
) -> None:
    open_api = ApiProcess(platform_env, tmp_path / "crawlfleet-api.log")
    try:
        page = browser_session.page
        page.goto(f"{open_api.url}/")
        expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
        expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
        expect(page.get_by_role("link", name="Flower")).to_be_hidden()
    finally:
        open_api.stop()


def deploy(api_client: httpx.Client, project: str, versions: list[str], egg: Path) -> None:
    """The suite's Scrapy project deployed as `project`, once per version, as the tenant team-a."""
    for version in versions:
        deployed = api_client.post(
            f"/v1/projects/{project}/versions",
            data={"version": version},
            files={"egg": ("project.egg", egg.read_bytes())},
        )
        assert deployed.status_code == 201, deployed.text


def test_a_catalog_spider_runs_from_the_run_form_with_its_argument_and_setting(
    signed_in: BrowserSession,
    celery_worker: CeleryWorker,
    website: Website,
    api_client: httpx.Client,
    pricewatch_egg: Path,
) -> None:
    page = signed_in.page
    deploy(api_client, DASHBOARD_PROJECT, ["0.9", "1.0"], pricewatch_egg)
    built_in = api_client.post("/v1/jobs", json={"startUrls": [website.url("/page/12")], "maxPages": 1}).json()["id"]

    page.get_by_role("link", name="Projects").click()
    versions = page.get_by_role("table", name=f"Versions of {DASHBOARD_PROJECT}, the latest first")
    expect(versions.locator("tbody tr")).to_have_count(2)
    expect(versions.locator('tr[data-version="1.0"]')).to_contain_text("catalog, page")
    signed_in.screenshot("dashboard-projects")
    page.get_by_role("link", name=f"Run {DASHBOARD_PROJECT}/catalog").click()

    expect(page.get_by_role("heading", name="Run a spider")).to_be_visible()
    expect(page.get_by_label("Project")).to_have_value(DASHBOARD_PROJECT)
    expect(page.get_by_label("Spider")).to_have_value("catalog")
    page.get_by_label("Argument 1 name").fill("url")
    page.get_by_label("Argument 1 value").fill(website.url("/page/0"))
    page.get_by_label("Setting 1 name").fill("PRICEWATCH_MAX_PRICE")
    page.get_by_label("Setting 1 value").fill("30")
    page.get_by_role("button", name="Add setting").click()
    expect(page.get_by_label("Setting 2 name")).to_be_focused()
    page.keyboard.type("CONCURRENT_REQUESTS")
    page.get_by_label("Setting 2 value").fill("2")
    signed_in.screenshot("dashboard-run-form")
    page.get_by_role("button", name="Run spider").click()
    page.wait_for_url("**/#/jobs/*")
    job_id = job_id_of(page)

    expect(page.locator(".badge")).to_have_text("SUCCESS", timeout=WAIT_MS)
    expect(page.locator("dl.facts")).to_contain_text(f"{DASHBOARD_PROJECT}/catalog")
    expect(page.locator("dl.facts")).to_contain_text("1.0")
    # The project's pipeline keeps the offers priced up to the job's 30: pages 0 to 3.
    table = page.get_by_role("table", name="Items")
    expect(table.locator("tbody tr")).to_have_count(4)
    expect(page.get_by_role("region", name="Log").locator("pre")).to_contain_text(
        f"offer page {website.url('/page/3')}: Page 3", timeout=WAIT_MS
    )
    signed_in.screenshot("dashboard-project-job")
    job = api_client.get(f"/v1/jobs/{job_id}").json()
    assert (job["project"], job["spider"], job["version"]) == (DASHBOARD_PROJECT, "catalog", "1.0")

    page.get_by_role("link", name="Jobs", exact=True).click()
    page.get_by_label("Project").fill(DASHBOARD_PROJECT)
    page.get_by_label("Spider").fill("catalog")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(f"**/#/jobs?project={DASHBOARD_PROJECT}&spider=catalog")
    jobs = page.get_by_role("table", name="Recent jobs, newest first")
    expect(jobs.locator(f'tr[data-job="{job_id}"]')).to_contain_text(f"{DASHBOARD_PROJECT}/catalog")
    expect(jobs).not_to_contain_text(built_in[:8])


def test_a_version_is_deleted_from_the_projects_page_after_confirming(
    signed_in: BrowserSession, api_client: httpx.Client, pricewatch_egg: Path
) -> None:
    page = signed_in.page
    project = f"{DASHBOARD_PROJECT}-old"
    deploy(api_client, project, ["1.0", "2.0"], pricewatch_egg)
    page.get_by_role("link", name="Projects").click()
    delete = page.get_by_role("button", name=f"Delete version 1.0 of {project}")
    page.once("dialog", lambda dialog: dialog.dismiss())
    delete.click()
    expect(
        page.get_by_role("table", name=f"Versions of {project}, the latest first").locator("tbody tr")
    ).to_have_count(2)
    page.once("dialog", lambda dialog: dialog.accept())
    delete.click()
    rows = page.get_by_role("table", name=f"Versions of {project}, the latest first").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("2.0")
    assert [version["version"] for version in api_client.get(f"/v1/projects/{project}").json()["versions"]] == ["2.0"]
    assert api_client.delete(f"/v1/projects/{project}").status_code == 204

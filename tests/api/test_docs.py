"""/docs and /redoc work offline: a real browser renders them from the API's own assets."""

from __future__ import annotations

import httpx

from tests.harness.browser import BrowserSession


def test_swagger_ui_renders_every_route_with_nothing_fetched_from_outside(
    local_api: httpx.Client, browser_session: BrowserSession
) -> None:
    page = browser_session.page
    page.goto(f"{local_api.base_url}/docs")
    page.get_by_text("/v1/jobs/{job_id}/items", exact=True).first.wait_for(timeout=20_000)
    assert page.locator(".opblock-summary-method", has_text="POST").count() >= 1
    browser_session.screenshot("docs-swagger-ui")
    assert browser_session.offsite.urls == []


def test_redoc_renders_the_job_schema_with_nothing_fetched_from_outside(
    local_api: httpx.Client, browser_session: BrowserSession
) -> None:
    page = browser_session.page
    page.goto(f"{local_api.base_url}/redoc")
    page.get_by_text("Queue a crawl.", exact=False).first.wait_for(timeout=20_000)
    browser_session.screenshot("docs-redoc")
    assert browser_session.offsite.urls == []


def test_docs_assets_are_served_by_the_api(local_api: httpx.Client) -> None:
    for page in ("/docs", "/redoc"):
        html = local_api.get(page).text
        assert "cdn." not in html
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css") if page == "/docs" else ("redoc.standalone.js",):
            start = html.index(asset)
            url = html[html.rindex('"', 0, start) + 1 : html.index('"', start)]
            response = local_api.get(url)
            assert response.status_code == 200, url
            assert len(response.content) > 10_000

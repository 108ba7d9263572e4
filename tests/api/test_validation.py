"""Every 4xx a client can provoke, each naming what was wrong.

No worker is needed: nothing here gets as far as running. Jobs that must exist
are sent to a queue no worker consumes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from crawlfleet_core.settings import Settings

MEBIBYTE = 1024 * 1024
IDLE_QUEUE = "nobody-consumes-this"
VALID = {"startUrls": ["https://example.com/"], "queue": IDLE_QUEUE}


def locations(response: httpx.Response) -> list[list[str | int]]:
    assert response.status_code == 422, response.text
    return [error["loc"] for error in response.json()["detail"]]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"startUrls": ["not a url"]}, ["body", "startUrls", 0]),
        ({"startUrls": ["ftp://example.com/file.txt"]}, ["body", "startUrls", 0]),
        ({"startUrls": ["file:///etc/passwd"]}, ["body", "startUrls", 0]),
        ({"startUrls": ["javascript:alert(1)"]}, ["body", "startUrls", 0]),
        ({"startUrls": ["https://example.com/", "gopher://example.com/"]}, ["body", "startUrls", 1]),
        ({"startUrls": ["http://example.com:99999/"]}, ["body", "startUrls", 0]),
        ({"startUrls": ["https://exa mple.com/"]}, ["body", "startUrls", 0]),
        ({"startUrls": []}, ["body", "startUrls"]),
        ({}, ["body", "startUrls"]),
        ({"startUrls": ["https://example.com/"], "maxPages": 0}, ["body", "maxPages"]),
        ({"startUrls": ["https://example.com/"], "maxPages": -5}, ["body", "maxPages"]),
        ({"startUrls": ["https://example.com/"], "maxDepth": -1}, ["body", "maxDepth"]),
        ({"startUrls": ["https://example.com/"], "concurrency": 0}, ["body", "concurrency"]),
        ({"startUrls": ["https://example.com/"], "timeLimitSeconds": 0}, ["body", "timeLimitSeconds"]),
        ({"startUrls": ["https://example.com/"], "retries": -1}, ["body", "retries"]),
        ({"startUrls": ["https://example.com/"], "priority": 10}, ["body", "priority"]),
        ({"startUrls": ["https://example.com/"], "maxPages": "many"}, ["body", "maxPages"]),
        ({"startUrls": ["https://example.com/"], "colour": "blue"}, ["body", "colour"]),
        ({"startUrls": ["https://example.com/"], "extract": {"title": "h1[["}}, ["body", "extract"]),
        ({"startUrls": ["https://example.com/"], "extract": {"t": "xpath://h1[@"}}, ["body", "extract"]),
        ({"startUrls": ["https://example.com/"], "extract": {"url": "h1"}}, ["body", "extract"]),
        ({"startUrls": ["https://example.com/"], "extract": {"9lives": "h1"}}, ["body", "extract", "9lives", "[key]"]),
        ({"startUrls": ["https://example.com/"], "allowedDomains": ["not a domain"]}, ["body", "allowedDomains", 0]),
        ({"startUrls": ["https://example.com/"], "queue": "Not_A_Queue"}, ["body", "queue"]),
    ],
)
def test_a_bad_job_spec_is_422_naming_the_field(local_api: httpx.Client, body: dict[str, Any], loc: list[Any]) -> None:
    assert loc in locations(local_api.post("/v1/jobs", json=body))


def test_the_422_says_what_is_wrong_with_a_scheme(local_api: httpx.Client) -> None:
    response = local_api.post("/v1/jobs", json={"startUrls": ["ftp://example.com/file.txt"]})
    [error] = response.json()["detail"]
    assert "pattern" in error["msg"]
    assert error["input"] == "ftp://example.com/file.txt"


def test_a_time_limit_beyond_the_platforms_is_422_naming_the_limit_and_the_setting(
    local_api: httpx.Client, settings: Settings
) -> None:
    limit = settings.soft_time_limit_seconds
    response = local_api.post("/v1/jobs", json={**VALID, "timeLimitSeconds": limit + 1})
    assert ["body", "timeLimitSeconds"] in locations(response)
    [error] = response.json()["detail"]
    assert f"at most {limit} s" in error["msg"] and "CRAWLFLEET_SOFT_TIME_LIMIT_SECONDS" in error["msg"]
    assert error["input"] == limit + 1
    assert local_api.post("/v1/jobs", json={**VALID, "timeLimitSeconds": limit}).status_code == 202


def test_an_invalid_selector_is_named_in_the_message(local_api: httpx.Client) -> None:
    response = local_api.post("/v1/jobs", json={"startUrls": ["https://example.com/"], "extract": {"title": "h1[["}})
    [error] = response.json()["detail"]
    assert "title: invalid selector 'h1[['" in error["msg"]


@pytest.mark.parametrize(
    "content",
    [b'{"startUrls": ["https://example.com/"]', b"startUrls=https://example.com/", b'{"startUrls": [,]}'],
)
def test_malformed_json_is_422_pointing_into_the_body(local_api: httpx.Client, content: bytes) -> None:
    response = local_api.post("/v1/jobs", content=content, headers={"Content-Type": "application/json"})
    [error] = response.json()["detail"]
    assert response.status_code == 422
    assert error["type"] == "json_invalid"
    assert error["loc"][0] == "body"


@pytest.mark.parametrize("content", [b"", b"[]", b'"https://example.com/"', b"null"])
def test_a_body_that_is_not_a_job_object_is_422(local_api: httpx.Client, content: bytes) -> None:
    response = local_api.post("/v1/jobs", content=content, headers={"Content-Type": "application/json"})
    assert ["body"] in locations(response)


def test_a_body_over_the_limit_is_413_naming_the_limit(local_api: httpx.Client) -> None:
    padding = "x" * MEBIBYTE
    response = local_api.post("/v1/jobs", json={**VALID, "extract": {"title": padding}})
    assert response.status_code == 413
    assert "1048576 bytes" in response.json()["detail"]
    assert "CRAWLFLEET_MAX_BODY_BYTES" in response.json()["detail"]


def test_a_streamed_body_without_length_is_cut_at_the_limit(local_api: httpx.Client) -> None:
    def chunks() -> Any:
        yield b'{"startUrls": ["https://example.com/"], "extract": {"title": "'
        for _ in range(20):
            yield b"x" * (64 * 1024)
        yield b'"}}'

    response = local_api.post("/v1/jobs", content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert "1048576 bytes" in response.json()["detail"]


def test_the_body_limit_is_a_setting(serve_app: Any) -> None:
    client = serve_app(max_body_bytes=100)
    response = client.post("/v1/jobs", json={**VALID, "extract": {"title": "h1.title", "price": "span.price"}})
    assert response.status_code == 413
    assert "100 bytes" in response.json()["detail"]
    assert client.post("/v1/jobs", json=VALID).status_code == 202


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "naïve"])
def test_a_malformed_idempotency_key_is_422_naming_the_header(local_api: httpx.Client, key: str) -> None:
    response = local_api.post("/v1/jobs", json=VALID, headers={"Idempotency-Key": key.encode()})
    assert ["header", "Idempotency-Key"] in locations(response)


def test_reusing_an_idempotency_key_for_another_spec_is_409_naming_the_header(local_api: httpx.Client) -> None:
    headers = {"Idempotency-Key": "order-4711-validation"}
    first = local_api.post("/v1/jobs", json=VALID, headers=headers)
    assert first.status_code == 202
    response = local_api.post("/v1/jobs", json={**VALID, "maxPages": 7}, headers=headers)
    assert response.status_code == 409
    assert "Idempotency-Key 'order-4711-validation'" in response.json()["detail"]


@pytest.mark.parametrize("limit", ["0", "-1", "1001", "ten", "1.5"])
def test_an_items_limit_outside_1_to_1000_is_422(local_api: httpx.Client, limit: str) -> None:
    response = local_api.get("/v1/jobs/any-id/items", params={"limit": limit})
    assert ["query", "limit"] in locations(response)


@pytest.mark.parametrize(
    "cursor",
    ["abc", "1-", "-1", "1-2-3", "1.5-0", "١-٢", "99999999999999999999-0", "0-18446744073709551616", "0-" + "1" * 20],
)
def test_a_cursor_that_is_not_a_stream_id_is_422(local_api: httpx.Client, cursor: str) -> None:
    response = local_api.get("/v1/jobs/any-id/items", params={"cursor": cursor})
    assert ["query", "cursor"] in locations(response)


def test_the_first_and_last_cursors_the_schema_admits_read_empty_pages(local_api: httpx.Client) -> None:
    job_id = local_api.post("/v1/jobs", json=VALID).json()["id"]
    items = local_api.get(f"/v1/jobs/{job_id}/items", params={"cursor": "9999999999999999999-9999999999999999999"})
    assert items.status_code == 200
    assert items.json() == {"items": [], "nextCursor": "9999999999999999999-9999999999999999999", "hasMore": False}
    listing = local_api.get("/v1/jobs", params={"cursor": "0-0"})
    assert listing.status_code == 200
    assert listing.json() == {"jobs": [], "nextCursor": None, "hasMore": False}


def test_the_schema_admits_exactly_the_cursors_the_server_does(local_api: httpx.Client) -> None:
    document = local_api.get("/openapi.json").json()
    for path in ("/v1/jobs", "/v1/jobs/{job_id}/items"):
        [cursor] = [p for p in document["paths"][path]["get"]["parameters"] if p["name"] == "cursor"]
        pattern = next(option["pattern"] for option in cursor["schema"]["anyOf"] if "pattern" in option)
        assert pattern == "^[0-9]{1,19}-[0-9]{1,19}$"


@pytest.mark.parametrize(
    ("content", "loc"),
    [
        (b'{"startUrls": ["https://example.com/"], "maxPages": NaN}', ["body"]),
        (b'{"startUrls": ["https://example.com/"], "maxPages": Infinity}', ["body"]),
        (b'{"startUrls": ["https://example.com/"], "maxPages": -Infinity}', ["body"]),
        (b'{"startUrls": ["https://example.com/"], "maxPages": 1e400}', ["body", "maxPages"]),
        (b'{"startUrls": ["https://example.com/"], "extract": {"t": [1, -1e400]}}', ["body", "extract", "t", 1]),
        (b'{"startUrls": ["https://example.com/\\ud800"]}', ["body"]),
        (b'{"startUrls": ["https://example.com/"], "queue": "\\ud800"}', ["body"]),
        (b'{"startUrls": ["https://example.com/"], "extract": {"\\udfff": "h1"}}', ["body"]),
        (b'{"startUrls": ["https://example.com/"], "maxPages": 1' + b"0" * 5000 + b"}", ["body"]),
        (b'\xff\xfe{"startUrls": ["https://example.com/"]}', ["body"]),
        (b'{"startUrls": ["https://example.com/\xe9"]}', ["body"]),
    ],
)
def test_what_json_cannot_hold_is_422_not_500(local_api: httpx.Client, content: bytes, loc: list[Any]) -> None:
    """Numbers JSON cannot hold, lone surrogates and bytes that are not UTF-8 are
    refused where they are found, with an answer that can itself be encoded."""
    response = local_api.post("/v1/jobs", content=content, headers={"Content-Type": "application/json"})
    [error] = response.json()["detail"]
    assert response.status_code == 422
    assert error["loc"] == loc
    assert error["type"] in ("json_invalid", "finite_number")


def test_a_boolean_is_not_a_priority(local_api: httpx.Client) -> None:
    assert ["body", "priority"] in locations(local_api.post("/v1/jobs", json={**VALID, "priority": False}))


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_not_sent_as_json_is_415_naming_the_header(local_api: httpx.Client, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = local_api.post("/v1/jobs", content=b'{"startUrls": ["https://example.com/"]}', headers=headers)
    assert response.status_code == 415
    assert "Content-Type: application/json" in response.json()["detail"]


def test_the_allowed_methods_of_a_job_are_all_listed(local_api: httpx.Client) -> None:
    options = local_api.options("/v1/jobs/some-id")
    assert options.status_code == 204
    assert options.headers["Allow"] == "DELETE, GET, OPTIONS"
    put = local_api.put("/v1/jobs", json=VALID)
    assert put.status_code == 405
    assert put.headers["Allow"] == "GET, OPTIONS, POST"
    assert "GET, OPTIONS, POST" in put.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/jobs/{id}"),
        ("GET", "/v1/jobs/{id}/items"),
        ("GET", "/v1/jobs/{id}/events"),
        ("DELETE", "/v1/jobs/{id}"),
    ],
)
def test_an_unknown_job_is_404_with_a_message(local_api: httpx.Client, method: str, path: str) -> None:
    response = local_api.request(method, path.format(id="no-such-job"))
    assert response.status_code == 404
    assert response.json() == {"detail": "no job with id 'no-such-job'"}


def test_a_job_id_longer_than_any_real_one_is_422(local_api: httpx.Client) -> None:
    assert ["path", "job_id"] in locations(local_api.get("/v1/jobs/" + "a" * 256))


def test_an_unsupported_method_is_405_listing_the_allowed_ones(local_api: httpx.Client) -> None:
    response = local_api.put("/v1/jobs/some-id", json=VALID)
    assert response.status_code == 405
    assert response.headers["Allow"] == "DELETE, GET, OPTIONS"


@pytest.mark.parametrize("since", ["0.5", "1700000000", "2026-01-31", "2026-01-31T08:00:00", "2026-01-31 08:00:00Z"])
def test_a_time_that_is_not_rfc_3339_with_a_zone_is_422(local_api: httpx.Client, since: str) -> None:
    assert ["query", "since"] in locations(local_api.get("/v1/jobs", params={"since": since}))


def test_a_time_with_its_zone_is_a_valid_since(local_api: httpx.Client) -> None:
    assert local_api.get("/v1/jobs", params={"since": "2026-01-31T08:00:00.5+01:00"}).status_code == 200


def test_the_schema_allows_no_extract_key_the_server_refuses(local_api: httpx.Client) -> None:
    extract = local_api.get("/openapi.json").json()["components"]["schemas"]["JobSpec"]["properties"]["extract"]
    assert list(extract["patternProperties"]) == ["^[A-Za-z_][A-Za-z0-9_]{0,63}$"]
    assert extract["additionalProperties"] is False

"""The API as the CLI calls it: JSON in and out, the token in a header, and every
error answer turned into an `ApiError` carrying the API's own explanation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

TIMEOUT = httpx.Timeout(30.0, connect=5.0)
# A followed stream stays quiet for as long as its job has nothing new to say.
FOLLOWING = httpx.Timeout(None, connect=5.0)


class ApiError(Exception):
    """The API answered with an error (status >= 400), or could not be reached (status 0)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def explain(response: httpx.Response) -> str:
    """The API's `detail`: a sentence, or for a 422 each field at fault with its reason."""
    try:
        detail = response.json().get("detail")
    except (json.JSONDecodeError, AttributeError):
        return f"{response.status_code} {response.reason_phrase}"
    if isinstance(detail, list):
        return "; ".join(
            ".".join(str(part) for part in error.get("loc", []) if part != "body") + f": {error.get('msg')}"
            for error in detail
        )
    return str(detail)


class Api:
    def __init__(self, base_url: str, token: str | None) -> None:
        headers = {"User-Agent": "crawlfleet-cli"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=TIMEOUT)

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise ApiError(0, f"cannot reach the API at {self.http.base_url}: {error}") from None
        if response.status_code >= 400:
            raise ApiError(response.status_code, explain(response))
        return response.json()

    @contextmanager
    def stream(self, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        try:
            with self.http.stream("GET", path, **kwargs) as response:
                if response.status_code >= 400:
                    response.read()
                    raise ApiError(response.status_code, explain(response))
                yield response
        except httpx.HTTPError as error:
            raise ApiError(0, f"cannot reach the API at {self.http.base_url}: {error}") from None

    def events(self, path: str) -> Iterator[tuple[str, str]]:
        """(event, data) of a Server-Sent Events stream until the server ends it."""
        with self.stream(path, headers={"Accept": "text/event-stream"}, timeout=FOLLOWING) as response:
            event, data = "message", list[str]()
            for line in response.iter_lines():
                if not line:
                    if data:
                        yield event, "\n".join(data)
                    event, data = "message", list[str]()
                elif line.startswith(":"):
                    continue
                else:
                    name, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if name == "event":
                        event = value
                    elif name == "data":
                        data.append(value)

"""Following a job the way a client does: polling GET /v1/jobs/{id}."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

FINISHED = ("SUCCESS", "FAILURE", "REVOKED")


def wait_for_state(
    client: httpx.Client, job_id: str, wanted: Callable[[dict[str, Any]], bool], timeout: float = 60, what: str = ""
) -> dict[str, Any]:
    """Poll GET /v1/jobs/{id} until `wanted` holds; fail naming every state seen."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if not seen or seen[-1] != body["state"]:
            seen.append(body["state"])
        if wanted(body):
            return body
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} never reached {what}; states seen: {seen}")


def state_is(*states: str) -> Callable[[dict[str, Any]], bool]:
    return lambda body: body["state"] in states

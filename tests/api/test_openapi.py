"""The API against its own OpenAPI document: schemathesis sends what the document
allows and what it does not to a live `crawlfleet-api`, with every check, with
authentication off and on. Not one server error, not one answer the document does
not describe.

The API gets a Redis of its own, which no worker ever reads: the generated jobs (for
any URL the schema admits) must never be crawled. Its event streams end after half
a second, so that following a job that never runs costs a request, not a timeout.

One check is left out: `use_after_free` expects a deleted resource to be gone, but
DELETE cancels a job, and the cancelled job stays readable as REVOKED (README). And
one is widened for one operation, in schemathesis.toml, saying why."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.api_process import ApiProcess
from tests.harness.redis_server import RedisServer

TOKEN = "schema-test-token-1"
# Examples per operation in each phase: a run stays within a minute or two.
MAX_EXAMPLES = 25
SEED = 20261125


@pytest.fixture(scope="module")
def isolated_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("schema-redis"))
    yield server
    server.stop()


def serve(redis_server: RedisServer, tmp_path: Path, tokens: str) -> ApiProcess:
    env = {
        **redis_server.platform_env(),
        "CRAWLFLEET_API_TOKENS": tokens,
        # Every queue the schema admits is accepted, as an operator may allow: nothing serves any here.
        "CRAWLFLEET_EXTRA_QUEUES": "*",
        "CRAWLFLEET_EVENTS_MAX_SECONDS": "0.5",
        "CRAWLFLEET_EVENTS_POLL_SECONDS": "0.1",
    }
    return ApiProcess(env, tmp_path / "crawlfleet-api.log")


@pytest.mark.timeout(600)
@pytest.mark.parametrize("tokens", ["", f"tester:{TOKEN}:admin"], ids=["auth-off", "auth-on"])
def test_the_api_keeps_to_its_openapi_document(isolated_redis: RedisServer, tmp_path: Path, tokens: str) -> None:
    api = serve(isolated_redis, tmp_path, tokens)
    try:
        command = [
            str(Path(sys.executable).parent / "schemathesis"),
            f"--config-file={Path(__file__).parent / 'schemathesis.toml'}",
            "run",
            f"{api.url}/openapi.json",
            "--checks=all",
            "--exclude-checks=use_after_free",
            f"--max-examples={MAX_EXAMPLES}",
            f"--seed={SEED}",
            "--request-timeout=10",
            "--generation-database=none",
            "--no-color",
            *(["--header", f"Authorization: Bearer {TOKEN}"] if tokens else []),
        ]
        result = subprocess.run(command, check=False, cwd=tmp_path, capture_output=True, text=True, timeout=540)
    finally:
        api.stop()
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]

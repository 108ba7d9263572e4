"""`crawlfleet` end to end: each command as a subprocess against the real stack."""

from __future__ import annotations

import csv
import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import ApiProcess
from tests.api.polling import state_is, wait_for_state
from tests.cli.conftest import CLI, TOKEN, Run
from tests.harness.celery_worker import CeleryWorker
from tests.harness.ports import free_port
from tests.harness.website import HeldWebsite, Website

# Each command and a word of the usage line its --help starts with.
USAGES = {
    "submit": "URL...",
    "run": "PROJECT SPIDER",
    "watch": "ID",
    "logs": "ID",
    "items": "ID",
    "ls": "[OPTIONS]",
    "cancel": "ID",
    "deploy": "[DIR]",
    "projects": "[OPTIONS]",
}


def test_submit_wait_shows_the_summary_and_items_come_out_as_jsonl_and_csv(
    crawlfleet: Run, celery_worker: CeleryWorker, website: Website, api_client: httpx.Client, tmp_path: Path
) -> None:
    done = crawlfleet("submit", website.url("/page/0"), "--extract", "title=h1.title::text", "--wait")
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.splitlines()[0]
    assert "SUCCESS" in done.stdout
    assert "15 pages · 15 items · 0 errors" in done.stdout
    assert "finished" in done.stdout  # the finish reason

    stored = api_client.get(f"/v1/jobs/{job_id}/items", params={"limit": 100}).json()["items"]
    jsonl = crawlfleet("items", job_id)
    assert jsonl.returncode == 0, jsonl.stderr
    assert [json.loads(line) for line in jsonl.stdout.splitlines()] == stored

    target = tmp_path / "items.csv"
    written = crawlfleet("items", job_id, "--format", "csv", "-o", str(target))
    assert written.returncode == 0, written.stderr
    rows = list(csv.DictReader(target.read_text().splitlines()))
    assert rows == stored


def test_submit_prints_only_the_id_and_watch_follows_it_to_its_end(
    crawlfleet: Run, celery_worker: CeleryWorker, website: Website
) -> None:
    submitted = crawlfleet("submit", website.url("/page/5"), "--max-pages", "2")
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()
    assert len(submitted.stdout.splitlines()) == 1
    watched = crawlfleet("watch", job_id, "--json")
    assert watched.returncode == 0, watched.stderr
    final = json.loads(watched.stdout)
    assert final["id"] == job_id
    assert final["state"] == "SUCCESS"
    assert final["progress"]["pages"] == 2


def test_ls_lists_the_jobs_newest_first_and_filters_by_state(
    crawlfleet: Run, celery_worker: CeleryWorker, website: Website
) -> None:
    first = crawlfleet("submit", website.url("/page/7"), "--max-pages", "1", "--wait").stdout.splitlines()[0]
    second = crawlfleet("submit", website.url("/page/8"), "--max-pages", "1", "--wait").stdout.splitlines()[0]
    ids = crawlfleet("ls", "--state", "SUCCESS", "-q").stdout.splitlines()
    assert ids.index(second) < ids.index(first)
    assert crawlfleet("ls", "--state", "FAILURE", "-q", "--limit", "500").stdout.count(first) == 0
    table = crawlfleet("ls", "--limit", "5")
    assert table.returncode == 0
    assert second in table.stdout
    assert "SUCCESS" in table.stdout


def test_cancel_stops_a_running_crawl_and_watch_then_exits_3(
    crawlfleet: Run, celery_worker: CeleryWorker, held_site: HeldWebsite, api_client: httpx.Client
) -> None:
    job_id = crawlfleet("submit", held_site.url("/slow/0"), "--max-pages", "50", "--max-depth", "50").stdout.strip()
    wait_for_state(api_client, job_id, state_is("PROGRESS"), what="PROGRESS")
    cancelled = crawlfleet("cancel", job_id)
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout.strip() == f"{job_id} REVOKED"
    watched = crawlfleet("watch", job_id)
    assert watched.returncode == 3
    assert "REVOKED" in watched.stdout
    again = crawlfleet("cancel", job_id)
    assert again.returncode == 0, "cancelling a cancelled job is not an error"


def test_a_failed_crawl_exits_1_with_its_reason(crawlfleet: Run, celery_worker: CeleryWorker) -> None:
    nothing_listens = f"http://127.0.0.1:{free_port()}/"
    failed = crawlfleet("submit", nothing_listens, "--wait")
    assert failed.returncode == 1
    assert "FAILURE" in failed.stdout
    assert "no page was fetched" in failed.stdout or "Connection" in failed.stdout


def test_bad_input_exits_5_naming_the_field(crawlfleet: Run) -> None:
    refused = crawlfleet("submit", "ftp://example.com/")
    assert refused.returncode == 5
    assert refused.stderr.startswith("error: startUrls.0:")
    assert refused.stdout == ""


def test_a_malformed_option_is_a_usage_error_and_sends_nothing(crawlfleet: Run, api_client: httpx.Client) -> None:
    before = api_client.get("/v1/jobs", params={"limit": 1}).json()["jobs"]
    usage = crawlfleet("submit", "https://example.com/", "--extract", "no-equals-sign")
    assert usage.returncode == 2
    assert "--extract" in usage.stderr
    assert api_client.get("/v1/jobs", params={"limit": 1}).json()["jobs"] == before


def test_an_unknown_job_exits_4(crawlfleet: Run) -> None:
    for command in (("watch", "no-such-job"), ("items", "no-such-job"), ("cancel", "no-such-job")):
        missing = crawlfleet(*command)
        assert missing.returncode == 4, command
        assert missing.stderr.strip() == "error: no job with id 'no-such-job'"


def test_an_unreachable_api_exits_7_naming_the_address(cli_env: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    down = subprocess.run([CLI, "--api-url", url, "ls"], env=cli_env, capture_output=True, text=True, check=False)
    assert down.returncode == 7
    assert f"cannot reach the API at {url}" in down.stderr


def test_the_token_comes_from_the_flag_the_environment_or_the_config_file(
    guarded_api: ApiProcess, cli_env: dict[str, str], tmp_path: Path
) -> None:
    url = guarded_api.url

    def ls(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CLI, *args, "ls"], env={**cli_env, **env}, capture_output=True, text=True, check=False, timeout=60
        )

    refused = ls("--api-url", url)
    assert refused.returncode == 6
    assert "Authorization: Bearer" in refused.stderr
    assert ls("--api-url", url, "--token", TOKEN).returncode == 0
    assert ls(CRAWLFLEET_API_URL=url, CRAWLFLEET_TOKEN=TOKEN).returncode == 0
    assert ls(CRAWLFLEET_API_URL=url, CRAWLFLEET_TOKEN="wrong-token-00").returncode == 6
    # A flag wins over the environment.
    assert ls("--token", TOKEN, CRAWLFLEET_API_URL=url, CRAWLFLEET_TOKEN="wrong-token-00").returncode == 0
    config = tmp_path / "config.toml"
    config.write_text(f'api_url = "{url}"\ntoken = "{TOKEN}"\n')
    assert ls(CRAWLFLEET_CONFIG=str(config)).returncode == 0
    # The environment wins over the file.
    assert ls(CRAWLFLEET_CONFIG=str(config), CRAWLFLEET_TOKEN="wrong-token-00").returncode == 6


@pytest.mark.parametrize(("command", "usage"), USAGES.items())
def test_every_command_has_help(command: str, usage: str, cli_env: dict[str, str]) -> None:
    shown = subprocess.run([CLI, command, "--help"], env=cli_env, capture_output=True, text=True, check=False)
    assert shown.returncode == 0
    first_line = shown.stdout.splitlines()[0]
    assert first_line.startswith(f"Usage: crawlfleet {command} [OPTIONS]")
    assert usage in first_line.replace("{", "").replace("}", "")  # Click braces a required argument


def test_the_top_level_help_lists_the_commands_and_exit_codes(cli_env: dict[str, str]) -> None:
    shown = subprocess.run([CLI, "--help"], env=cli_env, capture_output=True, text=True, check=False)
    assert shown.returncode == 0
    for command in USAGES:
        assert f"  {command} " in shown.stdout
    assert "Exit codes:" in shown.stdout
    assert "  7  the API cannot be reached" in shown.stdout
    assert "CRAWLFLEET_TOKEN" in shown.stdout


def test_watch_on_a_terminal_draws_a_live_bar_that_moves(
    crawlfleet: Run, open_api: ApiProcess, cli_env: dict[str, str], celery_worker: CeleryWorker, held_site: HeldWebsite
) -> None:
    job_id = crawlfleet("submit", held_site.url("/slow/0"), "--max-pages", "4", "--max-depth", "10").stdout.strip()
    primary, secondary = pty.openpty()
    watcher = subprocess.Popen(
        [CLI, "--api-url", open_api.url, "watch", job_id],
        env={**cli_env, "COLUMNS": "120", "TERM": "xterm"},
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
    )
    os.close(secondary)
    screen = b""

    def read_until(wanted: bytes) -> None:
        nonlocal screen
        deadline = time.monotonic() + 60
        while wanted not in screen and time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 1)
            if ready:
                try:
                    screen += os.read(primary, 65536)
                except OSError:  # the watcher exited and closed the terminal
                    return

    try:
        read_until(b"2 pages")
        assert b"PROGRESS" in screen
        assert "━".encode() in screen, "no bar drawn"
        held_site.release()
        read_until(b"finish reason")
        assert watcher.wait(30) == 0
    finally:
        watcher.kill()
        os.close(primary)
    assert b"4 pages" in screen
    assert b"100%" in screen

"""`make dev` as a new user meets it: hack/dev.sh starts Redis, a worker, the API and
Flower; a second shell that sources the dev environment reaches all of them, and the
README's examples work against it."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.harness.ports import free_port, wait_until
from tests.harness.website import HeldWebsite, Website

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
QUOTES = "https://quotes.toscrape.com/"


@dataclass
class DevStack:
    run_dir: Path
    api: str
    flower: str
    log: Path

    @property
    def env_file(self) -> Path:
        return self.run_dir / "dev.env"

    def shell(self, script: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`script` in a fresh bash that sourced the dev environment, as a second terminal would."""
        clean = {name: value for name, value in os.environ.items() if not name.startswith(("CRAWLFLEET_", "FLOWER_"))}
        return subprocess.run(
            ["bash", "-c", f"set -e; source {self.env_file}; {script}"],
            env=clean,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def flower_credentials(self) -> tuple[str, str]:
        match = re.search(r"Flower +\S+ +user (\S+), password (\S+)", self.log.read_text())
        assert match, "make dev prints Flower's user and password"
        return match[1], match[2]


@pytest.fixture(scope="module")
def dev_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    run_dir = tmp_path_factory.mktemp("dev")
    api_port, flower_port = free_port(), free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith(("CRAWLFLEET_", "FLOWER_"))}
    env.update(
        CRAWLFLEET_DEV_RUN_DIR=str(run_dir),
        CRAWLFLEET_DEV_REDIS_PORT=str(free_port()),
        CRAWLFLEET_DEV_API_PORT=str(api_port),
        CRAWLFLEET_DEV_FLOWER_PORT=str(flower_port),
    )
    log = run_dir / "make-dev.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(REPO / "hack" / "dev.sh")],
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack = DevStack(run_dir, f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{flower_port}", log)
    try:
        wait_until(lambda: httpx.get(f"{stack.api}/readyz", timeout=1).status_code == 200, 60, f"the dev API ({log})")
        wait_until(lambda: httpx.get(f"{stack.flower}/healthcheck", timeout=1).status_code == 200, 60, "Flower")
        wait_until(
            lambda: "dev@" in stack.shell("celery -A crawlfleet_workers.app inspect ping").stdout, 60, "the worker"
        )
        yield stack
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def readme_block(after_heading: str) -> str:
    """The first ```sh block under a README heading."""
    section = README.read_text().split(after_heading, 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert match
    return match.group(1)


def test_a_second_shell_that_sources_the_dev_environment_reaches_the_worker(dev_stack: DevStack) -> None:
    inspected = dev_stack.shell("celery -A crawlfleet_workers.app inspect active")
    assert inspected.returncode == 0, inspected.stderr
    assert "dev@" in inspected.stdout
    assert f"source {dev_stack.env_file}" in dev_stack.log.read_text(), "make dev tells where the environment is"


def test_flowers_api_takes_the_printed_credentials_and_refuses_others(dev_stack: DevStack) -> None:
    user, password = dev_stack.flower_credentials()
    assert httpx.get(f"{dev_stack.flower}/api/workers", timeout=10).status_code == 401
    assert httpx.get(f"{dev_stack.flower}/api/workers", auth=(user, "wrong"), timeout=10).status_code == 401
    workers = httpx.get(f"{dev_stack.flower}/api/workers?refresh=1", auth=(user, password), timeout=30)
    assert workers.status_code == 200
    assert any(name.startswith("dev@") for name in workers.json())
    assert httpx.get(f"{dev_stack.flower}/", auth=(user, password), timeout=10).status_code == 200
    sourced = dev_stack.shell(
        f'curl -s -o /dev/null -w "%{{http_code}}" -u "$FLOWER_BASIC_AUTH" {dev_stack.flower}/api/workers'
    )
    assert sourced.stdout == "200"


def test_flower_shows_a_running_crawl_as_progress(dev_stack: DevStack) -> None:
    user, password = dev_stack.flower_credentials()
    held = HeldWebsite(held_from=2)
    try:
        submitted = dev_stack.shell(f"crawlfleet submit {held.url('/slow/0')} --max-pages 4 --max-depth 10")
        assert submitted.returncode == 0, submitted.stderr
        job_id = submitted.stdout.strip()

        def flower_state() -> str:
            info = httpx.get(f"{dev_stack.flower}/api/task/info/{job_id}", auth=(user, password), timeout=5)
            return str(info.json().get("state")) if info.status_code == 200 else ""

        wait_until(lambda: flower_state() == "PROGRESS", 60, "Flower to show the crawl as PROGRESS", interval=0.2)
        held.release()
        wait_until(lambda: flower_state() == "SUCCESS", 60, "Flower to show the crawl as SUCCESS", interval=0.2)
    finally:
        held.stop()


def test_the_dashboard_links_to_flower(dev_stack: DevStack) -> None:
    assert httpx.get(f"{dev_stack.api}/", timeout=10).status_code == 200
    settings = httpx.get(f"{dev_stack.api}/ui/settings.json", timeout=10).json()
    assert settings == {"authRequired": False, "flowerUrl": dev_stack.flower}


def test_the_readmes_curl_examples_work_against_make_dev(dev_stack: DevStack, tmp_path: Path) -> None:
    site = Website()
    try:
        script = readme_block("## A job from start to items").replace(QUOTES, site.url("/page/0"))
        script = script.replace("http://127.0.0.1:8000", dev_stack.api)
        lines = [line.split(" #")[0] for line in script.splitlines() if line.strip() and not line.startswith("#")]
        first_command = "\n".join(lines[: lines.index("}'") + 1])
        accepted = dev_stack.shell(first_command, cwd=tmp_path)
        job_id = re.search(r'"id":"([^"]+)"', accepted.stdout)
        assert job_id, accepted.stdout
        for line in lines[lines.index("}'") + 1 :]:
            ran = dev_stack.shell(line.replace("<id>", job_id[1]), cwd=tmp_path)
            assert ran.returncode == 0, (line, ran.stderr)
            assert ran.stdout or "-sOJ" in line, line
        assert (tmp_path / f"{job_id[1]}-items.jsonl").read_text().count("\n") == 15
    finally:
        site.stop()


def test_the_readmes_cli_examples_work_against_make_dev(dev_stack: DevStack, tmp_path: Path) -> None:
    site = Website()
    try:
        script = readme_block("## The command line").replace(QUOTES, site.url("/page/0"))
        lines = [line.split(" #")[0].strip() for line in script.splitlines() if line.strip()]
        submitted = dev_stack.shell(lines[0], cwd=tmp_path)
        assert submitted.returncode == 0, submitted.stderr
        job_id = submitted.stdout.splitlines()[0]
        for line in lines[1:]:
            ran = dev_stack.shell(line.replace("<id>", job_id), cwd=tmp_path)
            if line.startswith("crawlfleet cancel"):
                # The job finished already: a 409, which the CLI exits with 5.
                assert (ran.returncode, ran.stderr) == (5, f"error: job {job_id} already finished with SUCCESS\n")
            else:
                assert ran.returncode == 0, (line, ran.stderr)
        assert (tmp_path / "quotes.csv").read_text().startswith("url,quote")
    finally:
        site.stop()


def test_the_readmes_second_shell_example_works(dev_stack: DevStack) -> None:
    script = readme_block("so a\nsecond shell reaches the same Redis, API and Flower:")
    script = script.replace("source .run/dev.env", "true").replace("http://127.0.0.1:5555", dev_stack.flower)
    ran = dev_stack.shell(script)
    assert ran.returncode == 0, ran.stderr
    assert "dev@" in ran.stdout
    assert '"dev@' in ran.stdout.splitlines()[-1], "Flower's API lists the dev worker"

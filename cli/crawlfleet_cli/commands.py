"""The `crawlfleet` command: submit crawls, watch them, read their items, list and cancel them.

Each command is a thin translation of arguments into one or two API calls; what a
script needs (a job id, the items, an exit code) goes to stdout or the exit status,
what a person needs (bars, tables, errors) to stderr."""

from __future__ import annotations

import json
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer

from crawlfleet_cli.client import Api, ApiError
from crawlfleet_cli.config import DEFAULT_CONFIG, CliSettings
from crawlfleet_cli.display import ProgressBar, err, jobs_table, out, summary
from crawlfleet_cli.exits import FINISHED_EXITS, exit_codes_help, exit_for
from crawlfleet_core.model.states import JobState

RECONNECT_ATTEMPTS = 5


class ItemFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


app = typer.Typer(
    name="crawlfleet",
    help=(
        "Run Scrapy crawls on a crawlfleet: submit them, watch their progress, read their items.\n\n"
        "The API's address and token come from --api-url and --token, else CRAWLFLEET_API_URL and "
        f"CRAWLFLEET_TOKEN, else the config file {DEFAULT_CONFIG} (or the file CRAWLFLEET_CONFIG names), "
        'with lines such as api_url = "https://crawlfleet.example.com" and token = "…".'
    ),
    epilog=exit_codes_help(),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def api(ctx: typer.Context) -> Api:
    client: Api = ctx.obj
    return client


def job_path(job_id: str, suffix: str = "") -> str:
    return f"/v1/jobs/{quote(job_id, safe='')}{suffix}"


def pairs(values: list[str], option: str) -> dict[str, str]:
    """`name=value` options as a mapping; a malformed one is a usage error naming the option."""
    parsed: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"{value!r} is not name=value", param_hint=option)
        parsed[name.strip()] = rest.strip()
    return parsed


@app.callback()
def connect(
    ctx: typer.Context,
    api_url: Annotated[
        str | None,
        typer.Option(
            "--api-url",
            metavar="URL",
            help="Base URL of the API [env CRAWLFLEET_API_URL; default http://127.0.0.1:8000].",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            metavar="TOKEN",
            help="Bearer token [env CRAWLFLEET_TOKEN]. Prefer the variable or the config file: "
            "other users can see a command line.",
        ),
    ] = None,
) -> None:
    given: dict[str, Any] = {name: value for name, value in (("api_url", api_url), ("token", token)) if value}
    settings = CliSettings.model_validate(given)
    ctx.obj = Api(settings.api_url, settings.token)
    ctx.call_on_close(ctx.obj.close)


def follow(client: Api, job_id: str) -> dict[str, Any]:
    """The job's final status, showing a live bar meanwhile; a dropped stream is resumed."""
    attempts = 0
    last: dict[str, Any] | None = None
    with ProgressBar(job_id) as bar:
        while True:
            try:
                for event, data in client.events(job_path(job_id, "/events")):
                    if event == "error":
                        raise ApiError(503, json.loads(data).get("detail", data))
                    if event != "status":
                        continue
                    last = json.loads(data)
                    bar.show(last)
                    attempts = 0
                    if JobState(last["state"]).finished:
                        return last
            except ApiError as error:
                if error.status not in (0, 503) or attempts >= RECONNECT_ATTEMPTS:
                    raise
                attempts += 1
                time.sleep(attempts)


def finish(job: dict[str, Any], as_json: bool) -> None:
    if as_json:
        out.print_json(data=job)
    else:
        out.print(summary(job))
    raise typer.Exit(FINISHED_EXITS[job["state"]])


@app.command()
def submit(
    ctx: typer.Context,
    urls: Annotated[list[str], typer.Argument(metavar="URL", help="Start URLs (http or https).", show_default=False)],
    max_pages: Annotated[
        int | None, typer.Option(metavar="N", help="Pages to fetch at most [server default 100].")
    ] = None,
    max_depth: Annotated[
        int | None, typer.Option(metavar="N", help="Links deep from a start URL [server default 3].")
    ] = None,
    extract: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME=SELECTOR", help="A field of each page's item: a CSS selector, or xpath:…; repeatable."
        ),
    ] = None,
    follow_links: Annotated[
        bool | None, typer.Option("--follow-links/--no-follow-links", help="Follow links found on pages.")
    ] = None,
    queue: Annotated[str | None, typer.Option(metavar="QUEUE", help="Worker pool (queue) that runs the job.")] = None,
    priority: Annotated[
        int | None, typer.Option(min=0, max=9, metavar="0-9", help="0 (lowest) to 9 (highest).")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Show a live progress bar until the job ends.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="With --wait, print the final status as JSON.")] = False,
) -> None:
    """Submit a crawl of the built-in spider and print its job id.

    With --wait, follow it to the end and exit with its outcome (see the exit codes)."""
    spec: dict[str, Any] = {"startUrls": urls, "extract": pairs(extract or [], "--extract")}
    for name, value in (
        ("maxPages", max_pages),
        ("maxDepth", max_depth),
        ("followLinks", follow_links),
        ("queue", queue),
        ("priority", priority),
    ):
        if value is not None:
            spec[name] = value
    client = api(ctx)
    job_id = client.call("POST", "/v1/jobs", json=spec)["id"]
    out.print(job_id)
    if wait:
        finish(follow(client, job_id), as_json)


@app.command()
def watch(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(metavar="ID", help="The job's id.", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print the final status as JSON.")] = False,
) -> None:
    """Show a job's live progress bar until it ends, then its summary; exit with its outcome."""
    finish(follow(api(ctx), job_id), as_json)


@app.command()
def items(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(metavar="ID", help="The job's id.", show_default=False)],
    file_format: Annotated[ItemFormat, typer.Option("--format", help="The file format.")] = ItemFormat.JSONL,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write to this file instead of stdout.", dir_okay=False)
    ] = None,
) -> None:
    """Write every item the job has stored so far, as JSON Lines or CSV."""
    with api(ctx).stream(job_path(job_id, f"/items.{file_format.value}")) as response:
        if output is None:
            for chunk in response.iter_bytes():
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return
        with output.open("wb") as file:
            for chunk in response.iter_bytes():
                file.write(chunk)
    err.print(f"wrote {output}")


@app.command("ls")
def list_jobs(
    ctx: typer.Context,
    state: Annotated[
        list[JobState] | None,
        typer.Option(
            metavar="STATE",
            help="Only jobs in this state (" + ", ".join(JobState) + "); repeatable.",
            case_sensitive=False,
        ),
    ] = None,
    queue: Annotated[str | None, typer.Option(metavar="QUEUE", help="Only jobs of this queue.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, metavar="N", help="Most jobs to show.")] = 20,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Print only the job ids.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's page as JSON.")] = False,
) -> None:
    """List your jobs, newest first."""
    params: dict[str, Any] = {"limit": limit, "state": [s.value for s in state or []]}
    if queue:
        params["queue"] = queue
    page = api(ctx).call("GET", "/v1/jobs", params=params)
    if as_json:
        out.print_json(data=page)
    elif quiet:
        for job in page["jobs"]:
            out.print(job["id"])
    elif page["jobs"]:
        out.print(jobs_table(page["jobs"]))
    else:
        err.print("no jobs")


@app.command()
def cancel(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(metavar="ID", help="The job's id.", show_default=False)],
) -> None:
    """Cancel a job: a queued one never starts, a running crawl is stopped."""
    job = api(ctx).call("DELETE", job_path(job_id))
    out.print(f"{job['id']} {job['state']}")


def main() -> None:
    try:
        app()
    except ApiError as error:
        err.print(f"error: {error.detail}", markup=False, highlight=False)
        raise SystemExit(exit_for(error)) from None

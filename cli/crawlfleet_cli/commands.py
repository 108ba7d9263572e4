"""The `crawlfleet` command: submit crawls or run a project's spiders, watch them, read their
items and logs, list and cancel them, deploy projects and list them.

Each command is a thin translation of arguments into one or two API calls; what a
script needs (a job id, the items, an exit code) goes to stdout or the exit status,
what a person needs (bars, tables, errors) to stderr."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer

from crawlfleet_cli.client import FOLLOWING, TIMEOUT, Api, ApiError
from crawlfleet_cli.config import DEFAULT_CONFIG, CliSettings
from crawlfleet_cli.display import ProgressBar, err, jobs_table, out, projects_table, summary
from crawlfleet_cli.eggs import EggBuildError, NotAProjectError, build_egg, find_project
from crawlfleet_cli.exits import FINISHED_EXITS, Exit, exit_codes_help, exit_for
from crawlfleet_core.model.states import JobState

RECONNECT_ATTEMPTS = 5


class ItemFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


app = typer.Typer(
    name="crawlfleet",
    help=(
        "Run Scrapy crawls on a crawlfleet: submit them or run your project's spiders, watch their "
        "progress, read their items and logs.\n\n"
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


JobIdArgument = Annotated[str, typer.Argument(metavar="ID", help="The job's id.", show_default=False)]
QueueOption = Annotated[str | None, typer.Option(metavar="QUEUE", help="Worker pool (queue) that runs the job.")]
PriorityOption = Annotated[int | None, typer.Option(min=0, max=9, metavar="0-9", help="0 (lowest) to 9 (highest).")]
WaitOption = Annotated[bool, typer.Option("--wait", help="Show a live progress bar until the job ends.")]
WaitJsonOption = Annotated[bool, typer.Option("--json", help="With --wait, print the final status as JSON.")]


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


def start(client: Api, spec: dict[str, Any], wait: bool, as_json: bool) -> None:
    """Submit `spec` and print the job's id; with `wait`, follow it and exit with its outcome."""
    job_id = client.call("POST", "/v1/jobs", json={name: value for name, value in spec.items() if value is not None})[
        "id"
    ]
    out.print(job_id)
    if wait:
        finish(follow(client, job_id), as_json)


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
    queue: QueueOption = None,
    priority: PriorityOption = None,
    wait: WaitOption = False,
    as_json: WaitJsonOption = False,
) -> None:
    """Submit a crawl of the built-in spider and print its job id.

    With --wait, follow it to the end and exit with its outcome (see the exit codes)."""
    spec = {
        "startUrls": urls,
        "extract": pairs(extract or [], "--extract"),
        "maxPages": max_pages,
        "maxDepth": max_depth,
        "followLinks": follow_links,
        "queue": queue,
        "priority": priority,
    }
    start(api(ctx), spec, wait, as_json)


@app.command()
def run(
    ctx: typer.Context,
    project: Annotated[str, typer.Argument(metavar="PROJECT", help="A project of `crawlfleet projects`.")],
    spider: Annotated[str, typer.Argument(metavar="SPIDER", help="One of the project's spiders.")],
    argument: Annotated[
        list[str] | None,
        typer.Option(
            "-a", "--arg", metavar="NAME=VALUE", help="An argument of the spider, as `scrapy crawl -a`; repeatable."
        ),
    ] = None,
    setting: Annotated[
        list[str] | None,
        typer.Option(
            "-s",
            "--set",
            metavar="NAME=VALUE",
            help="A Scrapy setting of this job, over the project's, as `scrapy crawl -s`; repeatable.",
        ),
    ] = None,
    version: Annotated[
        str | None, typer.Option(metavar="VERSION", help="A deployed version [default: the latest].")
    ] = None,
    queue: QueueOption = None,
    priority: PriorityOption = None,
    wait: WaitOption = False,
    as_json: WaitJsonOption = False,
) -> None:
    """Run a spider of a deployed (or installed) Scrapy project and print the job's id.

    With --wait, follow it to the end and exit with its outcome (see the exit codes)."""
    spec = {
        "project": project,
        "spider": spider,
        "version": version,
        "spiderArgs": pairs(argument or [], "-a"),
        "settings": pairs(setting or [], "-s"),
        "queue": queue,
        "priority": priority,
    }
    start(api(ctx), spec, wait, as_json)


@app.command()
def watch(
    ctx: typer.Context,
    job_id: JobIdArgument,
    as_json: Annotated[bool, typer.Option("--json", help="Print the final status as JSON.")] = False,
) -> None:
    """Show a job's live progress bar until it ends, then its summary; exit with its outcome."""
    finish(follow(api(ctx), job_id), as_json)


@app.command()
def items(
    ctx: typer.Context,
    job_id: JobIdArgument,
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
    project: Annotated[str | None, typer.Option(metavar="PROJECT", help="Only jobs of this project.")] = None,
    spider: Annotated[str | None, typer.Option(metavar="SPIDER", help="Only jobs of this project spider.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, metavar="N", help="Most jobs to show.")] = 20,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Print only the job ids.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's page as JSON.")] = False,
) -> None:
    """List your jobs, newest first."""
    params: dict[str, Any] = {"limit": limit, "state": [s.value for s in state or []]}
    for name, value in (("queue", queue), ("project", project), ("spider", spider)):
        if value:
            params[name] = value
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
    job_id: JobIdArgument,
) -> None:
    """Cancel a job: a queued one never starts, a running crawl is stopped."""
    job = api(ctx).call("DELETE", job_path(job_id))
    out.print(f"{job['id']} {job['state']}")


@app.command()
def logs(
    ctx: typer.Context,
    job_id: JobIdArgument,
    follow_log: Annotated[
        bool, typer.Option("-f", "--follow", help="Go on printing lines as they come, until the job ends.")
    ] = False,
) -> None:
    """Print a job's crawl log (Scrapy's log lines), oldest first."""
    params = {"follow": "true"} if follow_log else {}
    timeout = FOLLOWING if follow_log else TIMEOUT
    with api(ctx).stream(job_path(job_id, "/log"), params=params, timeout=timeout) as response:
        for text in response.iter_text():
            sys.stdout.write(text)
            sys.stdout.flush()


@app.command()
def projects(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's catalog as JSON.")] = False,
) -> None:
    """List the Scrapy projects your jobs can run: their versions and spiders."""
    catalog = api(ctx).call("GET", "/v1/projects")
    if as_json:
        out.print_json(data=catalog)
    elif catalog["projects"]:
        out.print(projects_table(catalog["projects"]))
    else:
        err.print("no projects: deploy one with `crawlfleet deploy`")


@app.command()
def deploy(
    ctx: typer.Context,
    directory: Annotated[
        Path,
        typer.Argument(
            metavar="DIR", help="The Scrapy project's folder (its scrapy.cfg's, or one below it).", show_default=False
        ),
    ] = Path(),
    project: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="The project's name [default: `project` in scrapy.cfg's [deploy]]."),
    ] = None,
    version: Annotated[
        str | None,
        typer.Option(metavar="VERSION", help="The version's name [default: the current Unix time, as scrapyd-deploy]."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the deployed version as JSON.")] = False,
) -> None:
    """Build a Scrapy project's egg as scrapyd-deploy does, deploy it, and print its spiders.

    A version of the same name is replaced; jobs run the latest version unless they name one."""
    try:
        found = find_project(directory)
    except NotAProjectError as error:
        raise typer.BadParameter(str(error), param_hint="DIR") from None
    name = project or found.deploy_project
    if not name:
        raise typer.BadParameter(
            f"{found.root / 'scrapy.cfg'} names no project: give --project NAME, or add `project = NAME` "
            "to its [deploy] section",
            param_hint="--project",
        )
    chosen = version or str(int(datetime.now(UTC).timestamp()))
    try:
        egg = build_egg(found)
    except EggBuildError as error:
        err.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(Exit.BUILD_FAILED) from None
    err.print(f"deploying {name} version {chosen} ({len(egg)} bytes) from {found.root}", highlight=False)
    deployed = api(ctx).call(
        "POST",
        f"/v1/projects/{quote(name, safe='')}/versions",
        data={"version": chosen},
        files={"egg": ("project.egg", egg, "application/octet-stream")},
    )
    if as_json:
        out.print_json(data=deployed)
        return
    err.print(f"deployed {name} {deployed['version']} with {len(deployed['spiders'])} spiders:", highlight=False)
    for name_of_spider in deployed["spiders"]:
        out.print(name_of_spider, highlight=False)


def main() -> None:
    try:
        app()
    except ApiError as error:
        err.print(f"error: {error.detail}", markup=False, highlight=False)
        raise SystemExit(exit_for(error)) from None

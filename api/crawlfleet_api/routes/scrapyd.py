"""Scrapyd's JSON API (version 1.6) at the API's root, so that scrapyd-deploy,
scrapyd-client and other Scrapyd tools work by changing only their URL.

How Scrapyd's words map onto the platform:

* A request authenticates with HTTP basic auth, the user name being the tenant and
  the password its API token (or with the API's bearer token). It acts for that
  tenant: its projects, its jobs. addversion, delversion and delproject need the
  `deploy` role, the others `submit`.
* A project is one of the tenant's deployed projects, or one installed in a pool's
  worker image; schedule.json sends a job of a deployed project to the default
  queue, of an installed one to the queue of the first pool that has it; a queue
  nothing serves is refused, as POST /v1/jobs refuses it.
* The Scrapyd job id is the platform's job id. `priority` (0 by default, higher
  first) is added to the platform's default of 5 and kept within 0 to 9.
* pending is PENDING, RECEIVED or RETRY; running is STARTED or PROGRESS; finished
  is SUCCESS, FAILURE or REVOKED. listjobs.json and daemonstatus.json look at the
  tenant's newest jobs (up to the listing's scan limit); GET /v1/jobs pages through all.
* Parameters are read from the query string and the form body alike, as Scrapyd
  does. Errors have Scrapyd's body, `{"status": "error", "message": ...}`, with a 4xx
  status that says what kind of error it is (Scrapyd answers 200)."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, Request, status
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from crawlfleet_api.config import ApiSettings
from crawlfleet_api.deployments import EggRefusedError, EggTooLargeError, deploy
from crawlfleet_api.deps import JobLogsDep, JobServiceDep, QueuesDep, SettingsDep, SubmittersDep
from crawlfleet_api.queues import KnownQueues, unknown_queue_message
from crawlfleet_api.routes.logs import TEXT, log_text
from crawlfleet_api.schemas import Problem
from crawlfleet_api.tokens import ANONYMOUS, Caller, Role, identify
from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.model.projects import PROJECT_PATTERN, VERSION_PATTERN, ProjectSource
from crawlfleet_core.model.states import JobState
from crawlfleet_core.model.status import JobQuery, JobStatus
from crawlfleet_core.service import LIST_SCAN_LIMIT, CancelConflictError, InvalidSpecError, JobService
from crawlfleet_core.store.jobs import JobStore

router = APIRouter(tags=["scrapyd"])

NODE_NAME = socket.gethostname()
# Scrapyd has no shards: schedule.json takes them as a setting of this name.
SHARDS_SETTING = "CRAWLFLEET_SHARDS"
SCHEDULE_PARAMETERS = frozenset({"project", "spider", "_version", "jobid", "priority", "setting"})
JOB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
DEFAULT_PRIORITY = 5
ITEMS_PER_READ = 1000
CHALLENGE = {"WWW-Authenticate": 'Basic realm="crawlfleet"'}


class ScrapydError(Exception):
    """An error answered in Scrapyd's shape."""

    def __init__(self, status_code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.headers = headers


async def scrapyd_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ScrapydError)
    body = {"node_name": NODE_NAME, "status": "error", "message": error.message}
    return JSONResponse(body, status_code=error.status_code, headers=error.headers)


def install(app: FastAPI) -> None:
    """Serve the Scrapyd API on `app`, its errors in Scrapyd's shape."""
    app.include_router(router)
    app.add_exception_handler(ScrapydError, scrapyd_error)


def ok(**data: Any) -> dict[str, Any]:
    return {"node_name": NODE_NAME, "status": "ok", **data}


async def authenticate(request: Request, settings: SettingsDep) -> Caller:
    """The caller of a Scrapyd request: basic auth with the tenant as user name and its
    token as password, or a bearer token; everyone is ANONYMOUS while tokens are off."""
    if not settings.tokens:
        return ANONYMOUS
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        user, token = None, credentials.strip()
    elif scheme.lower() == "basic":
        try:
            user, _, token = base64.b64decode(credentials.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise ScrapydError(401, "malformed basic auth credentials", CHALLENGE) from None
    else:
        raise ScrapydError(
            401,
            "authentication required: basic auth with your tenant as user name and your API token as password",
            CHALLENGE,
        )
    caller = identify(token, settings.tokens)
    if caller is None:
        raise ScrapydError(401, "invalid credentials: the password must be one of the API's tokens", CHALLENGE)
    if user is not None and user != caller.tenant:
        raise ScrapydError(401, f"the user name must be the token's tenant, {caller.tenant!r}", CHALLENGE)
    return caller


def role(needed: Role) -> Callable[..., Awaitable[Caller]]:
    async def check(caller: Annotated[Caller, Depends(authenticate)]) -> Caller:
        if not caller.may(needed):
            raise ScrapydError(403, f"this token may not do this: it needs the {needed.value!r} role")
        return caller

    return check


Submitter = Annotated[Caller, Depends(role(Role.SUBMIT))]
Deployer = Annotated[Caller, Depends(role(Role.DEPLOY))]


class Parameters:
    """A request's parameters, from its query string and form body together."""

    def __init__(self, values: list[tuple[str, str | UploadFile]]) -> None:
        self.values = values

    def all(self, name: str) -> list[str | UploadFile]:
        return [value for key, value in self.values if key == name]

    def optional(self, name: str) -> str | None:
        found = self.all(name)
        if not found:
            return None
        if not isinstance(found[0], str):
            raise ScrapydError(400, f"{name!r} must be a text parameter, not a file")
        return found[0]

    def required(self, name: str) -> str:
        value = self.optional(name)
        if value is None:
            raise ScrapydError(400, f"{name!r} parameter is required")
        return value

    def extras(self, known: frozenset[str]) -> dict[str, str]:
        """Every other parameter's first value: a spider argument, as in Scrapyd."""
        extras: dict[str, str] = {}
        for key, value in self.values:
            if key not in known and isinstance(value, str):
                extras.setdefault(key, value)
        return extras


async def parameters(request: Request) -> AsyncIterator[Parameters]:
    """The request's parameters; an uploaded file is closed once the answer is sent."""
    values: list[tuple[str, str | UploadFile]] = list(request.query_params.multi_items())
    if request.method != "POST":
        yield Parameters(values)
        return
    try:
        form = await request.form()
    except HTTPException as error:
        # Starlette's refusal of a malformed body, in Scrapyd's shape.
        raise ScrapydError(error.status_code, str(error.detail)) from None
    try:
        yield Parameters([*values, *form.multi_items()])
    finally:
        await form.close()


Params = Annotated[Parameters, Depends(parameters)]


class ScrapydAnswer(BaseModel):
    """Scrapyd's answer: `status` "ok" beside what the endpoint returns."""

    model_config = ConfigDict(extra="allow")
    node_name: str
    status: Literal["ok"]


class ScrapydProblem(BaseModel):
    """Scrapyd's error body, with a 4xx status that says what kind of error it is."""

    node_name: str
    status: Literal["error"]
    message: str


def answers(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The answers an endpoint documents: Scrapyd's body for success and for each error in `codes`."""
    reasons = {
        400: "A parameter is missing or invalid; the message names it.",
        401: "No or wrong credentials: basic auth with the tenant and its token, or a bearer token.",
        403: "The token lacks the role this needs.",
        404: "No such project, version, spider or job of the caller's tenant.",
        409: "The job id is taken, or the project is installed in a worker image.",
        413: "The egg is larger than CRAWLFLEET_EGG_MAX_BYTES.",
    }
    documented: dict[int | str, dict[str, Any]] = {
        code: {"model": ScrapydProblem, "description": reasons[code]} for code in (401, 403, *codes)
    }
    documented[503] = {"model": Problem, "description": "Redis is unreachable."}
    return documented


def query(*required: str, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """The OpenAPI description of an endpoint's query parameters, all text as in Scrapyd."""
    return {
        "parameters": [
            {"name": name, "in": "query", "required": name in required, "schema": {"type": "string"}}
            for name in (*required, *optional)
        ]
    }


def form(
    *required: str,
    optional: tuple[str, ...] = (),
    repeated: tuple[str, ...] = (),
    files: tuple[str, ...] = (),
    arguments: bool = False,
) -> dict[str, Any]:
    """The OpenAPI description of an endpoint's form body, as Scrapyd's clients send it
    (url-encoded, or multipart with a file); each parameter may also come in the query
    string. `arguments`: any other field is a spider argument."""
    properties: dict[str, Any] = {name: {"type": "string"} for name in (*required, *optional)}
    properties |= {name: {"type": "array", "items": {"type": "string"}} for name in repeated}
    properties |= {name: {"type": "string", "format": "binary"} for name in files}
    schema = {
        "type": "object",
        "properties": properties,
        "required": [*required, *files],
        "additionalProperties": {"type": "string"} if arguments else True,
    }
    media = ["multipart/form-data"] if files else ["application/x-www-form-urlencoded", "multipart/form-data"]
    return {"requestBody": {"required": True, "content": {kind: {"schema": schema} for kind in media}}}


def scrapyd_state(state: JobState) -> str:
    if state.finished:
        return "finished"
    return "running" if state in (JobState.STARTED, JobState.PROGRESS) else "pending"


def scrapyd_time(moment: datetime | None) -> str | None:
    """Scrapyd's `str(datetime)`, in UTC."""
    return None if moment is None else str(moment.astimezone(UTC).replace(tzinfo=None))


def scrapyd_priority(priority: str | None) -> int:
    if priority is None:
        return DEFAULT_PRIORITY
    try:
        offset = float(priority)
    except ValueError:
        offset = math.nan
    if not math.isfinite(offset):
        raise ScrapydError(400, f"priority is invalid: {priority!r} is not a number")
    return max(0, min(9, DEFAULT_PRIORITY + round(offset)))


def described(error: ValidationError) -> str:
    """A spec's validation errors in Scrapyd's words: parameters, settings and spider arguments."""
    messages = []
    for problem in error.errors():
        location = [str(part) for part in problem["loc"]]
        if location[0] == "spiderArgs" and len(location) > 1:
            subject = f"spider argument {location[1]!r}"
        elif location[0] == "settings" and len(location) > 1:
            subject = f"setting {location[1]}"
        else:
            subject = {"version": "_version"}.get(location[0], location[0])
        messages.append(f"{subject}: {problem['msg']}")
    return "; ".join(messages)


def job_of_tenant(service: JobService, job_id: str, caller: Caller, project: str | None) -> JobStatus | None:
    current = service.status(job_id)
    if current is None or not caller.sees(current.tenant) or (project is not None and current.project != project):
        return None
    return current


@router.get("/daemonstatus.json", response_model=ScrapydAnswer, responses=answers())
def daemon_status(service: JobServiceDep, caller: Submitter) -> dict[str, Any]:
    counts = {"pending": 0, "running": 0, "finished": 0}
    for job in service.list_jobs(JobQuery(tenant=caller.tenant, limit=LIST_SCAN_LIMIT)).jobs:
        counts[scrapyd_state(job.state)] += 1
    return ok(**counts)


@router.post(
    "/addversion.json",
    response_model=ScrapydAnswer,
    responses=answers(400, 413),
    openapi_extra=form("project", "version", files=("egg",)),
)
def add_version(params: Params, service: JobServiceDep, settings: SettingsDep, caller: Deployer) -> dict[str, Any]:
    project, version = params.required("project"), params.required("version")
    egg = next(iter(params.all("egg")), None)
    if egg is None:
        raise ScrapydError(400, "'egg' parameter is required")
    check_name("project", project, PROJECT_PATTERN)
    check_name("version", version, VERSION_PATTERN)
    data = egg.file.read() if isinstance(egg, UploadFile) else egg.encode()
    try:
        deployed = deploy(service.projects, settings, caller.tenant, project, version, data)
    except EggTooLargeError as error:
        raise ScrapydError(status.HTTP_413_CONTENT_TOO_LARGE, str(error)) from None
    except EggRefusedError as error:
        raise ScrapydError(400, str(error)) from None
    return ok(project=project, version=version, spiders=len(deployed.spiders))


def check_name(parameter: str, value: str, pattern: str) -> None:
    if not re.match(pattern, value):
        raise ScrapydError(400, f"{parameter} {value!r} is invalid: it must match {pattern}")


@router.post(
    "/schedule.json",
    response_model=ScrapydAnswer,
    responses=answers(400, 404, 409),
    openapi_extra=form(
        "project", "spider", optional=("_version", "jobid", "priority"), repeated=("setting",), arguments=True
    ),
)
async def schedule(
    params: Params,
    service: JobServiceDep,
    settings: SettingsDep,
    queues: QueuesDep,
    submitters: SubmittersDep,
    caller: Submitter,
) -> dict[str, Any]:
    # Written and published by the API's submission threads, as POST /v1/jobs is.
    submit = partial(schedule_job, params, service, settings, queues, caller)
    return ok(jobid=await anyio.to_thread.run_sync(submit, limiter=submitters))


def schedule_job(
    params: Parameters, service: JobService, settings: ApiSettings, queues: KnownQueues, caller: Caller
) -> str:
    """Submit the job schedule.json asks for; its id."""
    project, spider = params.required("project"), params.required("spider")
    scrapy_settings: dict[str, str] = {}
    for setting in params.all("setting"):
        name, equals, value = str(setting).partition("=")
        if not equals:
            raise ScrapydError(400, f"setting is invalid: {setting!r} (send setting=NAME=VALUE)")
        scrapy_settings[name] = value
    shards = scrapy_settings.pop(SHARDS_SETTING, "1")
    if not shards.isdigit():
        raise ScrapydError(400, f"setting {SHARDS_SETTING} is invalid: {shards!r} (send a whole number of shards)")
    found = service.projects.project(caller.tenant, project)
    installed = found is not None and found.source is ProjectSource.IMAGE
    body = {
        "project": project,
        "spider": spider,
        "version": params.optional("_version"),
        "spiderArgs": params.extras(SCHEDULE_PARAMETERS),
        "settings": scrapy_settings,
        "priority": scrapyd_priority(params.optional("priority")),
        "shards": int(shards),
        "queue": found.installed[0].queue if found is not None and installed else settings.default_queue,
    }
    try:
        spec = JobSpec.model_validate(body)
    except ValidationError as error:
        raise ScrapydError(400, described(error)) from None
    # The queue rule of POST /v1/jobs: an installed project's pool may be gone.
    if not queues.admits(spec.queue):
        raise ScrapydError(400, unknown_queue_message(spec.queue, queues.known()))
    job_id = params.optional("jobid")
    if job_id is not None:
        check_name("jobid", job_id, JOB_ID_PATTERN)
        if service.record(job_id) is not None:
            raise ScrapydError(409, f"jobid {job_id!r} is taken: choose another, or leave it out")
    try:
        return service.submit(spec, job_id=job_id, source="scrapyd", tenant=caller.tenant)
    except InvalidSpecError as error:
        field = {"version": "_version"}.get(error.field, error.field)
        missing = error.field in ("project", "spider", "version")
        raise ScrapydError(404 if missing else 400, f"{field}: {error.message}") from None


@router.post(
    "/cancel.json",
    response_model=ScrapydAnswer,
    responses=answers(400),
    openapi_extra=form("project", "job", optional=("signal",)),
)
def cancel(params: Params, service: JobServiceDep, caller: Submitter) -> dict[str, Any]:
    """Cancels a pending or running job; `signal` is accepted and not used: the crawl is always terminated."""
    project, job_id = params.required("project"), params.required("job")
    current = job_of_tenant(service, job_id, caller, project)
    if current is None or current.state.finished:
        return ok(prevstate=None)
    try:
        service.cancel(job_id)
    except CancelConflictError:
        return ok(prevstate=None)
    return ok(prevstate=scrapyd_state(current.state))


@router.get(
    "/status.json",
    response_model=ScrapydAnswer,
    responses=answers(400),
    openapi_extra=query("job", optional=("project",)),
)
def job_status(params: Params, service: JobServiceDep, caller: Submitter) -> dict[str, Any]:
    current = job_of_tenant(service, params.required("job"), caller, params.optional("project"))
    return ok(currstate=None if current is None else scrapyd_state(current.state))


@router.get("/listprojects.json", response_model=ScrapydAnswer, responses=answers())
def list_projects(service: JobServiceDep, caller: Submitter) -> dict[str, Any]:
    return ok(projects=[project.name for project in service.projects.projects(caller.tenant)])


@router.get("/listversions.json", response_model=ScrapydAnswer, responses=answers(400), openapi_extra=query("project"))
def list_versions(params: Params, service: JobServiceDep, caller: Submitter) -> dict[str, Any]:
    found = service.projects.project(caller.tenant, params.required("project"))
    return ok(versions=[] if found is None else [version.version for version in found.versions])


@router.get(
    "/listspiders.json",
    response_model=ScrapydAnswer,
    responses=answers(400, 404),
    openapi_extra=query("project", optional=("_version",)),
)
def list_spiders(params: Params, service: JobServiceDep, caller: Submitter) -> dict[str, Any]:
    project, version = params.required("project"), params.optional("_version")
    found = service.projects.project(caller.tenant, project)
    if found is None:
        raise ScrapydError(404, f"project {project!r} not found")
    if version is not None and version not in [deployed.version for deployed in found.versions]:
        raise ScrapydError(404, f"version {version!r} not found")
    return ok(spiders=found.spiders(version))


@router.get(
    "/listjobs.json",
    response_model=ScrapydAnswer,
    responses=answers(404),
    openapi_extra=query(optional=("project",)),
)
def list_jobs(params: Params, service: JobServiceDep, caller: Submitter) -> dict[str, Any]:
    project = params.optional("project")
    if project is not None and service.projects.project(caller.tenant, project) is None:
        raise ScrapydError(404, f"project {project!r} not found")
    jobs = service.list_jobs(JobQuery(tenant=caller.tenant, project=project, limit=LIST_SCAN_LIMIT)).jobs
    jobs = [job for job in jobs if job.project is not None]
    # Only a pending job shows its settings and arguments, which only its record holds.
    pending = [job.id for job in jobs if scrapyd_state(job.state) == "pending"]
    specs = {record.id: record.spec for record in service.store.records(pending) if record is not None}
    listed: dict[str, list[dict[str, Any]]] = {"pending": [], "running": [], "finished": []}
    for job in jobs:
        state = scrapyd_state(job.state)
        entry: dict[str, Any] = {"id": job.id, "project": job.project, "spider": job.spider}
        if state == "pending":
            spec = specs.get(job.id)
            entry.update(
                version=job.version,
                settings=dict(spec.settings) if spec else {},
                args=dict(spec.spider_args) if spec else {},
            )
        else:
            entry.update(start_time=scrapyd_time(job.started_at))
            if state == "running":
                entry.update(pid=None)
            else:
                entry.update(end_time=scrapyd_time(job.finished_at))
            entry.update(
                log_url=f"/logs/{job.project}/{job.spider}/{job.id}.log",
                items_url=f"/items/{job.project}/{job.spider}/{job.id}.jl",
            )
        listed[state].append(entry)
    return ok(**listed)


@router.post(
    "/delversion.json",
    response_model=ScrapydAnswer,
    responses=answers(400, 404, 409),
    openapi_extra=form("project", "version"),
)
def delete_version(params: Params, service: JobServiceDep, caller: Deployer) -> dict[str, Any]:
    project, version = params.required("project"), params.required("version")
    refuse_installed(service, caller, project)
    if not service.projects.delete_version(caller.tenant, project, version):
        raise ScrapydError(404, f"version {version!r} not found")
    return ok()


@router.post(
    "/delproject.json",
    response_model=ScrapydAnswer,
    responses=answers(400, 404, 409),
    openapi_extra=form("project"),
)
def delete_project(params: Params, service: JobServiceDep, caller: Deployer) -> dict[str, Any]:
    project = params.required("project")
    refuse_installed(service, caller, project)
    if not service.projects.delete_project(caller.tenant, project):
        raise ScrapydError(404, f"project {project!r} not found")
    return ok()


def refuse_installed(service: JobService, caller: Caller, project: str) -> None:
    found = service.projects.project(caller.tenant, project)
    if found is not None and found.source is ProjectSource.IMAGE:
        raise ScrapydError(409, f"project {project!r} is installed in a worker image: remove it from the image instead")


def crawl_of(service: JobService, caller: Caller, project: str, spider: str, job_id: str) -> JobStatus:
    current = job_of_tenant(service, job_id, caller, project)
    if current is None or current.spider != spider:
        raise ScrapydError(404, f"no job {job_id!r} of {project}/{spider}")
    return current


@router.get(
    "/logs/{project}/{spider}/{job_id}.log",
    response_class=StreamingResponse,
    responses={200: {"content": {TEXT: {}}, "description": "The log, one line per record."}, **answers(404)},
)
async def job_log(
    project: str, spider: str, job_id: str, service: JobServiceDep, logs: JobLogsDep, caller: Submitter
) -> StreamingResponse:
    """The job's crawl log, as Scrapyd's log_url serves it."""
    await run_in_threadpool(crawl_of, service, caller, project, spider, job_id)
    return StreamingResponse(log_text(logs, job_id), media_type=TEXT)


@router.get(
    "/items/{project}/{spider}/{job_id}.jl",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "One JSON item a line."}, **answers(404)},
)
async def job_items(
    project: str, spider: str, job_id: str, service: JobServiceDep, caller: Submitter
) -> StreamingResponse:
    """The job's items as JSON lines, as Scrapyd's items_url serves them."""
    await run_in_threadpool(crawl_of, service, caller, project, spider, job_id)
    return StreamingResponse(json_lines(service.store, job_id), media_type="application/x-ndjson")


async def json_lines(store: JobStore, job_id: str) -> AsyncIterator[str]:
    cursor: str | None = None
    while True:
        page = await run_in_threadpool(store.read_items, job_id, cursor, ITEMS_PER_READ)
        yield "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in page.items)
        if not page.has_more:
            return
        cursor = page.next_cursor

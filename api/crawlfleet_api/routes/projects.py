"""/v1/projects: the catalog of Scrapy projects, and deploying and deleting versions.

Projects belong to tenants, like jobs: a tenant's deploy token deploys the tenant's
projects, and only its jobs run them. Projects installed in a pool's worker image
are listed for every tenant, and deleted by changing the image, not here."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Path, Query, Response, UploadFile, status

from crawlfleet_api.deployments import EggRefusedError, EggTooLargeError, deploy
from crawlfleet_api.deps import CallerDep, JobServiceDep, SettingsDep, require
from crawlfleet_api.schemas import Problem
from crawlfleet_api.tokens import Caller, Role
from crawlfleet_core.model.projects import (
    PROJECT_PATTERN,
    VERSION_PATTERN,
    Project,
    ProjectSource,
    ProjectsPage,
    ProjectVersion,
)
from crawlfleet_core.store.projects import ProjectStore

router = APIRouter(prefix="/v1/projects", tags=["projects"])

UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No or a wrong bearer token."},
    403: {"model": Problem, "description": "The token lacks the role this needs."},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "The caller's tenant has no such project (or version)."}
}
INSTALLED: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "The project is installed in a worker image, not deployed."}
}

ProjectPath = Annotated[str, Path(max_length=100, pattern=PROJECT_PATTERN, description="The project's name.")]
VersionPath = Annotated[str, Path(max_length=64, pattern=VERSION_PATTERN, description="A deployed version.")]
TenantQuery = Annotated[
    str | None, Query(max_length=63, description="An admin's choice of tenant; others always act for their own.")
]


def acting_tenant(caller: Caller, tenant: str | None) -> str:
    """The tenant whose projects a request reads or changes: an admin may name one."""
    return tenant if tenant is not None and caller.may(Role.ADMIN) else caller.tenant


def project_or_404(projects: ProjectStore, tenant: str, name: str) -> Project:
    project = projects.project(tenant, name)
    if project is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no project {name!r}; list them at GET /v1/projects")
    return project


def deployed_or_409(projects: ProjectStore, tenant: str, name: str) -> Project:
    project = project_or_404(projects, tenant, name)
    if project.source is ProjectSource.IMAGE:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"project {name!r} is installed in the worker image of queue "
            f"{', '.join(pool.queue for pool in project.installed)}: remove it from the image instead",
        )
    return project


@router.get("", dependencies=[Depends(require(Role.SUBMIT))], responses=UNAUTHORIZED)
def list_projects(service: JobServiceDep, caller: CallerDep, tenant: TenantQuery = None) -> ProjectsPage:
    """The projects the caller's jobs can run: its tenant's deployed ones and those installed in worker images."""
    return ProjectsPage(projects=service.projects.projects(acting_tenant(caller, tenant)))


@router.get("/{project}", dependencies=[Depends(require(Role.SUBMIT))], responses={**UNAUTHORIZED, **NOT_FOUND})
def get_project(project: ProjectPath, service: JobServiceDep, caller: CallerDep, tenant: TenantQuery = None) -> Project:
    """A project's versions (oldest first, the latest last) and their spiders, or the pools it is installed in."""
    return project_or_404(service.projects, acting_tenant(caller, tenant), project)


@router.post(
    "/{project}/versions",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require(Role.DEPLOY))],
    responses={
        **UNAUTHORIZED,
        400: {"model": Problem, "description": "The egg does not load, or has no spider: Scrapy's error."},
        413: {"model": Problem, "description": "The egg is larger than CRAWLFLEET_EGG_MAX_BYTES."},
    },
)
def add_version(
    project: ProjectPath,
    version: Annotated[str, Form(max_length=64, pattern=VERSION_PATTERN, description="The version's name.")],
    egg: Annotated[UploadFile, File(description="The project's egg, as `scrapyd-deploy --build-egg` builds it.")],
    service: JobServiceDep,
    settings: SettingsDep,
    caller: CallerDep,
    tenant: TenantQuery = None,
) -> ProjectVersion:
    """Deploy a version of a project (the deploy role): the egg's spiders are listed in a process of its
    own, and an egg that does not import or has no spider is refused with Scrapy's error. A version of the
    same name is replaced."""
    try:
        return deploy(service.projects, settings, acting_tenant(caller, tenant), project, version, egg.file.read())
    except EggTooLargeError as error:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(error)) from None
    except EggRefusedError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None


@router.delete(
    "/{project}/versions/{version}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[Depends(require(Role.DEPLOY))],
    responses={**UNAUTHORIZED, **NOT_FOUND, **INSTALLED},
)
def delete_version(
    project: ProjectPath, version: VersionPath, service: JobServiceDep, caller: CallerDep, tenant: TenantQuery = None
) -> Response:
    """Delete one version (the deploy role); the project goes with its last version. Queued jobs pinned
    to it fail when they start."""
    owner = acting_tenant(caller, tenant)
    deployed_or_409(service.projects, owner, project)
    if not service.projects.delete_version(owner, project, version):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"project {project!r} has no version {version!r}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/{project}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[Depends(require(Role.DEPLOY))],
    responses={**UNAUTHORIZED, **NOT_FOUND, **INSTALLED},
)
def delete_project(
    project: ProjectPath, service: JobServiceDep, caller: CallerDep, tenant: TenantQuery = None
) -> Response:
    """Delete a project and every version of it (the deploy role)."""
    owner = acting_tenant(caller, tenant)
    deployed_or_409(service.projects, owner, project)
    service.projects.delete_project(owner, project)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

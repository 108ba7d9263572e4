"""Scrapy projects in the job store: each tenant's deployed eggs with their versions,
and the projects installed in pools' worker images, as their workers announced them.

Eggs live in Redis because every worker pod already reaches it; a worker fetches
an egg once and keeps it on its disk by content hash. Projects have no TTL: a
deployed version stays until it is deleted, and an installed project stays listed
while its pool is scaled to zero, or no job could ever wake the pool up."""

from __future__ import annotations

import redis

from crawlfleet_core.model.projects import InstalledProject, Project, ProjectSource, ProjectVersion, sorted_versions
from crawlfleet_core.settings import Settings
from crawlfleet_core.store import keys
from crawlfleet_core.store.connections import redis_client

# KEYS: the versions hash, the version's egg, the tenant's set of projects. ARGV: version, project.
# The project leaves the tenant's set with its last version, atomically, so that a
# concurrent upload of another version never finds itself in an unlisted project.
_DELETE_VERSION_SCRIPT = """
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
if redis.call('HLEN', KEYS[1]) == 0 then
    redis.call('SREM', KEYS[3], ARGV[2])
end
return removed
"""


class ProjectStore:
    def __init__(self, client: redis.Redis) -> None:
        # Eggs are bytes, so this client does not decode; JSON is decoded here.
        self.client = client
        self._delete_version = client.register_script(_DELETE_VERSION_SCRIPT)

    @classmethod
    def from_settings(cls, settings: Settings) -> ProjectStore:
        return cls(redis_client(settings.job_store_url, settings.redis_sentinel_master))

    def add_version(self, tenant: str, project: str, version: ProjectVersion, egg: bytes) -> None:
        """Store a version of a tenant's project, replacing one of the same name (as Scrapyd does)."""
        pipe = self.client.pipeline()
        pipe.set(keys.project_egg(tenant, project, version.version), egg)
        pipe.hset(keys.project_versions(tenant, project), version.version, version.model_dump_json())
        pipe.sadd(keys.tenant_projects(tenant), project)
        pipe.execute()

    def version(self, tenant: str, project: str, version: str) -> ProjectVersion | None:
        raw = self.client.hget(keys.project_versions(tenant, project), version)
        return None if raw is None else ProjectVersion.model_validate_json(raw)

    def egg(self, tenant: str, project: str, version: str) -> bytes | None:
        egg: bytes | None = self.client.get(keys.project_egg(tenant, project, version))
        return egg

    def project(self, tenant: str, name: str) -> Project | None:
        """The tenant's deployed project `name`, else the installed project of that name, else None.

        A tenant's own deployment wins over an installed project of the same name."""
        versions = self._versions(tenant, name)
        if versions:
            return Project(name=name, source=ProjectSource.EGG, versions=versions)
        installed = self._installed(name)
        if installed:
            return Project(name=name, source=ProjectSource.IMAGE, installed=installed)
        return None

    def projects(self, tenant: str) -> list[Project]:
        """Every project the tenant can run, by name."""
        deployed = {name.decode() for name in self.client.smembers(keys.tenant_projects(tenant))}
        installed = {name.decode() for name in self.client.smembers(keys.installed_projects())}
        found = (self.project(tenant, name) for name in sorted(deployed | installed))
        return [project for project in found if project is not None]

    def delete_version(self, tenant: str, project: str, version: str) -> bool:
        """Delete one version; the project goes with its last. False when there was no such version."""
        removed = self._delete_version(
            keys=[
                keys.project_versions(tenant, project),
                keys.project_egg(tenant, project, version),
                keys.tenant_projects(tenant),
            ],
            args=[version, project],
        )
        return bool(removed)

    def delete_project(self, tenant: str, project: str) -> bool:
        """Delete every version of a tenant's project. False when it had none."""
        versions = [version.decode() for version in self.client.hkeys(keys.project_versions(tenant, project))]
        if not versions:
            return False
        pipe = self.client.pipeline()
        pipe.delete(keys.project_versions(tenant, project), *(keys.project_egg(tenant, project, v) for v in versions))
        pipe.srem(keys.tenant_projects(tenant), project)
        pipe.execute()
        return True

    def announce(self, project: str, installed: InstalledProject) -> None:
        """Record what a pool's workers have installed, replacing their last announcement."""
        pipe = self.client.pipeline()
        pipe.hset(keys.installed_project(project), installed.queue, installed.model_dump_json())
        pipe.sadd(keys.installed_projects(), project)
        pipe.execute()

    def _versions(self, tenant: str, project: str) -> list[ProjectVersion]:
        stored = {
            name.decode(): ProjectVersion.model_validate_json(raw)
            for name, raw in self.client.hgetall(keys.project_versions(tenant, project)).items()
        }
        return [stored[name] for name in sorted_versions(list(stored))]

    def _installed(self, project: str) -> list[InstalledProject]:
        pools = self.client.hgetall(keys.installed_project(project))
        return [InstalledProject.model_validate_json(pools[queue]) for queue in sorted(pools)]

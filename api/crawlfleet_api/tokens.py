"""API tokens: who a bearer token speaks for (its tenant) and what it may do (its roles).

`CRAWLFLEET_API_TOKENS` lists tokens separated by commas, each `tenant:token` or
`tenant:token:role+role`; a bare `token` belongs to the tenant `default`. Roles:

* `submit` (the default): submit jobs, and read and cancel the tenant's own jobs;
* `deploy`: upload and delete the tenant's Scrapy project versions, which run code on
  the workers, so a token that only submits jobs cannot do it;
* `admin`: everything, for every tenant's jobs.

A tenant sees only its own jobs: another tenant's job is a 404, as if it did not exist.
A ScrapeJob's jobs belong to the tenant named like its namespace."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from crawlfleet_core.model.status import DEFAULT_TENANT

TENANT_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"


class Role(StrEnum):
    SUBMIT = "submit"
    DEPLOY = "deploy"
    ADMIN = "admin"


@dataclass(frozen=True)
class ApiToken:
    tenant: str
    secret: str
    roles: frozenset[Role]

    @classmethod
    def parse(cls, entry: str) -> ApiToken:
        """One entry of CRAWLFLEET_API_TOKENS; a ValueError names what is wrong, never the secret."""
        parts = entry.split(":")
        if len(parts) == 1:
            tenant, secret, roles = DEFAULT_TENANT, parts[0], Role.SUBMIT.value
        elif len(parts) in (2, 3):
            tenant, secret, roles = parts[0], parts[1], parts[2] if len(parts) == 3 else Role.SUBMIT.value
        else:
            raise ValueError("a token entry is `token`, `tenant:token` or `tenant:token:role+role`")
        if not re.match(TENANT_PATTERN, tenant):
            raise ValueError(f"tenant {tenant!r} must be a DNS label (lower-case letters, digits and '-')")
        if len(secret) < 8:
            raise ValueError(f"the token of tenant {tenant!r} is shorter than 8 characters")
        try:
            parsed = frozenset(Role(role) for role in roles.split("+"))
        except ValueError:
            raise ValueError(
                f"the token of tenant {tenant!r} names an unknown role in {roles!r}; roles are "
                + ", ".join(role.value for role in Role)
            ) from None
        return cls(tenant, secret, parsed)


@dataclass(frozen=True)
class Caller:
    """Who made a request: a tenant with roles, and an identity that scopes its
    idempotency keys (a digest of its token, never the token itself)."""

    tenant: str
    roles: frozenset[Role]
    identity: str

    def may(self, role: Role) -> bool:
        return Role.ADMIN in self.roles or role in self.roles

    def sees(self, tenant: str) -> bool:
        """Whether this caller may see a job of `tenant`."""
        return Role.ADMIN in self.roles or tenant == self.tenant


# With authentication off, every request comes from one caller who may do everything.
ANONYMOUS = Caller(DEFAULT_TENANT, frozenset(Role), "anonymous")


def identify(presented: str, tokens: Iterable[ApiToken]) -> Caller | None:
    """The caller a presented secret belongs to, or None.

    Every token is compared, in constant time each, so the answer's timing tells
    neither which token nearly matched nor how much of it."""
    found = None
    encoded = presented.encode()
    for token in tokens:
        if hmac.compare_digest(encoded, token.secret.encode()):
            found = token
    if found is None:
        return None
    return Caller(found.tenant, found.roles, hashlib.sha256(encoded).hexdigest()[:16])

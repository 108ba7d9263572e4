"""Idempotency-Key: a client that resends a submission (after a timeout, say)
gets the job it already created instead of a second crawl.

The job id is derived from the caller, the key and the spec, so a repeat maps to
the same id and `JobService.submit`, idempotent per id, publishes nothing again.
The key itself is remembered with a fingerprint of the spec it was first used
with, only to tell a client that reuses a key for a different job (409)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

import redis

from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.store import keys

# Fixed forever: changing it would give every repeated request a new job.
JOB_ID_NAMESPACE = uuid.UUID("6c1d2f0e-8f0a-4c55-9a4e-3b0f6f1d7a21")
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"


class IdempotencyConflictError(Exception):
    """The key was already used with a different job spec."""


@dataclass(frozen=True)
class Claim:
    job_id: str
    first: bool
    """True when this request is the key's first use; False for a repeat."""


def fingerprint(spec: JobSpec) -> str:
    """A digest of the spec as validated, so formatting and defaults spelled out
    or left implicit don't make the same job look different."""
    return hashlib.sha256(spec.model_dump_json(by_alias=True).encode()).hexdigest()


@dataclass
class IdempotencyKeys:
    client: redis.Redis
    ttl_seconds: int

    def claim(self, caller: str, key: str, spec: JobSpec) -> Claim:
        """The job id this (caller, key, spec) stands for; raise
        IdempotencyConflictError when the key is held by another spec."""
        digest = fingerprint(spec)
        job_id = str(uuid.uuid5(JOB_ID_NAMESPACE, f"{caller}\n{key}\n{digest}"))
        redis_key = self._redis_key(caller, key)
        if self.client.set(redis_key, digest, nx=True, ex=self.ttl_seconds):
            return Claim(job_id, first=True)
        held = self.client.get(redis_key)
        if held is None:
            # Expired between the two calls: nobody holds it any more.
            self.client.set(redis_key, digest, ex=self.ttl_seconds)
            return Claim(job_id, first=True)
        if held != digest:
            raise IdempotencyConflictError(
                f"Idempotency-Key {key!r} was already used with a different job spec; send a new key for a new job"
            )
        return Claim(job_id, first=False)

    def release(self, caller: str, key: str) -> None:
        """Forget a key whose first submission failed, so the client may retry freely."""
        self.client.delete(self._redis_key(caller, key))

    @staticmethod
    def _redis_key(caller: str, key: str) -> str:
        return keys.idempotency(f"{caller}:{key}")

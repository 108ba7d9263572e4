"""Idempotency keys against a real Redis: one job per (caller, key, spec), a 409
for a key reused with another spec, and a key given back when its first use failed."""

from __future__ import annotations

import uuid

import pytest

from crawlfleet_api.idempotency import IdempotencyConflictError, IdempotencyKeys, fingerprint
from crawlfleet_core.model.jobs import JobSpec
from crawlfleet_core.store.keys import idempotency
from tests.harness.redis_server import RedisServer

SPEC = JobSpec(start_urls=["https://example.com/"])


@pytest.fixture
def keys(redis_server: RedisServer) -> IdempotencyKeys:
    return IdempotencyKeys(redis_server.client(2), ttl_seconds=60)


def fresh_key() -> str:
    return f"key-{uuid.uuid4().hex}"


def test_the_fingerprint_ignores_how_the_spec_was_written() -> None:
    spelled_out = JobSpec.model_validate({"startUrls": ["https://example.com/"], "maxPages": 100, "queue": "default"})
    assert fingerprint(spelled_out) == fingerprint(SPEC)
    assert fingerprint(SPEC.model_copy(update={"max_pages": 5})) != fingerprint(SPEC)


def test_a_repeat_maps_to_the_first_job(keys: IdempotencyKeys) -> None:
    key = fresh_key()
    first = keys.claim("caller-a", key, SPEC)
    again = keys.claim("caller-a", key, SPEC)
    assert first.first and not again.first
    assert again.job_id == first.job_id


def test_the_same_key_of_two_callers_is_two_jobs(keys: IdempotencyKeys) -> None:
    key = fresh_key()
    assert keys.claim("caller-a", key, SPEC).job_id != keys.claim("caller-b", key, SPEC).job_id


def test_a_key_reused_with_another_spec_is_a_conflict_naming_the_key(keys: IdempotencyKeys) -> None:
    key = fresh_key()
    keys.claim("caller-a", key, SPEC)
    with pytest.raises(IdempotencyConflictError, match=key):
        keys.claim("caller-a", key, SPEC.model_copy(update={"max_pages": 5}))


def test_a_released_key_can_be_used_with_a_corrected_spec(keys: IdempotencyKeys) -> None:
    key = fresh_key()
    keys.claim("caller-a", key, SPEC)
    keys.release("caller-a", key)
    assert keys.claim("caller-a", key, SPEC.model_copy(update={"max_pages": 5})).first


def test_a_key_lives_for_its_ttl(keys: IdempotencyKeys) -> None:
    key = fresh_key()
    keys.claim("caller-a", key, SPEC)
    ttl = keys.client.ttl(idempotency(f"caller-a:{key}"))
    assert 0 < ttl <= 60

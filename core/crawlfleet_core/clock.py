"""The platform's one clock: timezone-aware UTC, as every stored timestamp is."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)

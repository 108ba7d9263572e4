"""A job's items as a file to download: JSON Lines or CSV, produced a batch at a time.

Items of one job may differ in their fields (a project's spider yields what it
likes), so a CSV's columns are the union of every item's fields, in the order they
were first seen; that takes one pass over the items before the rows, and holds only
the field names. A value that is neither text, a number, a boolean nor null is
written as JSON, so a list of matches survives the round trip."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

Batches = Callable[[], Iterable[list[dict[str, Any]]]]

# More distinct columns than a spreadsheet shows is a sign of items keyed by data;
# stopping there keeps the header pass bounded too.
MAX_CSV_COLUMNS = 1000


def jsonl_chunks(batches: Batches) -> Iterator[str]:
    """One chunk per batch of items, each item on a line of its own."""
    for batch in batches():
        yield "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in batch)


def csv_columns(batches: Batches) -> list[str]:
    """Every field name of the items, in the order first seen (`url` first when present)."""
    columns: dict[str, None] = {}
    for batch in batches():
        for item in batch:
            columns.update(dict.fromkeys(item))
            if len(columns) >= MAX_CSV_COLUMNS:
                return list(columns)[:MAX_CSV_COLUMNS]
    if "url" in columns:
        return ["url", *(name for name in columns if name != "url")]
    return list(columns)


def csv_cell(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return json.dumps(value, ensure_ascii=False)


def csv_chunks(batches: Batches) -> Iterator[str]:
    """The header, then one chunk of rows per batch of items."""
    columns = csv_columns(batches)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    yield buffer.getvalue()
    for batch in batches():
        buffer.seek(0)
        buffer.truncate()
        writer.writerows({name: csv_cell(value) for name, value in item.items()} for item in batch)
        yield buffer.getvalue()


def download_name(job_id: str, extension: str) -> str:
    """A file name for the job's items that every browser and shell takes as it is."""
    return f"{re.sub(r'[^A-Za-z0-9._-]', '_', job_id)}-items.{extension}"

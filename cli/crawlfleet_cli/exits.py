"""Exit codes a script can act on; `crawlfleet --help` lists them too."""

from __future__ import annotations

from enum import IntEnum

from crawlfleet_cli.client import ApiError


class Exit(IntEnum):
    OK = 0
    JOB_FAILED = 1
    USAGE = 2
    JOB_CANCELLED = 3
    NOT_FOUND = 4
    REFUSED = 5
    UNAUTHORIZED = 6
    UNAVAILABLE = 7
    BUILD_FAILED = 8


MEANINGS = {
    Exit.OK: "done; with --wait or `watch`, the job ended in SUCCESS",
    Exit.JOB_FAILED: "the job ended in FAILURE",
    Exit.USAGE: "a wrong command, option or argument (nothing was sent)",
    Exit.JOB_CANCELLED: "the job ended in REVOKED (cancelled)",
    Exit.NOT_FOUND: "no such job (or not one of your tenant's)",
    Exit.REFUSED: "the API refused the request: invalid input (422), a conflict (409), too large (413)",
    Exit.UNAUTHORIZED: "no token or a wrong one (401), or one without the role this needs (403)",
    Exit.UNAVAILABLE: "the API cannot be reached, or it or its Redis is failing (5xx)",
    Exit.BUILD_FAILED: "`deploy` could not build the project's egg (nothing was sent)",
}

FINISHED_EXITS = {"SUCCESS": Exit.OK, "FAILURE": Exit.JOB_FAILED, "REVOKED": Exit.JOB_CANCELLED}


def exit_for(error: ApiError) -> Exit:
    if error.status in (401, 403):
        return Exit.UNAUTHORIZED
    if error.status == 404:
        return Exit.NOT_FOUND
    if error.status == 0 or error.status >= 500:
        return Exit.UNAVAILABLE
    return Exit.REFUSED


def exit_codes_help() -> str:
    """The exit codes as `--help` shows them (`\\b` keeps Click from rewrapping the lines)."""
    return "\b\nExit codes:\n" + "\n".join(f"  {code.value}  {meaning}" for code, meaning in MEANINGS.items())

"""The exit codes the README promises are the ones the CLI uses."""

from __future__ import annotations

import re
from pathlib import Path

from crawlfleet_cli.client import ApiError
from crawlfleet_cli.exits import Exit, exit_for

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_documents_every_exit_code() -> None:
    section = README.read_text().split("## The command line", 1)[1].split("\n## ", 1)[0]
    documented = {int(code) for code in re.findall(r"^\| (\d) \|", section, flags=re.MULTILINE)}
    assert documented == {code.value for code in Exit}


def test_api_errors_map_to_their_exit_codes() -> None:
    assert [exit_for(ApiError(status, "")) for status in (0, 401, 403, 404, 409, 413, 422, 500, 503)] == [
        Exit.UNAVAILABLE,
        Exit.UNAUTHORIZED,
        Exit.UNAUTHORIZED,
        Exit.NOT_FOUND,
        Exit.REFUSED,
        Exit.REFUSED,
        Exit.REFUSED,
        Exit.UNAVAILABLE,
        Exit.UNAVAILABLE,
    ]

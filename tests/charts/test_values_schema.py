"""values.schema.json turns a wrong values file into a clear error at `helm install`
time, instead of a chart that silently ignores a typo. Each file in invalid-values/
names, in its `# expect:` line, the message a user must see."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.helm import CHART, Helm

INVALID_VALUES = sorted((Path(__file__).parent / "invalid-values").glob("*.yaml"))


def expected_message(path: Path) -> str:
    first_line = path.read_text().splitlines()[0]
    assert first_line.startswith("# expect: "), f"{path.name} must start with '# expect: <message>'"
    return first_line.removeprefix("# expect: ")


def test_there_are_enough_cases() -> None:
    assert len(INVALID_VALUES) >= 5


@pytest.mark.parametrize("values_file", INVALID_VALUES, ids=lambda path: path.stem)
def test_bad_values_are_rejected_with_a_clear_message(helm: Helm, values_file: Path) -> None:
    result = helm.run("template", "crawlfleet", str(CHART), f"--values={values_file}", check=False)
    assert result.returncode != 0, f"{values_file.name} was accepted"
    assert "values don't meet the specifications of the schema" in result.stderr
    assert expected_message(values_file) in result.stderr

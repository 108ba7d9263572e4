"""Settings: every one documented, and limits that cannot redeliver a running job."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from crawlfleet_api.config import ApiSettings
from crawlfleet_core.settings import Settings
from crawlfleet_workers.config import WorkerSettings

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize("settings_class", [Settings, ApiSettings, WorkerSettings], ids=lambda c: c.__name__)
def test_every_setting_is_documented_in_the_readme(settings_class: type[Settings]) -> None:
    text = README.read_text()
    missing = [
        f"CRAWLFLEET_{name.upper()}" for name in settings_class.model_fields if f"CRAWLFLEET_{name.upper()}" not in text
    ]
    assert missing == []


def test_allowed_networks_are_read_from_a_comma_separated_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRAWLFLEET_ALLOWED_NETWORKS", "127.0.0.0/8, 10.1.0.0/16")
    assert [str(network) for network in Settings().allowed_networks] == ["127.0.0.0/8", "10.1.0.0/16"]


def test_a_visibility_timeout_shorter_than_the_hard_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRAWLFLEET_HARD_TIME_LIMIT_SECONDS", "5000")
    monkeypatch.setenv("CRAWLFLEET_VISIBILITY_TIMEOUT_SECONDS", "4200")
    with pytest.raises(ValidationError, match="CRAWLFLEET_VISIBILITY_TIMEOUT_SECONDS"):
        Settings()


def test_a_bad_network_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRAWLFLEET_ALLOWED_NETWORKS", "not-a-network")
    with pytest.raises(ValidationError, match="allowed_networks"):
        Settings()

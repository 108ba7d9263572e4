"""Where the CLI finds the API and its token: a flag, else the environment
(`CRAWLFLEET_API_URL`, `CRAWLFLEET_TOKEN`), else the config file
(`~/.config/crawlfleet/config.toml`, or the file `CRAWLFLEET_CONFIG` names)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG = Path("~/.config/crawlfleet/config.toml")


def config_path() -> Path:
    return Path(os.environ.get("CRAWLFLEET_CONFIG") or DEFAULT_CONFIG).expanduser()


class CliSettings(BaseSettings):
    """The CLI's own settings; the platform's `CRAWLFLEET_*` settings are the server's business."""

    model_config = SettingsConfigDict(env_prefix="CRAWLFLEET_", extra="ignore", hide_input_in_errors=True)

    api_url: str = Field("http://127.0.0.1:8000", description="Base URL of the crawlfleet API.")
    token: str | None = Field(None, repr=False, description="Bearer token, when the API has tokens on.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Flags (passed as init arguments) win over the environment, which wins over the file.
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=config_path())

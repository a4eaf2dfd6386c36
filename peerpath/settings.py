"""Settings: one validated object, built once and passed in (never a global that tests patch)."""

from __future__ import annotations

import getpass
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


class Settings(BaseSettings):
    """Read from PEERPATH_* environment variables, then from a `.env` file in the working folder."""

    model_config = SettingsConfigDict(env_prefix="PEERPATH_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./var/peerpath.db",
        description="SQLAlchemy URL: sqlite:///path.db or postgresql+psycopg://user@host/db",
    )
    pathways_dir: Path | None = Field(
        default=None, description="a folder of extra or local pathway YAML files (besides the built-in ones)"
    )
    rules_dir: Path | None = Field(
        default=None, description="a folder of extra rule files and overrides (besides rules/default.yaml)"
    )
    actor: str = Field(default_factory=_default_actor, description="who is acting, recorded on every event")

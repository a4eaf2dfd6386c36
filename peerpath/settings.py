"""Settings: one validated object, built once and passed in (never a global that tests patch)."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lifecycle.errors import InvalidInput


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
    smtp_host: str | None = Field(
        default=None, description="SMTP server; unset: the dispatcher refuses to send"
    )
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "tls"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout: float = Field(default=30.0, gt=0, le=600)
    smtp_validate_certs: bool = Field(default=True, description="check the relay's TLS certificate")
    smtp_ca_file: Path | None = Field(
        default=None, description="PEM file of CAs to trust for the relay (else the system's)"
    )
    smtp_tls_server_name: str | None = Field(
        default=None, description="the name on the relay's certificate, when PEERPATH_SMTP_HOST is an address"
    )
    mail_from: str = Field(default="peerpath@localhost", description="envelope and From address")
    outbox_retry_hours: float = Field(
        default=72, gt=0, le=720, description="retry a temporary failure this long"
    )
    outbox_max_attempts: int | None = Field(
        default=None, ge=1, le=1000, description="also give up after this many"
    )
    outbox_concurrency: int = Field(default=4, ge=1, le=32)
    retention_unsuccessful_days: int = Field(
        default=400, ge=30, le=3650, description="unsuccessful candidates' data"
    )
    retention_dbs_months: int = Field(
        default=6, ge=1, le=24, description="DBS disclosure details after the decision"
    )
    retention_prefect_run_days: int = Field(
        default=30, ge=1, le=3650,
        description="Prefect flow runs (their parameters, logs and artifacts) after they were due to start",
    )  # fmt: skip
    organisation: str | None = Field(
        default=None,
        description="the organisation the actor acts for (its code); unset or `*`: the programme lead, every journey",
    )
    actor: str = Field(default_factory=_default_actor, description="who is acting, recorded on every event")

    @field_validator("organisation")
    @classmethod
    def _organisation_code(cls, value: str | None) -> str | None:
        """Validated once, here: an ASCII code or `*`, nothing around it (`' nmh'`, `'NMH\\nX'` refused)."""
        from lifecycle.validation import clean_code

        if value in (None, "", "*"):
            return value
        try:
            return clean_code(value, "organisation", strict=True)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment (and `.env`); a bad value is refused in one line that names the
    variable, e.g. `invalid setting PEERPATH_SMTP_PORT (smtp_port): Input should be ...` (InvalidInput).
    The value itself is not repeated: it may be a password."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        field = "_".join(str(part) for part in first["loc"])
        where = f"setting PEERPATH_{field.upper()} ({field})" if field else "settings"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise InvalidInput(f"invalid {where}: {' '.join(first['msg'].split())}{more}") from None

"""Sending with aiosmtplib: one reused connection per worker; outcomes classified for the outbox."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from email.message import Message
from typing import Literal

import aiosmtplib
from pydantic import BaseModel, ConfigDict, Field, SecretStr


class SmtpSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    host: str
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "starttls"  # tls: implicit TLS (usually port 465)
    username: str | None = None
    password: SecretStr | None = None
    timeout: float = Field(default=30.0, gt=0, le=600)
    from_address: str = "peerpath@localhost"
    validate_certs: bool = True


class Result(enum.Enum):
    SENT = "sent"
    RETRY = "retry"  # temporary: connection, timeout, 4xx
    REFUSED = "refused"  # permanent: 5xx for the recipient or the message


@dataclass(frozen=True)
class Outcome:
    result: Result
    detail: str = ""


class SmtpTransport:
    """One SMTP connection, opened on first use and reopened after a failure."""

    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self._client: aiosmtplib.SMTP | None = None

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        s = self.settings
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            use_tls=s.security == "tls",
            start_tls=s.security == "starttls",  # False, not None: never upgrade when not asked to
            username=s.username,
            password=s.password.get_secret_value() if s.password else None,
            timeout=s.timeout,
            validate_certs=s.validate_certs,
        )
        await client.connect()
        self._client = client
        return client

    async def send(self, message: Message, recipient: str) -> Outcome:
        try:
            client = await self._connected()
            errors, _ = await client.send_message(
                message, sender=self.settings.from_address, recipients=[recipient]
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            return _classify_codes(
                [r.code for r in exc.recipients], "; ".join(str(r.message) for r in exc.recipients)
            )
        except aiosmtplib.SMTPResponseException as exc:
            await self.close()
            return _classify_codes([exc.code], exc.message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await self.close()
            return Outcome(Result.RETRY, f"{type(exc).__name__}: {exc}"[:300])
        # aiosmtplib does not raise when only some recipients are refused: check the result.
        if recipient in errors:
            response = errors[recipient]
            return _classify_codes([response.code], response.message)
        return Outcome(Result.SENT)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()


def _classify_codes(codes: list[int], detail: str) -> Outcome:
    permanent = all(500 <= code < 600 for code in codes)
    return Outcome(Result.REFUSED if permanent else Result.RETRY, f"{codes[0]} {detail}"[:300])

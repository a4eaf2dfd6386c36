"""Sending with aiosmtplib: one reused connection per worker; outcomes classified for the outbox.

Two kinds of failure, kept apart:

- **the session** (connecting, the greeting, EHLO, STARTTLS/TLS, AUTH, the relay refusing our
  sender): nothing about any one message; the relay is down or misconfigured. `Result.SESSION`
  with a `FailureKind`; the dispatcher treats it as an outage of the whole run and never counts it
  against a message;
- **the message** (RCPT, DATA, the connection lost mid-message): a 5xx for the recipient or the
  message is permanent (`REFUSED`), a 4xx, a timeout or a dropped connection temporary (`RETRY`).

The connection is reused across messages and reopened only after a connection-level failure.
"""

from __future__ import annotations

import asyncio
import enum
import socket
import ssl
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
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
    ca_file: Path | None = None  # PEM file of the certificate authorities to trust (else the system's)
    tls_server_name: str | None = None  # the name the relay's certificate is checked against, when
    # `host` is an address (127.0.0.1) or an alias


class Result(enum.Enum):
    SENT = "sent"
    RETRY = "retry"  # temporary for this message: 4xx, a timeout or a dropped connection mid-message
    REFUSED = "refused"  # permanent: 5xx for the recipient or the message
    SESSION = "session"  # the session could not be set up: the message was not attempted


class FailureKind(enum.Enum):
    CONNECTION = "connection"  # refused, unreachable, timed out, greeting refused, dropped
    TLS = "TLS"  # handshake or certificate failure
    AUTHENTICATION = "authentication"  # the relay refused our credentials
    CONFIGURATION = "configuration"  # unknown host, no STARTTLS/AUTH where asked, bad CA file, sender refused


@dataclass(frozen=True)
class Outcome:
    result: Result
    detail: str = ""
    kind: FailureKind | None = None  # for Result.SESSION
    timed_out: bool = False  # the server did not answer in time (as opposed to refusing)


class SessionFailure(Exception):
    def __init__(self, kind: FailureKind, detail: str):
        super().__init__(detail)
        self.kind, self.detail = kind, detail[:300]


def tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    """The TLS context for the relay: the CA file if given (else the system's), hostname checks
    unless certificate checking is off."""
    if settings.ca_file is not None and not settings.ca_file.is_file():
        raise SessionFailure(
            FailureKind.CONFIGURATION, f"PEERPATH_SMTP_CA_FILE {settings.ca_file} is not a file"
        )
    try:
        context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    except ssl.SSLError as exc:
        raise SessionFailure(
            FailureKind.CONFIGURATION,
            f"PEERPATH_SMTP_CA_FILE {settings.ca_file} holds no usable certificate: {exc}",
        ) from None
    if not settings.validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _words(exc: BaseException | str) -> str:
    """Text on one line (a server's reply, an exception's message)."""
    return " ".join(str(exc).split()) or (type(exc).__name__ if isinstance(exc, BaseException) else "")


def classify_session_error(exc: BaseException) -> SessionFailure:
    """What went wrong while opening the session, in the server's (or the library's) words."""
    if isinstance(exc, SessionFailure):
        return exc
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return SessionFailure(FailureKind.AUTHENTICATION, f"{exc.code} {_words(exc.message)}")
    if isinstance(exc, aiosmtplib.SMTPSenderRefused) and 500 <= exc.code < 600:
        return SessionFailure(
            FailureKind.CONFIGURATION,
            f"the relay refuses the sender {exc.sender}: {exc.code} {_words(exc.message)}",
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return SessionFailure(
            FailureKind.TLS, f"certificate not trusted: {exc.verify_message or _words(exc)}"
        )
    if isinstance(exc, ssl.SSLError):
        if "WRONG_VERSION_NUMBER" in str(exc).upper() or "wrong version number" in str(exc):
            return SessionFailure(
                FailureKind.CONFIGURATION,
                f"the relay does not speak TLS on this port (PEERPATH_SMTP_SECURITY?): {_words(exc)}",
            )
        return SessionFailure(FailureKind.TLS, _words(exc))
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ssl.SSLError):
        return classify_session_error(cause)
    if isinstance(exc, socket.gaierror) or isinstance(cause, socket.gaierror):
        return SessionFailure(
            FailureKind.CONFIGURATION,
            f"unknown host: {_words(cause if isinstance(cause, socket.gaierror) else exc)}",
        )
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return SessionFailure(FailureKind.CONFIGURATION, _words(exc))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return SessionFailure(FailureKind.CONNECTION, f"{exc.code} {_words(exc.message)}")
    if isinstance(exc, aiosmtplib.SMTPException) and any(
        w in str(exc).lower() for w in ("auth", "not supported")
    ):
        return SessionFailure(FailureKind.CONFIGURATION, _words(exc))
    return SessionFailure(FailureKind.CONNECTION, f"{type(exc).__name__}: {_words(exc)}")


class SmtpTransport:
    """One SMTP connection, opened on first use and reopened only after a connection-level failure."""

    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self._client: aiosmtplib.SMTP | None = None
        self.connections = 0  # sessions opened (for tests and benchmarks)

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        s = self.settings
        try:
            context = tls_context(s) if s.security != "none" else None
            sock = None
            hostname = s.host
            if s.tls_server_name and s.security != "none":
                # Connect to the address, check the certificate against the relay's name:
                # aiosmtplib checks against `hostname`, so connect the socket here.
                sock = await asyncio.wait_for(
                    asyncio.to_thread(socket.create_connection, (s.host, s.port), s.timeout), s.timeout
                )
                sock.setblocking(False)
                hostname = s.tls_server_name
            client = aiosmtplib.SMTP(
                hostname=hostname,
                port=None if sock else s.port,
                use_tls=s.security == "tls",
                start_tls=s.security == "starttls",  # False, not None: never upgrade when not asked to
                username=s.username,
                password=s.password.get_secret_value() if s.password else None,
                timeout=s.timeout,
                validate_certs=s.validate_certs,
                tls_context=context,
                sock=sock,
            )
            self.connections += 1
            await client.connect()
        except Exception as exc:  # noqa: BLE001 - every way the session can fail is classified
            raise classify_session_error(exc) from None
        self._client = client
        return client

    async def open(self) -> Outcome | None:
        """Open the session now; a SESSION outcome if it cannot be opened."""
        try:
            await self._connected()
        except SessionFailure as failure:
            await self.close()
            return Outcome(Result.SESSION, failure.detail, failure.kind)
        return None

    async def send(self, message: Message, recipient: str) -> Outcome:
        try:
            client = await self._connected()
        except SessionFailure as failure:
            await self.close()
            return Outcome(Result.SESSION, failure.detail, failure.kind)
        try:
            errors, _ = await client.send_message(
                message, sender=self.settings.from_address, recipients=[recipient]
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            return _classify_codes(
                [r.code for r in exc.recipients], "; ".join(str(r.message) for r in exc.recipients)
            )
        except aiosmtplib.SMTPSenderRefused as exc:
            if 500 <= exc.code < 600:
                refused = classify_session_error(exc)
                return Outcome(Result.SESSION, refused.detail, refused.kind)
            return _classify_codes([exc.code], exc.message)
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code == 421 or not client.is_connected:  # the server is closing the session
                await self.close()
            return _classify_codes([exc.code], exc.message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await self.close()  # connection-level: the next message reconnects
            timed_out = isinstance(exc, TimeoutError)
            return Outcome(Result.RETRY, f"{type(exc).__name__}: {_words(exc)}"[:300], timed_out=timed_out)
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
    return Outcome(
        Result.REFUSED if permanent else Result.RETRY, f"{codes[0]} {' '.join(str(detail).split())}"[:300]
    )

"""A real SMTP server for tests: aiosmtpd on a loopback port, recording and misbehaving on demand.

`RecordingSmtpServer` runs aiosmtpd's `Controller` (a thread with its own event loop) on a free
loopback port and keeps:

- `seen`: every message whose DATA the server received, accepted or not (parsed with `email`);
- `messages`: the messages it accepted (answered 250), in order;
- `deliveries`: a `Counter` of accepted messages by Message-ID (duplicates show as counts > 1).

Failures can be injected, each for a number of times (`None`: until cleared):

- `refuse(address, code)`: refuse a recipient at RCPT TO (550: permanent, 450: temporary);
- `drop_data(times)`: receive the message, then close the connection instead of answering DATA;
- `delay_data(seconds, times)`: answer DATA only after `seconds` (longer than the client's timeout,
  the client gives up; a message whose client has hung up by then is not counted as delivered);
- `stop()` / `start()`: the server goes down and comes back on the same port;
- `refuse_greeting(reply, times)`: answer a new connection with `reply` (e.g. 554) instead of 220,
  and hang up;
- `refuse_auth(times)`: with `auth=True`, answer AUTH with 535 (credentials refused).

TLS: `starttls=CONTEXT` offers STARTTLS with that server context, `implicit_tls=CONTEXT` speaks TLS
from the first byte (see `tests/tls.py` for a test CA and certificates).

Use the `smtp` fixture (function scope; `from tests.smtp_server import smtp_fixture` registers it),
or the class directly for other set-ups.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult

from notifications.sender import SmtpSettings
from notifications.sink import HOST, free_port


@dataclass
class _Fault:
    reply: str
    remaining: int | None  # None: for ever

    def use(self) -> bool:
        if self.remaining is None:
            return True
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True


class _Handler:
    def __init__(self, server: RecordingSmtpServer):
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]  # noqa: N802
        with self.server._lock:
            fault = self.server._refusals.get(address.lower())
            refused = fault is not None and fault.use()
            if refused:
                self.server.refused.append(address)
        if refused:
            assert fault is not None
            return fault.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
        raw = envelope.original_content or envelope.content
        parsed = message_from_bytes(raw, policy=policy.default)
        with self.server._lock:
            self.server.seen.append(parsed)
            drop = self.server._drop is not None and self.server._drop.use()
            delay = (
                self.server._delay_seconds
                if self.server._delay is not None and self.server._delay.use()
                else 0.0
            )
        if drop:
            server.transport.close()  # the client sees the connection go while it waits for the reply
            return "421 connection dropped"  # never reaches the client
        if delay:
            await asyncio.sleep(delay)
            if server.transport is None or server.transport.is_closing():
                return "421 too late"  # the client gave up: not delivered
        with self.server._lock:
            self.server.messages.append(parsed)
            self.server.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.server.deliveries[str(parsed["Message-ID"]).strip()] += 1
        return "250 Message accepted for delivery"


class _FaultySmtp(SMTP):
    """aiosmtpd's SMTP, whose greeting can be refused on demand."""

    def __init__(self, handler: _Handler, **kwargs: object):
        super().__init__(handler, **kwargs)  # type: ignore[arg-type]
        self._recording = handler.server
        self._greeted = False

    async def push(self, status):  # type: ignore[no-untyped-def]
        if not self._greeted:
            self._greeted = True
            with self._recording._lock:
                fault = self._recording._greeting
                refused = fault is not None and fault.use()
                if refused:
                    self._recording.connections_refused += 1
            if refused:
                assert fault is not None
                await super().push(fault.reply)
                if self.transport is not None:
                    self.transport.close()
                return
        await super().push(status)


class _Controller(Controller):
    def factory(self):  # type: ignore[no-untyped-def]
        return _FaultySmtp(self.handler, **self.SMTP_kwargs)


class RecordingSmtpServer:
    """See the module docstring. Not started on construction: call `start()` (the fixture does)."""

    def __init__(
        self,
        port: int | None = None,
        *,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        auth: bool = False,
    ):
        self.host = HOST
        self.port = port or free_port()
        self._lock = threading.Lock()
        self._controller: Controller | None = None
        self._starttls, self._implicit_tls, self._auth = starttls, implicit_tls, auth
        self._refusals: dict[str, _Fault] = {}
        self._drop: _Fault | None = None
        self._delay: _Fault | None = None
        self._greeting: _Fault | None = None
        self._auth_fault: _Fault | None = None
        self.connections_refused = 0
        self.logins: list[str] = []
        self._delay_seconds = 0.0
        self.seen: list[EmailMessage] = []
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.deliveries: Counter[str] = Counter()
        self.refused: list[str] = []

    # Running

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        if self._controller is not None:
            return
        kwargs: dict[str, object] = {}
        if self._starttls is not None:
            kwargs["tls_context"] = self._starttls
        if self._auth:
            kwargs.update(authenticator=self._authenticate, auth_required=True,
                          auth_require_tls=self._starttls is not None or self._implicit_tls is not None)  # fmt: skip
        controller = _Controller(
            _Handler(self), hostname=self.host, port=self.port, ready_timeout=10,
            ssl_context=self._implicit_tls, **kwargs,
        )  # fmt: skip
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def restart(self) -> None:
        self.stop()
        self.start()

    def settings(self, **overrides: object) -> SmtpSettings:
        """Client settings for this server (plain SMTP on loopback)."""
        values: dict[str, object] = {"host": self.host, "port": self.port, "security": "none", "timeout": 5.0}
        values.update(overrides)
        return SmtpSettings(**values)  # type: ignore[arg-type]

    # Faults

    def refuse(self, address: str, code: int = 550, *, times: int | None = None) -> None:
        """Refuse `address` at RCPT TO with `code` (5xx permanent, 4xx temporary)."""
        text = "mailbox unavailable" if code >= 500 else "mailbox busy, try again later"
        enhanced = "5.1.1" if code >= 500 else "4.2.1"
        with self._lock:
            self._refusals[address.lower()] = _Fault(f"{code} {enhanced} <{address}>: {text}", times)

    def drop_data(self, times: int | None = 1) -> None:
        """Close the connection after receiving a message, before answering it."""
        with self._lock:
            self._drop = _Fault("", times)

    def delay_data(self, seconds: float, times: int | None = 1) -> None:
        """Answer DATA only after `seconds`."""
        with self._lock:
            self._delay, self._delay_seconds = _Fault("", times), seconds

    def refuse_greeting(
        self, reply: str = "554 5.3.2 Service not available", times: int | None = None
    ) -> None:
        """Answer new connections with `reply` instead of the 220 greeting, and hang up."""
        with self._lock:
            self._greeting = _Fault(reply, times)

    def refuse_auth(self, times: int | None = None) -> None:
        """Refuse every AUTH (535) while the fault lasts (needs `auth=True`)."""
        with self._lock:
            self._auth_fault = _Fault("", times)

    def _authenticate(self, server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        with self._lock:
            refused = self._auth_fault is not None and self._auth_fault.use()
            if not refused:
                self.logins.append(
                    auth_data.login.decode() if isinstance(auth_data.login, bytes) else str(auth_data.login)
                )
        return AuthResult(success=not refused, handled=False)

    def heal(self) -> None:
        """Clear every injected fault (a stopped server stays stopped)."""
        with self._lock:
            self._refusals.clear()
            self._drop = self._delay = self._greeting = self._auth_fault = None

    # Reading

    def count(self, message_id: str) -> int:
        with self._lock:
            return self.deliveries[message_id]

    def delivered_to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [
                m for m, (_, rcpts) in zip(self.messages, self.envelopes, strict=True) if address in rcpts
            ]

    def by_message_id(self, message_id: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if str(m["Message-ID"]).strip() == message_id]

    def seen_ids(self) -> list[str]:
        with self._lock:
            return [str(m["Message-ID"]).strip() for m in self.seen]


@pytest.fixture(name="smtp")
def smtp_fixture() -> Iterator[RecordingSmtpServer]:
    """A running server; import this name into a test module (or conftest) to use the `smtp` fixture."""
    server = RecordingSmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()

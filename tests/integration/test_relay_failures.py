"""The relay failing as a whole, against real SMTP servers started here (aiosmtpd; TLS with a test
CA and a self-signed certificate; AUTH; a refused greeting), on SQLite and PostgreSQL.

A session that cannot be opened is an outage of the run, never a message's failure: no attempt is
counted, nothing goes dead, one incident is kept however many runs it lasts, and every message is
delivered once when the relay recovers. Each kind of failure is named with the server's words.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from lifecycle.persistence.uow import UnitOfWork
from notifications.dispatch import DispatchResult, RetryPolicy, dispatch
from notifications.models import MailIncident, OutboxStatus
from notifications.sink import free_port
from tests.integration.test_dispatch import (
    FROM,
    SEED,
    Clock,
    add_message,
    escalations,
    rows,
    world_fixture,  # noqa: F401 - registers the `world` fixture
)
from tests.smtp_server import RecordingSmtpServer, smtp_fixture  # noqa: F401 - registers `smtp`
from tests.tls import Pem, make_test_ca, self_signed

RELAY = "relay.peerpath.test"
SMTP_FIELDS = {"host", "security", "username", "password", "ca_file", "tls_server_name", "validate_certs"}


def run(uow: UnitOfWork, server: RecordingSmtpServer, clock: Clock, **options: object) -> DispatchResult:
    """One dispatch: SMTP settings (`security=`, `ca_file=`...) and dispatcher options apart."""
    smtp = server.settings(from_address=FROM, **{k: v for k, v in options.items() if k in SMTP_FIELDS})
    rest = {k: v for k, v in options.items() if k not in SMTP_FIELDS}
    return asyncio.run(dispatch(uow, smtp, now=clock, rng=random.Random(SEED), **rest))  # type: ignore[arg-type]


def incidents(uow: UnitOfWork) -> list[MailIncident]:
    with uow:
        found = list(uow.session.scalars(select(MailIncident).order_by(MailIncident.id)))
        uow.session.expunge_all()
        return found


def queue(uow: UnitOfWork, world: dict[str, int], n: int) -> dict[int, str]:
    return dict(add_message(uow, world, to=(f"Person{i}", f"person{i}@example.com")) for i in range(n))


def started(server: RecordingSmtpServer, request: pytest.FixtureRequest) -> RecordingSmtpServer:
    server.start()
    request.addfinalizer(server.stop)
    return server


def assert_outage_then_recovery(
    uow: UnitOfWork, server: RecordingSmtpServer, ids: dict[int, str], kind: str, words: str, runs: int,
    **settings: object,
) -> None:  # fmt: skip
    """`runs` dispatches fail as `kind` (one incident, no attempt counted, nothing dead), then the
    fault is cleared: everything is delivered once and the incident is closed."""
    clock = Clock()
    for n in range(1, runs + 1):
        result = run(uow, server, clock, **settings)
        assert (result.sent, result.retried, result.dead) == (0, 0, 0), n
        assert list(result.failures) == [kind], result.failures
        assert words in result.failures[kind].detail, result.failures[kind].detail
        assert result.nothing_sent and result.outage and kind in result.outage
        assert {(r.status, r.attempts) for r in rows(uow)} == {(OutboxStatus.PENDING, 0)}
        (incident,) = incidents(uow)
        assert incident.kind == kind and incident.failed_runs == n and incident.closed_at is None
        clock.advance(minutes=20)  # past the incident's back-off (at most 15 minutes)
    assert escalations(uow) == []
    server.heal()
    result = run(uow, server, clock, **settings)
    assert (result.sent, result.retried, result.dead) == (len(ids), 0, 0)
    assert server.deliveries == Counter({mid: 1 for mid in ids.values()})
    (incident,) = incidents(uow)
    assert incident.closed_at is not None
    assert escalations(uow) == [] and {r.status for r in rows(uow)} == {OutboxStatus.SENT}


def test_a_554_greeting_for_several_runs_is_an_outage_then_all_are_delivered_once(
    uow: UnitOfWork, world: dict[str, int], smtp: RecordingSmtpServer
) -> None:
    ids = queue(uow, world, 30)
    smtp.refuse_greeting("554 5.3.2 Service not available, closing channel")
    assert_outage_then_recovery(uow, smtp, ids, "connection", "554 5.3.2 Service not available", runs=4)
    # The relay was asked once per worker per run, not once per message.
    assert smtp.connections_refused <= 4 * 4


def test_a_535_authentication_for_several_runs_is_an_outage_then_all_are_delivered_once(
    uow: UnitOfWork, world: dict[str, int], request: pytest.FixtureRequest
) -> None:
    server = started(RecordingSmtpServer(auth=True), request)
    ids = queue(uow, world, 30)
    server.refuse_auth()
    assert_outage_then_recovery(
        uow, server, ids, "authentication", "535", runs=4, username="peerpath", password="secret"
    )
    assert set(server.logins) == {"peerpath"}


def test_connection_refused_unknown_host_and_tls_on_a_plain_port_are_each_named(
    uow: UnitOfWork, world: dict[str, int], smtp: RecordingSmtpServer
) -> None:
    queue(uow, world, 3)
    closed = RecordingSmtpServer(free_port())  # never started: nothing listens
    down = run(uow, closed, Clock())
    assert (
        list(down.failures) == ["connection"] and "Connect call failed" in down.failures["connection"].detail
    )

    for clock_minutes, server, settings, kind, words in (
        (30, smtp, {"host": "no-such-relay.invalid"}, "configuration", "unknown host"),
        (60, smtp, {"security": "tls"}, "configuration", "does not speak TLS on this port"),
        (90, smtp, {"security": "starttls"}, "configuration", "STARTTLS"),
    ):
        clock = Clock()
        clock.advance(minutes=clock_minutes)
        result = run(uow, server, clock, **settings)
        assert list(result.failures) == [kind], (settings, result.failures)
        assert words in result.failures[kind].detail, result.failures[kind].detail
        assert (result.sent, result.dead) == (0, 0)
    assert {(r.status, r.attempts) for r in rows(uow)} == {(OutboxStatus.PENDING, 0)}
    assert len(incidents(uow)) == 1  # one outage, whatever it turned out to be on the way


@pytest.fixture
def certificates(tmp_path: Path) -> tuple[Path, Pem, Pem]:
    ca, relay = make_test_ca(tmp_path, [RELAY, "localhost"])
    return ca, relay, self_signed(tmp_path, [RELAY])


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_with_a_test_ca_checked_against_the_relay_name_when_connecting_by_address(
    uow: UnitOfWork, world: dict[str, int], request: pytest.FixtureRequest,
    certificates: tuple[Path, Pem, Pem], security: str,
) -> None:  # fmt: skip
    ca, relay, _ = certificates
    context = relay.server_context()
    server = started(
        RecordingSmtpServer(
            **({"starttls": context} if security == "starttls" else {"implicit_tls": context})
        ),
        request,
    )
    ids = queue(uow, world, 2)
    clock = Clock()

    untrusted = run(uow, server, clock, security=security)  # the system's CAs do not know ours
    assert list(untrusted.failures) == ["TLS"] and "certificate" in untrusted.failures["TLS"].detail
    clock.advance(minutes=20)
    by_address = run(uow, server, clock, security=security, ca_file=ca)  # 127.0.0.1 is not on it
    assert list(by_address.failures) == ["TLS"] and "IP address mismatch" in by_address.failures["TLS"].detail
    clock.advance(minutes=20)
    missing = run(uow, server, clock, security=security, ca_file=ca.parent / "nowhere.pem")
    assert (
        list(missing.failures) == ["configuration"]
        and "is not a file" in missing.failures["configuration"].detail
    )
    clock.advance(minutes=20)
    result = run(uow, server, clock, security=security, ca_file=ca, tls_server_name=RELAY)
    assert result.sent == 2 and result.failures == {}
    assert server.deliveries == Counter({mid: 1 for mid in ids.values()})


def test_a_self_signed_relay_trusted_by_its_own_certificate_or_with_checks_off(
    uow: UnitOfWork,
    world: dict[str, int],
    request: pytest.FixtureRequest,
    certificates: tuple[Path, Pem, Pem],
) -> None:
    _, _, own = certificates
    server = started(RecordingSmtpServer(starttls=own.server_context()), request)
    clock = Clock()
    queue(uow, world, 1)
    refused = run(uow, server, clock, security="starttls", tls_server_name=RELAY)
    assert "self-signed certificate" in refused.failures["TLS"].detail
    clock.advance(minutes=20)
    assert run(uow, server, clock, security="starttls", ca_file=own.cert, tls_server_name=RELAY).sent == 1
    add_message(uow, world)
    assert run(uow, server, clock, security="starttls", validate_certs=False).sent == 1


def test_a_per_recipient_refusal_stays_permanent_while_the_session_is_fine(
    uow: UnitOfWork, world: dict[str, int], smtp: RecordingSmtpServer
) -> None:
    queue(uow, world, 3)
    smtp.refuse("person1@example.com", 550)
    result = run(uow, smtp, Clock(), concurrency=1)
    assert (result.sent, result.dead) == (2 + 1, 1)  # two, and the dead letter to the coordinator
    assert list(result.failures) == ["refused"] and incidents(uow) == []


def test_one_connection_serves_the_batch_and_is_reopened_only_after_a_connection_failure(
    uow: UnitOfWork, world: dict[str, int], smtp: RecordingSmtpServer
) -> None:
    from notifications.sender import SmtpTransport

    made: list[SmtpTransport] = []

    def transport() -> SmtpTransport:
        made.append(SmtpTransport(smtp.settings(from_address="noreply@peerpath.example.org")))
        return made[-1]

    queue(uow, world, 6)
    smtp.refuse("person2@example.com", 450)  # a 4xx for one recipient: the session goes on
    assert run(uow, smtp, Clock(), concurrency=1, transport=transport).sent == 5
    assert [t.connections for t in made] == [1]
    smtp.heal()
    smtp.drop_data(times=1)  # a dropped connection mid-message: reconnect once, for the next one
    for i in range(6, 9):
        add_message(uow, world, to=(f"Person{i}", f"person{i}@example.com"))
    made.clear()
    result = run(uow, smtp, Clock(), concurrency=1, transport=transport)
    assert result.sent == 2 and result.retried == 1 and [t.connections for t in made] == [2]


def test_retry_policy_horizon_not_attempts() -> None:
    policy = RetryPolicy()
    from datetime import UTC, datetime

    start = datetime(2026, 3, 10, tzinfo=UTC)
    assert not policy.gives_up(start, start + timedelta(hours=71, minutes=59), attempts=500)
    assert policy.gives_up(start, start + timedelta(hours=72), attempts=1)
    assert policy.outage_delay(50) == timedelta(minutes=15) and policy.outage_delay(1) == timedelta(
        seconds=30
    )

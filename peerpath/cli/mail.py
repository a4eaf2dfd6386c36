"""Email: the outbox, calendar bookings, the development mail sink."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from peerpath.cli._utilities import context, fail, optional_date, print_json, table


def outbox_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="pending, sending, sent or dead")] = None,
    limit: Annotated[int, typer.Option(help="at most this many, newest first")] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List outbox messages (newest first)."""
    if ctx.invoked_subcommand is not None:
        return
    from notifications.outbox import list_outbox, parse_status

    wanted = parse_status(status) if status else None
    uow = context().uow()
    with uow:
        rows = list_outbox(uow.session, status=wanted, limit=limit, visible_to=context().actor.scope)
    if as_json:
        return print_json(rows)
    table(f"Outbox ({len(rows)} shown)", ["id", "status", "template", "to", "journey", "attempts", "next attempt", "error"],
           [[r["id"], r["status"], r["template"], f"{r['recipient_role']}: {r['recipient_email']}", r["journey"],
             r["attempts"], r["next_attempt_at"] if r["status"] == "pending" else "", r["last_error"]] for r in rows])  # fmt: skip


def outbox_send(
    limit: Annotated[int | None, typer.Option(help="send at most this many")] = None,
    to_sink: Annotated[
        Path | None, typer.Option(help="start a local mail sink writing .eml files here and send to it")
    ] = None,
) -> None:
    """Send every due message through SMTP (retries wait their back-off)."""
    from peerpath import app as root

    settings = context().settings
    context().actor.require_programme("send the outbox")
    if to_sink is not None:
        from notifications.sender import SmtpSettings
        from notifications.sink import running_sink

        with running_sink(to_sink) as (host, port):
            smtp = SmtpSettings(host=host, port=port, security="none", from_address=settings.mail_from)
            result = root.run_dispatch(settings, limit=limit, smtp=smtp)
        where = f" into {to_sink}/ (one .eml file per message)"
    else:
        result = root.run_dispatch(settings, limit=limit)
        where = ""
    report_dispatch(result, where)


def report_dispatch(result: Any, where: str = "") -> None:
    """One line of counts; one line per kind of failure with its count and the server's words; the
    outage, if any. Exit 1 when something was due and nothing could be sent."""
    typer.echo(f"sent {result.sent}, retrying later {result.retried}, given up {result.dead}{where}")
    for kind, failure in result.failures.items():
        typer.echo(f"  {kind}: {failure.count} × {failure.detail}", err=True)
    if result.outage:
        typer.echo(f"  {result.outage}", err=True)
    if result.discarded:
        typer.echo(
            f"  {result.discarded} late outcomes from a claim that had lost its lease: discarded", err=True
        )
    for error in result.errors:
        typer.echo(f"  gave up: {error}", err=True)
    if result.nothing_sent:
        typer.echo("error: nothing could be sent; the messages stay queued", err=True)
        raise typer.Exit(1)


def outbox_retry(
    message_id: Annotated[int | None, typer.Argument(help="outbox message id")] = None,
    all_dead: Annotated[
        bool, typer.Option("--all-dead", help="every dead message (after an outage)")
    ] = False,
    since: Annotated[
        str | None, typer.Option(help="with --all-dead: only those given up since this date")
    ] = None,
) -> None:
    """Send a dead or waiting message again at the next dispatch (or, with --all-dead, every dead one)."""
    from notifications.outbox import retry_all_dead, retry_now

    ctx = context()
    if all_dead == (message_id is not None):
        fail("give a message id or --all-dead (not both)")
    if since is not None and not all_dead:
        fail("--since goes with --all-dead")
    if message_id is not None:
        typer.echo(f"message {message_id}: {retry_now(ctx.uow(), message_id, scope=ctx.actor.scope)}")
        return
    start = None
    if since is not None:
        from datetime import UTC, time

        start = datetime.combine(optional_date(since, "--since"), time(0), tzinfo=UTC)  # type: ignore[arg-type]
    count = retry_all_dead(ctx.uow(), since=start, scope=ctx.actor.scope)
    typer.echo(f"{count} dead messages queued for the next dispatch")


def book_cmd(
    journey: str,
    kind: Annotated[str, typer.Argument(help="interview, review or supervision")],
    at: Annotated[
        str, typer.Option("--at", help="start, e.g. 2026-12-03T10:00 (UK time unless an offset is given)")
    ],
    minutes: Annotated[int, typer.Option(help="length in minutes")] = 60,
    location: Annotated[str | None, typer.Option(help="where (or a video link)")] = None,
    name: Annotated[
        str | None, typer.Option(help="review name (first, second, final) or supervision kind")
    ] = None,
) -> None:
    """Book a session and send calendar invitations; booking again updates the same calendar entry."""
    from lifecycle.clock import LONDON
    from notifications.booking import book

    try:
        starts_at = datetime.fromisoformat(at.strip())
    except ValueError:
        fail(f"start {at!r} is not a date and time (use YYYY-MM-DDTHH:MM)")
    if starts_at.tzinfo is None:
        starts_at = starts_at.replace(tzinfo=LONDON)
    from notifications.outbox import message_domain

    ctx = context()
    sequence = book(
        ctx.uow(),
        ctx.actor,
        journey,
        kind,  # type: ignore[arg-type]  # book() checks the kind and refuses an unknown one
        starts_at,
        minutes=minutes,
        location=location,
        name=name,
        domain=message_domain(ctx.settings.mail_from),
    )
    typer.echo(
        f"{journey.upper()}: {kind} booked for {starts_at:%Y-%m-%d %H:%M}"
        + (" (update sent)" if sequence else "")
    )


def cancel_booking_cmd(
    journey: str,
    kind: Annotated[str, typer.Argument(help="interview, review or supervision")],
    name: Annotated[
        str | None, typer.Option(help="review name (first, second, final) or supervision kind")
    ] = None,
) -> None:
    """Cancel a booked session: everyone invited gets a cancellation of the same calendar entry."""
    from notifications.booking import cancel

    ctx = context()
    what = cancel(ctx.uow(), ctx.actor, journey, kind, name=name)  # type: ignore[arg-type]
    typer.echo(f"{journey.upper()}: {what} cancelled (cancellation sent)")


def mail_sink(
    port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = 8025,
    directory: Annotated[Path, typer.Option("--dir", help="where to store .eml files")] = Path("var/mail"),
) -> None:
    """A development SMTP server on 127.0.0.1 that stores every message as an .eml file."""
    import time

    from notifications.sink import running_sink

    with running_sink(directory, port) as (host, bound):
        typer.echo(f"mail sink on {host}:{bound}, writing to {directory}/ (Ctrl-C stops it)")
        typer.echo(f"use: PEERPATH_SMTP_HOST={host} PEERPATH_SMTP_PORT={bound} PEERPATH_SMTP_SECURITY=none")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            typer.echo("mail sink stopped")

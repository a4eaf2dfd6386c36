"""Outbox dispatch: N emails to a loopback SMTP server (aiosmtpd, in its own process, counting).

    python -m benchmarks.dispatch --messages N [--concurrency C]

The outbox is filled by a real sweep (a full evaluation of a synthetic population: rendered
templates, real recipients), then, on two identical copies:

- ours: `notifications.dispatch.dispatch` as `peerpath outbox send` runs it (claims in batches,
  renders and builds each message, reused SMTP connections, `--concurrency` senders, records
  the outcomes);
- one per message: the same dispatcher with a transport that opens one connection per message
  (`aiosmtplib.send`) and one sender at a time, so only the SMTP side differs.

The server counts what it accepted; the figures stand only if it got exactly N from each.
Prints one JSON line: ours_per_s and one_per_message_per_s (emails per second), and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time

from benchmarks.common import DEFAULT_SEED, bench_database, emit, sweep_clock, sweep_inputs
from benchmarks.population import AS_OF

HOST = "127.0.0.1"


def _serve(port: int, count, ready, stop) -> None:  # type: ignore[no-untyped-def]
    """The SMTP server process: accepts everything, keeps nothing but a count."""
    from aiosmtpd.controller import Controller

    class Counting:
        async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]  # noqa: N802
            with count.get_lock():
                count.value += 1
            return "250 Message accepted for delivery"

    controller = Controller(Counting(), hostname=HOST, port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


class OneConnectionPerMessage:
    """A dispatcher transport that connects, sends and quits for every message (aiosmtplib.send)."""

    def __init__(self, host: str, port: int, sender: str):
        self.host, self.port, self.sender = host, port, sender

    async def send(self, message, recipient: str):  # type: ignore[no-untyped-def]
        import aiosmtplib

        from notifications.sender import Outcome, Result

        try:
            errors, _ = await aiosmtplib.send(
                message, sender=self.sender, recipients=[recipient], hostname=self.host, port=self.port,
                use_tls=False, start_tls=False,
            )  # fmt: skip
        except (aiosmtplib.SMTPException, OSError) as exc:
            return Outcome(Result.RETRY, str(exc)[:300])
        return Outcome(Result.RETRY, "refused") if recipient in errors else Outcome(Result.SENT)

    async def close(self) -> None:
        return None


def fill_outbox(url: str) -> None:
    from rules.sweep import sweep

    uow, ruleset, sink = sweep_inputs(url)
    with sweep_clock(AS_OF):
        sweep(uow, ruleset, AS_OF, sink=sink)
    uow.engine.dispose()


def pending(url: str) -> int:
    from sqlalchemy import func, select

    from lifecycle.persistence.database import make_engine
    from notifications.models import OutboxMessage, OutboxStatus

    engine = make_engine(url)
    with engine.connect() as conn:
        found = conn.execute(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.PENDING)
        ).scalar_one()
    engine.dispose()
    return int(found)


def send(url: str, port: int, messages: int, *, per_message: bool, concurrency: int) -> tuple[float, int]:
    from lifecycle.pathways import builtin_registry
    from lifecycle.persistence.database import make_engine
    from lifecycle.persistence.uow import UnitOfWork
    from notifications.dispatch import dispatch
    from notifications.sender import SmtpSettings

    smtp = SmtpSettings(host=HOST, port=port, security="none", from_address="peerpath@bench.example.org")
    uow = UnitOfWork(make_engine(url), builtin_registry())
    transport = (lambda: OneConnectionPerMessage(HOST, port, smtp.from_address)) if per_message else None
    started = time.perf_counter()
    result = asyncio.run(
        dispatch(
            uow, smtp, limit=messages, concurrency=1 if per_message else concurrency, transport=transport
        )
    )
    seconds = time.perf_counter() - started
    uow.engine.dispose()
    if result.errors:
        raise SystemExit(f"dispatch reported errors: {result.errors[:3]}")
    return seconds, result.sent


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=2000)
    p.add_argument(
        "--concurrency", type=int, default=4, help="ours: concurrent SMTP connections (the default setting)"
    )
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = p.parse_args(argv)

    from notifications.sink import free_port

    port = free_port()
    context = multiprocessing.get_context("spawn")
    count, ready, stop = context.Value("i", 0), context.Event(), context.Event()
    server = context.Process(target=_serve, args=(port, count, ready, stop), daemon=True)
    server.start()
    try:
        if not ready.wait(30):
            raise SystemExit("the SMTP server did not start")
        journeys = max(1000, args.messages)  # about four messages per journey: always more than enough
        figures: dict[str, tuple[float, int, int]] = {}
        for name, per_message in (("ours", False), ("one_per_message", True)):
            with bench_database(journeys, seed=args.seed) as db:
                fill_outbox(db.url)
                queued = pending(db.url)
                if queued < args.messages:
                    raise SystemExit(f"only {queued} messages queued for {args.messages}: use fewer")
                before = count.value
                seconds, sent = send(
                    db.url, port, args.messages, per_message=per_message, concurrency=args.concurrency
                )
                figures[name] = (seconds, sent, count.value - before)
    finally:
        stop.set()
        server.join(10)
    ours, single = figures["ours"], figures["one_per_message"]
    emit({
        "messages": args.messages,
        "ours_per_s": round(ours[1] / ours[0], 1), "one_per_message_per_s": round(single[1] / single[0], 1),
        "ratio": round((ours[1] / ours[0]) / (single[1] / single[0]), 2),
        "ours_seconds": round(ours[0], 3), "one_per_message_seconds": round(single[0], 3),
        "concurrency": args.concurrency, "database": "sqlite",
        "all_received": ours[1] == ours[2] == single[1] == single[2] == args.messages,
    })  # fmt: skip


if __name__ == "__main__":
    main()

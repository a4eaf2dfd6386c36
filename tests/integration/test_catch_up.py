"""Honest catch-up: the first sweep after importing a programme with two years of history.

Every due date in the history has passed; the first sweep must phrase each overdue step as
overdue ("was due on ..."), never ask for something "by" a date already past, send each person at
most one message per journey and subject, and still open every escalation that is due.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, timedelta

from sqlalchemy import func, select

from lifecycle import service
from lifecycle.pathways import builtin_registry
from lifecycle.persistence.models import Journey
from lifecycle.persistence.uow import UnitOfWork
from notifications.context import MessageContext
from notifications.models import OutboxMessage
from notifications.outbox import enqueue_planned
from notifications.render import render, template_names
from peerpath.demo import load_demo
from rules.persistence import Escalation, RuleAction
from rules.ruleset import load_rules, rule_paths
from rules.sweep import sweep

REG = builtin_registry()
RULESET = load_rules(rule_paths(None), templates=template_names(), pathways=REG)
FIRST_SWEEP = date(2026, 12, 3)  # go-live: the first night peerpath runs
HISTORY_ENDS = FIRST_SWEEP - timedelta(days=365)  # the imported history runs up to a year before
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
ASKED = re.compile(
    r"\b(by|before|is due on|ends on|is due to start on),? "
    r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday) (\d{1,2}) ([A-Z][a-z]+) (\d{4})"
)


def sink(session, planned, now):  # type: ignore[no-untyped-def]
    enqueue_planned(session, planned, now, REG)


def test_the_first_sweep_after_an_import_never_asks_for_the_past(uow: UnitOfWork) -> None:
    assert load_demo(uow, service.Actor("import"), today=HISTORY_ENDS).loaded
    with uow:
        first_applied = uow.session.scalar(select(func.min(Journey.applied_on)))
    assert first_applied is not None and (FIRST_SWEEP - first_applied).days > 600, "two years of history"

    result = sweep(uow, RULESET, FIRST_SWEEP, sink=sink)
    assert result.actions > 100

    with uow:
        messages = uow.session.execute(
            select(OutboxMessage.template, OutboxMessage.context, OutboxMessage.idempotency_key,
                   OutboxMessage.recipient_email, OutboxMessage.recipient_role)
        ).all()  # fmt: skip
        ledger = uow.session.execute(
            select(RuleAction.journey_id, RuleAction.rule, RuleAction.subject, RuleAction.step,
                   RuleAction.action, RuleAction.role)
        ).all()  # fmt: skip
        opened = uow.session.scalar(select(func.count()).select_from(Escalation))
    assert messages
    past: list[str] = []
    overdue = 0
    for template, data, _key, _email, _role in messages:
        context = MessageContext(**data)
        overdue += context.overdue
        rendered = render(template, context)
        for text in (rendered.subject, rendered.text, rendered.html):
            for word, day, month, year in ASKED.findall(text):
                asked_for = date(int(year), MONTHS.index(month) + 1, int(day))
                if asked_for < FIRST_SWEEP:
                    past.append(f"{template}: {word} {day} {month} {year}")
    assert not past, f"{len(past)} messages ask for a past date, e.g. {sorted(set(past))[:5]}"
    assert overdue > 0, "the history has overdue steps: they must be phrased as overdue"

    # one message per person, journey, rule and subject ...
    keys = [key.split("|") for _, _, key, _, _ in messages]
    per_matter = Counter(
        (*k[:3], email.lower()) for k, (_, _, _, email, _) in zip(keys, messages, strict=True)
    )
    assert max(per_matter.values()) == 1
    assert len(messages) < len(ledger), "several steps fell due at once: only the latest is sent"
    # ... the latest step of its ladder for that recipient ...
    steps: dict[tuple[str, str, str, str], int] = {}
    for jid, rule, subject, step, _action, role in ledger:
        k = (str(jid), rule, subject, role)
        steps[k] = max(steps.get(k, -1), step)
    for k, (_, _, _, _, role) in zip(keys, messages, strict=True):
        assert int(k[4]) == steps[(k[0], k[1], k[2], role)], f"an earlier step was sent: {k}"
    # ... while every escalation due is still opened
    assert opened == sum(1 for r in ledger if r.action == "escalate") > 0

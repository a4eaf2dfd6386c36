"""An override may carry its own `reason`: emails sent under it explain its schedule, not the
default's. Real sweep, real outbox rows, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import select

from lifecycle import service
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.states import State
from notifications.context import MessageContext
from notifications.models import OutboxMessage
from notifications.outbox import enqueue_planned
from notifications.render import render, template_names
from rules.ruleset import load_rules, rule_paths
from rules.sweep import sweep
from tests.factories import journey_in, programme

OWN_REASON = "North Midlands chases shortlisting on working day 3, HR on day 6."
OVERRIDE = f"""
overrides:
  - rule: shortlisting-delay
    organisation: NMH
    reason: {OWN_REASON}
    steps:
      - {{day: 3, action: remind, to: coordinator, template: shortlisting-due}}
      - {{day: 6, action: escalate, to: employer_hr, template: shortlisting-overdue}}
"""


def test_an_overrides_own_reason_is_in_its_emails(uow: UnitOfWork, tmp_path: Path) -> None:
    (tmp_path / "nmh.yaml").write_text(OVERRIDE, encoding="utf-8")
    ruleset = load_rules(rule_paths(tmp_path), templates=template_names(), pathways=uow.pathways)
    default = next(r for r in ruleset.rules if r.name == "shortlisting-delay")
    programme(uow)
    service.add_contact(uow, "NMH", "coordinator", "Casey Coordinator", "casey@nmh.example.org")
    service.add_contact(uow, "MIND-N", "coordinator", "Morgan Coordinator", "morgan@mind-n.example.org")
    nmh = journey_in(uow, State.APPLIED, 1, employer="NMH")  # applied Monday 2 March 2026
    journey_in(uow, State.APPLIED, 2, employer="MIND-N")
    # Day 5 for MIND-N (the default schedule), day 3 and later for NMH (the override's).
    sweep(
        uow,
        ruleset,
        date(2026, 3, 9),
        sink=lambda s, planned, now: enqueue_planned(s, planned, now, uow.pathways),
    )

    with uow:
        chased = [m for m in uow.session.scalars(select(OutboxMessage)) if m.template == "shortlisting-due"]
        by_journey = {str(m.context["journey_ref"]): m for m in chased}
        assert set(by_journey) == {nmh, "J-000002"}
        own = by_journey[nmh]
        assert own.context["reason"] == OWN_REASON
        assert by_journey["J-000002"].context["reason"] == default.reason  # the default, elsewhere
        email = render(own.template, MessageContext.model_validate(own.context))
    assert f"Why you are getting this: {OWN_REASON}" in email.text
    assert default.reason not in email.text

"""The weekly partner digest: one organisation's people, what is overdue, its open escalations.
Only journeys the organisation employs or hosts; nothing about anyone else."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from lifecycle.persistence.models import Journey, Organisation
from lifecycle.persistence.queries import journeys_visible_to
from lifecycle.states import CLOSED, State
from rules.persistence import Escalation


@dataclass
class Digest:
    organisation: str
    name: str
    as_of: date
    by_state: Counter[str] = field(default_factory=Counter)
    open_escalations: list[dict[str, object]] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"# {self.name} ({self.organisation}): weekly digest, {self.as_of:%d %B %Y}", ""]
        lines += ["## People", "", "| state | journeys |", "|---|---|"]
        lines += [f"| {s.replace('_', ' ')} | {n} |" for s, n in sorted(self.by_state.items())] or [
            "| (none) | 0 |"
        ]
        lines += ["", f"## Open escalations ({len(self.open_escalations)})", ""]
        if self.open_escalations:
            lines += [
                "| journey | rule | about | to | open since | working days |",
                "|---|---|---|---|---|---|",
            ]
            lines += [
                f"| {e['journey']} | {e['rule']} | {e['subject']} | {e['role']} | {e['opened_on']} | {e['days_open']} |"
                for e in self.open_escalations
            ]
        else:
            lines.append("Nothing is overdue.")
        return "\n".join(lines) + "\n"


def organisation_digest(session: Session, code: str, as_of: date) -> Digest:
    from rules.calendar import WorkingCalendar

    org = session.scalars(select(Organisation).where(Organisation.code == code)).one()
    digest = Digest(org.code, org.name, as_of)
    stmt = select(Journey.id, Journey.state).where(Journey.id.in_(journeys_visible_to(org.code)))
    ids = []
    for jid, state in session.execute(stmt):
        if State(state) not in CLOSED:
            digest.by_state[State(state).value] += 1
        ids.append(jid)
    calendar = WorkingCalendar()
    for esc in session.scalars(
        select(Escalation)
        .where(Escalation.journey_id.in_(ids), Escalation.resolved_on.is_(None))
        .order_by(Escalation.opened_on)
    ):
        digest.open_escalations.append(
            {"journey": f"J-{esc.journey_id:06d}", "rule": esc.rule, "subject": esc.subject, "role": esc.role,
             "opened_on": esc.opened_on, "days_open": calendar.working_days_between(esc.opened_on, as_of)}
        )  # fmt: skip
    return digest


def organisation_codes(session: Session) -> list[str]:
    return list(session.scalars(select(Organisation.code).order_by(Organisation.code)))

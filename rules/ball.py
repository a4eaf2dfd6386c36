"""Ball-in-court clocks: working days each party has held the ball, from the event log.

While checks run in parallel, each waiting party's clock runs at once (so the figures can add up
to more than the elapsed time). Paused time counts for nobody. Pure: events in, days out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from lifecycle.states import CheckStatus, Party, State
from rules.calendar import WorkingCalendar

# Who a journey waits on in each state (besides waiting checks). Employed states wait on nobody.
STATE_HOLDER: dict[State, Party | None] = {
    State.APPLIED: Party.COORDINATOR,
    State.SHORTLISTED: Party.COORDINATOR,
    State.INTERVIEW_SCHEDULED: Party.COORDINATOR,
    State.INTERVIEWED: Party.COORDINATOR,
    State.OFFERED: Party.CANDIDATE,
    State.CLEARED: Party.EMPLOYER_HR,
}


@dataclass(frozen=True)
class EventFact:
    day: date
    to_state: State | None = None  # a state change
    check: str | None = None  # a check event
    status: str | None = None
    waiting_on: str | None = None


@dataclass
class Holders:
    """Who holds the ball: the state's holder, or while checks run, whoever each check waits on."""

    state: State | None = None
    waiting: dict[str, Party] = field(default_factory=dict)

    def parties(self) -> set[Party]:
        if self.state is None or self.state is State.PAUSED:
            return set()
        if self.state is State.CHECKS:
            return set(self.waiting.values()) or {Party.COORDINATOR}
        holder = STATE_HOLDER.get(self.state)
        return {holder} if holder else set()

    def apply(self, event: EventFact) -> None:
        if event.to_state is not None:
            self.state = event.to_state
        if event.check:
            if event.status == CheckStatus.WAITING.value and event.waiting_on:
                self.waiting[event.check] = Party(event.waiting_on)
            else:
                self.waiting.pop(event.check, None)


def ball_in_court(events: Iterable[EventFact], as_of: date, calendar: WorkingCalendar) -> dict[Party, int]:
    """Working days per party, from the first event to `as_of`, excluding paused time."""
    days: Counter[Party] = Counter()
    holders = Holders()
    last: date | None = None
    for event in sorted(events, key=lambda e: e.day):
        if last is not None:
            for party in holders.parties():
                days[party] += calendar.working_days_between(last, min(event.day, as_of))
        holders.apply(event)
        last = event.day
    if last is not None and as_of > last:
        for party in holders.parties():
            days[party] += calendar.working_days_between(last, as_of)
    return {p: n for p, n in days.items() if n}


def event_facts(events: Iterable[object]) -> list[EventFact]:
    """From stored events (anything with occurred_at, to_state, kind and detail)."""
    from lifecycle.clock import london_date

    facts = []
    for e in events:
        detail = getattr(e, "detail", None) or {}
        is_check = getattr(e, "kind", None) == "check"
        # A check recorded with a past date (`--on`) took effect that day, not when it was typed in.
        day = (
            date.fromisoformat(detail["on"]) if is_check and detail.get("on") else london_date(e.occurred_at)  # type: ignore[attr-defined]
        )
        facts.append(
            EventFact(
                day=day,
                to_state=getattr(e, "to_state", None),
                check=detail.get("check") if is_check else None,
                status=detail.get("status") if is_check else None,
                waiting_on=detail.get("waiting_on") if is_check else None,
            )
        )
    return facts

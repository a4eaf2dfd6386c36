"""Special-category data and free-text reasons, retention and erasure: the only code that reads or
removes them.

Purges and erasures are recorded in the event log with what was removed and why, never the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import delete, func, select, update

from lifecycle.clock import london_date, utc_now
from lifecycle.errors import InvalidInput, NotFound, NotPermitted
from lifecycle.pathways import add_months
from lifecycle.persistence.models import (
    Candidate,
    Event,
    FreeTextReason,
    Journey,
    Organisation,
    SpecialCategoryKind,
    SpecialCategoryRecord,
)
from lifecycle.persistence.uow import UnitOfWork, parse_ref
from lifecycle.states import CLOSED, EMPLOYED, State
from lifecycle.validation import clean_note, clean_text

# The transitions that are a recruitment decision: hired, or not.
DECISIONS = ("clear", "reject", "withdraw_offer", "withdraw")
UNSUCCESSFUL = (State.NOT_APPOINTED, State.WITHDRAWN, State.OFFER_WITHDRAWN)
ERASED_NAME = "(erased)"
SYSTEM = "retention"


def record_special_category(
    uow: UnitOfWork,
    actor,
    ref: str,
    kind: SpecialCategoryKind | str,
    content: str,
    *,
    at: datetime | None = None,
) -> None:  # type: ignore[no-untyped-def]
    """Keep a special-category note for the employing organisation. The event says only that one was kept."""
    try:
        kind = SpecialCategoryKind(str(kind).strip().lower())
    except ValueError:
        known = ", ".join(k.value for k in SpecialCategoryKind)
        raise InvalidInput(f"unknown special-category kind {kind!r} (known: {known})") from None
    text = clean_note(content, "special-category note")
    at = at or utc_now()
    with uow:
        journey = uow.journey(ref, actor.scope)
        if actor.scope is not None and actor.scope != journey.employer.code:
            raise NotPermitted(
                f"only the employing organisation ({journey.employer.code}) keeps special-category notes"
            )
        uow.add(
            SpecialCategoryRecord(
                journey_id=journey.id,
                kind=kind,
                content=text,
                recorded_on=london_date(at),
                recorded_by=actor.name,
            )
        )
        uow.record_event(
            journey, actor=actor.name, at=at, kind="special_category", detail={"kept": kind.value}
        )
        uow.commit()


def read_special_category(uow: UnitOfWork, actor, ref: str) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    """For the employing organisation (or the programme lead) only."""
    with uow:
        journey = uow.journey(ref, actor.scope)
        if actor.scope is not None and actor.scope != journey.employer.code:
            raise NotPermitted(
                f"only the employing organisation ({journey.employer.code}) reads special-category notes"
            )
        rows = uow.session.scalars(
            select(SpecialCategoryRecord)
            .where(SpecialCategoryRecord.journey_id == journey.id)
            .order_by(SpecialCategoryRecord.id)
        )
        return [
            {
                "kind": r.kind.value,
                "recorded_on": r.recorded_on,
                "recorded_by": r.recorded_by,
                "content": r.content,
            }
            for r in rows
        ]


@dataclass
class PurgeReport:
    dbs_disclosures: int = 0
    candidates_anonymised: int = 0
    special_category_records: int = 0
    reasons_redacted: int = 0
    journeys: list[str] = field(default_factory=list)


def apply_retention(
    uow: UnitOfWork, as_of: date, *, unsuccessful_days: int = 400, dbs_months: int = 6, dry_run: bool = False
) -> PurgeReport:
    """DBS disclosure details go 6 months after the recruitment decision; unsuccessful candidates'
    personal data after `unsuccessful_days` from their application. Each purge is an event."""
    report = PurgeReport()
    now = utc_now()
    with uow:
        session = uow.session
        decided = (
            select(Event.journey_id, func.max(Event.occurred_at))
            .where(Event.trigger.in_(DECISIONS))
            .group_by(Event.journey_id)
            .subquery()
        )
        rows = session.execute(
            select(SpecialCategoryRecord.id, SpecialCategoryRecord.journey_id, decided.c[1])
            .join(decided, decided.c.journey_id == SpecialCategoryRecord.journey_id)
            .where(SpecialCategoryRecord.kind == SpecialCategoryKind.DBS_DISCLOSURE)
        ).all()
        due = [
            (rid, jid)
            for rid, jid, decided_at in rows
            if add_months(london_date(decided_at), dbs_months) <= as_of
        ]
        report.dbs_disclosures = len(due)
        if due and not dry_run:
            session.execute(
                delete(SpecialCategoryRecord).where(SpecialCategoryRecord.id.in_([rid for rid, _ in due]))
            )
            for jid in sorted({jid for _, jid in due}):
                _record_purge(
                    uow,
                    jid,
                    now,
                    {
                        "purged": ["dbs_disclosure"],
                        "rule": f"{dbs_months} months after the recruitment decision",
                    },
                )
        cutoff = as_of - timedelta(days=unsuccessful_days)
        # Candidates all of whose journeys are unsuccessful and applied on or before the cut-off.
        candidates = (
            session.execute(
                select(Journey.candidate_id)
                .join(Candidate, Candidate.id == Journey.candidate_id)
                .where(Candidate.first_name != ERASED_NAME)
                .group_by(Journey.candidate_id)
                .having(func.max(Journey.applied_on) <= cutoff)
                .having(func.sum(_not_unsuccessful()) == 0)
            )
            .scalars()
            .all()
        )
        for candidate_id in candidates:
            removed = _anonymise(
                uow, candidate_id, now, f"unsuccessful, {unsuccessful_days} days after applying", dry_run
            )
            report.candidates_anonymised += 1
            report.special_category_records += removed.special_category_records
            report.reasons_redacted += removed.reasons_redacted
            report.journeys += removed.journeys
        if not dry_run:
            uow.commit()
    return report


def _not_unsuccessful():  # type: ignore[no-untyped-def]
    from sqlalchemy import case

    return case((Journey.state.in_(UNSUCCESSFUL), 0), else_=1)


def read_reasons(uow: UnitOfWork, actor, journey: Journey) -> dict[int, str]:  # type: ignore[no-untyped-def]
    """The free-text reasons of a journey's events (event id -> text), for the employing organisation
    and the programme lead; the host organisation, like everyone else, gets none."""
    if actor.scope is not None and actor.scope != journey.employer.code:
        return {}
    rows = uow.session.execute(
        select(FreeTextReason.event_id, FreeTextReason.content).where(FreeTextReason.journey_id == journey.id)
    )
    return {event_id: content for event_id, content in rows}


def erase(uow: UnitOfWork, actor, candidate_ref: str, *, everywhere: bool = False) -> PurgeReport:  # type: ignore[no-untyped-def]
    """An erasure request: the candidate's name and email, special-category notes and free-text reasons
    go; the journeys stay as anonymous history. Refused while the person is employed.

    A partner erases its own record of the person (each organisation records its own); the programme
    lead can erase the person `everywhere`: every organisation's record with the same email."""
    candidate_id = parse_ref(candidate_ref, "C")
    ref = f"C-{candidate_id:06d}"
    if everywhere:
        actor.require_programme("erase a person from every organisation")
    with uow:
        if actor.scope is None:
            candidate = uow.session.get(Candidate, candidate_id)
        else:
            # Unknown and another organisation's record read alike, through the same one query:
            # candidate references cannot be probed (by the message or by the time it takes).
            candidate = uow.session.scalars(
                select(Candidate)
                .join(Organisation, Candidate.organisation_id == Organisation.id)
                .where(Candidate.id == candidate_id, Organisation.code == actor.scope)
            ).one_or_none()
            if candidate is None:
                raise NotPermitted(
                    f"{actor.scope} cannot erase {ref}: not a candidate that {actor.scope} recorded"
                )
        if candidate is None:
            raise NotFound(f"unknown candidate {candidate_ref!r}")
        if candidate.first_name == ERASED_NAME:
            raise InvalidInput(f"{candidate.ref} was already erased")
        records = [candidate]
        if everywhere:
            records = list(
                uow.session.scalars(
                    select(Candidate)
                    .where(Candidate.email == candidate.email, Candidate.first_name != ERASED_NAME)
                    .order_by(Candidate.id)
                )
            )
        for record in records:
            _refuse_if_employed(uow, record)
        why = f"erasure request, by {clean_text(actor.name, 'actor', max_length=200)}"
        report = PurgeReport()
        now = utc_now()
        for record in records:
            removed = _anonymise(uow, record.id, now, why, False)
            report.candidates_anonymised += 1
            report.special_category_records += removed.special_category_records
            report.reasons_redacted += removed.reasons_redacted
            report.journeys += removed.journeys
        uow.commit()
        return report


def _refuse_if_employed(uow: UnitOfWork, candidate: Candidate) -> None:
    journeys = uow.session.scalars(select(Journey).where(Journey.candidate_id == candidate.id)).all()
    for journey in journeys:
        state = (
            State(journey.paused_from or journey.state)
            if journey.state is State.PAUSED
            else State(journey.state)
        )
        if state in EMPLOYED and journey.state not in CLOSED:
            raise InvalidInput(
                f"{candidate.ref} is employed ({journey.ref} is {journey.state.label}): their HR record is not erased here"
            )


def _anonymise(uow: UnitOfWork, candidate_id: int, now: datetime, why: str, dry_run: bool) -> PurgeReport:
    session = uow.session
    report = PurgeReport(candidates_anonymised=1)
    journeys = session.scalars(select(Journey).where(Journey.candidate_id == candidate_id)).all()
    ids = [j.id for j in journeys]
    report.journeys = [j.ref for j in journeys]
    report.special_category_records = int(
        session.scalar(
            select(func.count())
            .select_from(SpecialCategoryRecord)
            .where(SpecialCategoryRecord.journey_id.in_(ids))
        )
        or 0
    )
    report.reasons_redacted = int(
        session.scalar(
            select(func.count()).select_from(FreeTextReason).where(FreeTextReason.journey_id.in_(ids))
        )
        or 0
    ) + int(  # reasons recorded in the event log itself before migration 0006 (none after it)
        session.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.journey_id.in_(ids), Event.reason.is_not(None))
        )
        or 0
    )
    if dry_run:
        return report
    session.execute(
        update(Candidate)
        .where(Candidate.id == candidate_id)
        .values(first_name=ERASED_NAME, last_name="", email=f"erased-{candidate_id}@erased.invalid")
    )
    session.execute(delete(SpecialCategoryRecord).where(SpecialCategoryRecord.journey_id.in_(ids)))
    session.execute(delete(FreeTextReason).where(FreeTextReason.journey_id.in_(ids)))
    session.execute(
        update(Event).where(Event.journey_id.in_(ids), Event.reason.is_not(None)).values(reason=None)
    )
    for jid in ids:
        _record_purge(
            uow, jid, now, {"purged": ["name and email", "special-category notes", "reasons"], "rule": why}
        )
    return report


def _record_purge(uow: UnitOfWork, journey_id: int, now: datetime, detail: dict[str, object]) -> None:
    """What was removed and why, never the data itself."""
    journey = uow.session.get(Journey, journey_id)
    if journey is not None:
        uow.record_event(journey, actor=SYSTEM, at=now, kind="purge", detail=detail)

"""Rule ledger, escalations and organisation closure days; loading journey facts in batches."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, cast

from sqlalchemy import (
    CursorResult,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    delete,
    func,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from lifecycle.clock import london_date, utc_now
from lifecycle.domain import CheckView, ReviewView, TrainingView
from lifecycle.errors import InvalidInput
from lifecycle.pathways import PathwayRegistry
from lifecycle.persistence.models import (
    Base,
    Check,
    Event,
    Journey,
    Organisation,
    ProbationReview,
    SupervisionSession,
    Team,
    TrainingRecord,
)
from lifecycle.states import CLOSED, State
from rules.evaluator import JourneyFacts

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite


class RuleAction(Base):
    """The ledger: one row per fired step. Its unique key makes every sweep idempotent."""

    __tablename__ = "rule_actions"
    __table_args__ = (Index("ix_rule_actions_journey", "journey_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    journey_id: Mapped[int] = mapped_column(ForeignKey("journeys.id"))
    rule: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(100))
    anchor: Mapped[date] = mapped_column(Date)
    step: Mapped[int] = mapped_column(Integer)
    occurrence: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(32))
    template: Mapped[str] = mapped_column(String(64))
    as_of: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Escalation(Base):
    """An escalation stays open until someone resolves it or its cause clears."""

    __tablename__ = "escalations"
    __table_args__ = (Index("ix_escalations_open", "resolved_on", "journey_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int | None] = mapped_column(
        ForeignKey("rule_actions.id"), unique=True
    )  # None: raised by the system
    journey_id: Mapped[int] = mapped_column(ForeignKey("journeys.id"))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    rule: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(100))
    anchor: Mapped[date] = mapped_column(Date)
    role: Mapped[str] = mapped_column(String(32))
    opened_on: Mapped[date] = mapped_column(Date)
    resolved_on: Mapped[date | None] = mapped_column(Date)
    resolution: Mapped[str | None] = mapped_column(String(300))
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    organisation: Mapped[Organisation | None] = relationship()


class SweepRun(Base):
    """One sweep: its date, its scope (`*` or an organisation code), and whether it completed.

    A completed run lets the next sweep look only at steps that fell due after it, for journeys
    unchanged since it started (the ledger still stops any repeat).
    """

    __tablename__ = "sweep_runs"
    __table_args__ = (Index("ix_sweep_runs_scope", "scope", "as_of"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    as_of: Mapped[date] = mapped_column(Date)
    scope: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RuleSchedule(Base):
    """Per journey: the first day a new step of any rule can fall due, as the sweep that last
    evaluated it found (NULL: none, unless the journey changes), under the rules and pathways
    `fingerprint` names. A nightly sweep evaluates only journeys due by then or changed since."""

    __tablename__ = "rule_schedule"
    journey_id: Mapped[int] = mapped_column(ForeignKey("journeys.id"), primary_key=True)
    next_due_on: Mapped[date | None] = mapped_column(Date)
    fingerprint: Mapped[str] = mapped_column(String(16))


class OrganisationClosure(Base):
    """A day an organisation is closed (on top of weekends and bank holidays)."""

    __tablename__ = "organisation_closures"
    __table_args__ = (UniqueConstraint("organisation_id", "day"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    day: Mapped[date] = mapped_column(Date)


OPEN_STATES = tuple(s for s in State if s not in CLOSED)


def journey_id_batches(
    session: Session,
    batch_size: int,
    *,
    journey_ids: list[int] | None = None,
    employer: str | None = None,
    scheduled: tuple[date, datetime, str] | None = None,
) -> Iterator[list[int]]:
    """Ids of open journeys in batches (keyset pagination: no OFFSET scans); optionally one employer's.

    `scheduled` (as of, previous sweep's start, fingerprint): only journeys with something due by
    `as of` on their schedule, changed since the previous sweep started, or never scheduled under
    these rules and pathways."""
    if journey_ids is not None:
        chosen = sorted(set(journey_ids))  # batches are read by id range or list: sorted, once each
        for start in range(0, len(chosen), batch_size):
            yield chosen[start : start + batch_size]
        return
    last = 0
    stmt = _open(select(Journey.id), employer).order_by(Journey.id).limit(batch_size)
    if scheduled:
        as_of, changed_since, fingerprint = scheduled
        stmt = stmt.outerjoin(RuleSchedule, RuleSchedule.journey_id == Journey.id).where(
            RuleSchedule.journey_id.is_(None)
            | (RuleSchedule.fingerprint != fingerprint)
            | (RuleSchedule.next_due_on <= as_of)
            | (Journey.updated_at >= changed_since)
        )
    while True:
        ids = list(session.scalars(stmt.where(Journey.id > last)))
        if not ids:
            return
        yield ids
        last = ids[-1]


def count_open(session: Session, employer: str | None = None) -> int:
    return int(session.scalar(_open(select(func.count()).select_from(Journey), employer)) or 0)


def _open(stmt, employer: str | None):  # type: ignore[no-untyped-def]
    """Restricted to open journeys; with `employer`, to those that organisation employs."""
    stmt = stmt.where(Journey.state.in_(OPEN_STATES))
    if employer:
        stmt = stmt.join(Organisation, Journey.employer_organisation_id == Organisation.id).where(
            Organisation.code == employer
        )
    return stmt


def save_schedule(session: Session, next_due: dict[int, date | None], fingerprint: str) -> None:
    """Upsert each evaluated journey's next due day."""
    if not next_due:
        return
    table = cast(Table, RuleSchedule.__table__)
    stmt: postgresql.Insert | sqlite.Insert
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        stmt = postgresql_insert(table)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["journey_id"],
        set_={"next_due_on": stmt.excluded.next_due_on, "fingerprint": stmt.excluded.fingerprint},
    )
    session.execute(
        stmt,
        [
            {"journey_id": jid, "next_due_on": day, "fingerprint": fingerprint}
            for jid, day in next_due.items()
        ],
    )


def in_ids(column, ids: list[int]):  # type: ignore[no-untyped-def]
    """`column` among the (sorted) ids: a range scan when they are dense, an IN list when sparse
    (a nightly batch picks a few journeys out of a wide id range)."""
    if ids[-1] - ids[0] < 4 * len(ids):
        return column.between(ids[0], ids[-1])
    return column.in_(ids)


def load_facts(session: Session, ids: list[int], pathways: PathwayRegistry) -> list[JourneyFacts]:
    """Facts for a batch of journeys: one query per table, never one per journey."""
    if not ids:
        return []
    wanted = set(ids)
    conn = session.connection()  # Core rows: no ORM result machinery on the hot path
    org_code = dict(conn.execute(select(Organisation.id, Organisation.code)).all())
    team_org = {tid: org_code[oid] for tid, oid in conn.execute(select(Team.id, Team.host_organisation_id))}

    def in_batch(column):  # type: ignore[no-untyped-def]
        return in_ids(column, ids)

    checks: dict[int, list[CheckView]] = defaultdict(list)
    for row in _rows(conn,
        select(Check.journey_id, Check.kind, Check.status, Check.waiting_on, Check.requested_on, Check.completed_on,
               Check.expires_on, Check.waiting_since, Check.update_service).where(in_batch(Check.journey_id))
    ):  # fmt: skip
        checks[row[0]].append(
            CheckView(kind=row[1], status=row[2], waiting_on=row[3], requested_on=row[4], completed_on=row[5],
                      expires_on=row[6], waiting_since=row[7], update_service=row[8])
        )  # fmt: skip
    training: dict[int, list[TrainingView]] = defaultdict(list)
    for jid, module, due_on, completed_on, refresher in _rows(conn,
        select(TrainingRecord.journey_id, TrainingRecord.module, TrainingRecord.due_on, TrainingRecord.completed_on,
               TrainingRecord.refresher_due_on).where(in_batch(TrainingRecord.journey_id))
    ):  # fmt: skip
        training[jid].append(TrainingView(module, due_on, completed_on, refresher))
    reviews: dict[int, list[ReviewView]] = defaultdict(list)
    for jid, name, due_on, held_on, outcome in _rows(conn,
        select(ProbationReview.journey_id, ProbationReview.name, ProbationReview.due_on, ProbationReview.held_on,
               ProbationReview.outcome).where(in_batch(ProbationReview.journey_id))
    ):  # fmt: skip
        reviews[jid].append(ReviewView(name, due_on, held_on, outcome))
    supervision: dict[int, dict] = defaultdict(dict)
    for jid, kind, last in _rows(
        conn,
        select(SupervisionSession.journey_id, SupervisionSession.kind, func.max(SupervisionSession.held_on))
        .where(in_batch(SupervisionSession.journey_id), SupervisionSession.held_on.is_not(None))
        .group_by(SupervisionSession.journey_id, SupervisionSession.kind),
    ):
        supervision[jid][kind] = last
    pauses = pause_intervals(session, ids)
    interviews = interview_days(session, ids)

    facts = []
    for row in _rows(conn,
        select(Journey.id, Journey.pathway_id, Journey.pathway_version, Journey.state, Journey.state_since,
               Journey.applied_on, Journey.employer_organisation_id, Journey.paused_from, Journey.start_date,
               Journey.placed_on, Journey.host_team_id, Journey.updated_at).where(in_batch(Journey.id)).order_by(Journey.id)
    ):  # fmt: skip
        jid = row[0]
        if jid not in wanted:
            continue
        facts.append(
            JourneyFacts(
                id=jid, pathway=pathways.get(row[1], row[2]), state=row[3], state_since=_day(row[4]), applied_on=row[5],
                employer=org_code[row[6]], paused_from=row[7], start_date=row[8], placed_on=row[9],
                host_org=team_org.get(row[10]) if row[10] else None, checks=tuple(checks.get(jid, ())),
                training=tuple(training.get(jid, ())), reviews=tuple(reviews.get(jid, ())),
                last_supervision=supervision.get(jid, {}), pauses=tuple(pauses.get(jid, ())), updated_at=_utc(row[11]),
                interview_on=interviews.get(jid),
            )
        )  # fmt: skip
    return facts


def pause_intervals(session: Session, ids: list[int]) -> dict[int, list[tuple[date, date | None]]]:
    """[paused on, resumed on) intervals per journey, from the event log."""
    intervals: dict[int, list[tuple[date, date | None]]] = defaultdict(list)
    open_since: dict[int, date] = {}
    stmt = (
        select(Event.journey_id, Event.occurred_at, Event.from_state, Event.to_state)
        .where(
            in_ids(Event.journey_id, ids),
            (Event.to_state == State.PAUSED) | (Event.from_state == State.PAUSED),
        )
        .order_by(Event.journey_id, Event.id)
    )
    for jid, at, from_state, to_state in session.connection().execute(stmt):
        if to_state is State.PAUSED:
            open_since[jid] = _day(at)
        elif from_state is State.PAUSED and jid in open_since:
            intervals[jid].append((open_since.pop(jid), _day(at)))
    for jid, since in open_since.items():
        intervals[jid].append((since, None))
    return intervals


def interview_days(session: Session, ids: list[int]) -> dict[int, date]:
    """The day of each journey's latest interview booking (London time), from the event log; a
    cancelled booking leaves none."""
    found: dict[int, date] = {}
    stmt = (
        select(Event.journey_id, Event.detail)
        .where(in_ids(Event.journey_id, ids), Event.kind.in_(("booking", "booking_cancelled")))
        .order_by(Event.journey_id, Event.id)
    )
    for jid, detail in session.connection().execute(stmt):
        if not isinstance(detail, dict) or detail.get("booking") != "interview":
            continue
        if detail.get("cancelled"):
            found.pop(jid, None)
            continue
        try:
            found[jid] = _day(datetime.fromisoformat(str(detail["starts_at"])))
        except (KeyError, ValueError):
            continue
    return found


def closures(session: Session) -> dict[str, list[date]]:
    found: dict[str, list[date]] = defaultdict(list)
    for code, day in session.execute(
        select(Organisation.code, OrganisationClosure.day).join(
            Organisation, OrganisationClosure.organisation_id == Organisation.id
        )
    ):
        found[code].append(day)
    return found


def _rows(conn, stmt):  # type: ignore[no-untyped-def]
    """All rows at once: fetchall is several times cheaper than iterating a cursor row by row."""
    return conn.execute(stmt).all()


_day = london_date  # event and state times are stored in UTC; clocks count London days


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite returns naive UTC


def add_closures(uow, org_code: str, days: list[date], *, actor=None, at=None) -> int:  # type: ignore[no-untyped-def]
    """Record closure days for an organisation; days already recorded are skipped. An `actor` acting
    for a partner may add them only to its own organisation's calendar; the programme lead to any."""
    with uow:
        org, known = _closures_of(uow, org_code, actor, "add closure days")
        new = sorted(set(days) - known)
        uow.session.add_all(OrganisationClosure(organisation_id=org.id, day=d) for d in new)
        if new:
            _closure_event(uow, org, actor, at, "closure_added", new)
        uow.commit()
        return len(new)


def list_closures(uow, org_code: str, *, actor=None) -> list[date]:  # type: ignore[no-untyped-def]
    """An organisation's closure days, in order."""
    with uow:
        _, known = _closures_of(uow, org_code, actor, "see closure days")
    return sorted(known)


def remove_closures(uow, org_code: str, days: list[date], *, actor=None, at=None) -> int:  # type: ignore[no-untyped-def]
    """Remove closure days (the organisation works on them after all); every day must be recorded."""
    with uow:
        org, known = _closures_of(uow, org_code, actor, "remove closure days")
        unknown = sorted(set(days) - known)
        if unknown:
            listed = ", ".join(d.isoformat() for d in unknown)
            raise InvalidInput(f"{org.code} has no closure day on {listed}")
        gone = sorted(set(days))
        uow.session.execute(
            delete(OrganisationClosure).where(
                OrganisationClosure.organisation_id == org.id, OrganisationClosure.day.in_(gone)
            )
        )
        if gone:
            _closure_event(uow, org, actor, at, "closure_removed", gone)
        uow.commit()
        return len(gone)


def _closures_of(uow, org_code: str, actor, what: str):  # type: ignore[no-untyped-def]
    from lifecycle.validation import clean_code

    code = clean_code(org_code, "organisation code")
    if actor is not None:
        actor.require(code, what)
    org = uow.organisation(code)
    known = set(
        uow.session.scalars(
            select(OrganisationClosure.day).where(OrganisationClosure.organisation_id == org.id)
        )
    )
    return org, known


def _closure_event(uow, org, actor, at, kind: str, days: list[date]) -> None:  # type: ignore[no-untyped-def]
    uow.record_org_event(
        org, actor=actor.name if actor else "system", at=at or utc_now(), kind=kind,
        detail={"days": [d.isoformat() for d in days]},
    )  # fmt: skip


def list_escalations(
    session: Session, *, open_only: bool = False, org: str | None = None, visible_to: str | None = None
) -> list[dict[str, object]]:
    """Escalations; `org`: escalated to that organisation; `visible_to`: about journeys it employs or hosts."""
    from lifecycle.persistence.queries import journeys_visible_to

    stmt = (
        select(Escalation, Organisation.code)
        .outerjoin(Organisation, Escalation.organisation_id == Organisation.id)
        .order_by(Escalation.id)
    )
    if open_only:
        stmt = stmt.where(Escalation.resolved_on.is_(None))
    if org:
        stmt = stmt.where(Organisation.code == org)
    if visible_to:
        stmt = stmt.where(Escalation.journey_id.in_(journeys_visible_to(visible_to)))
    return [
        {
            "id": e.id, "journey": f"J-{e.journey_id:06d}", "rule": e.rule, "subject": e.subject, "role": e.role,
            "organisation": code, "opened_on": e.opened_on, "resolved_on": e.resolved_on, "resolution": e.resolution,
        }
        for e, code in session.execute(stmt)
    ]  # fmt: skip


def redact_escalation_notes(session: Session, journey_ids: list[int]) -> int:
    """Erasure and retention: notes typed when resolving an escalation by hand are free text."""
    if not journey_ids:
        return 0
    from sqlalchemy import update

    result = cast(
        CursorResult,
        session.execute(
            update(Escalation)
            .where(
                Escalation.journey_id.in_(journey_ids),
                Escalation.resolution.is_not(None),
                Escalation.resolved_by != "sweep",
            )
            .values(resolution="(redacted)")
        ),
    )
    return int(result.rowcount or 0)

"""The unit of work: one transaction per service call, commits state and events together."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from types import TracebackType
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, Table, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.attributes import flag_modified, set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from lifecycle.clock import utc_now
from lifecycle.domain import CheckView, JourneySnapshot, ReviewView, TeamReadiness, TrainingView
from lifecycle.errors import ConflictError, NotFound, NotPermitted
from lifecycle.hooks import JourneyListener, Recorded
from lifecycle.pathways import Pathway, PathwayRegistry, definition_digest
from lifecycle.persistence.database import writer
from lifecycle.persistence.models import (
    Base,
    Candidate,
    Event,
    FreeTextReason,
    Journey,
    Organisation,
    OrganisationEvent,
    PathwayDefinition,
    Team,
)
from lifecycle.states import State

# Built once: compiled once per set of columns, then cached (constructing them per call cost more
# than running them).
_JOURNEYS, _EVENTS = cast(Table, Journey.__table__), cast(Table, Event.__table__)
JOURNEY_UPDATE = update(_JOURNEYS).where(
    _JOURNEYS.c.id == bindparam("id_"), _JOURNEYS.c.version == bindparam("version_read")
)
EVENT_INSERT = insert(_EVENTS)  # built once: compiled once per set of columns, then cached
EVENT_INSERT_RETURNING = insert(_EVENTS).returning(_EVENTS.c.id)
REASON_INSERT = insert(cast(Table, FreeTextReason.__table__))
_HOST = aliased(Organisation)
_EMPLOYER = aliased(Organisation)
# A journey as a partner may see it: the scope applied in the query itself.
_SCOPED_JOURNEY = (
    select(Journey)
    .join(_EMPLOYER, Journey.employer_organisation_id == _EMPLOYER.id)
    .outerjoin(Team, Journey.host_team_id == Team.id)
    .outerjoin(_HOST, Team.host_organisation_id == _HOST.id)
    .where(
        Journey.id == bindparam("id_"),
        or_(_EMPLOYER.code == bindparam("scope"), _HOST.code == bindparam("scope")),
    )
)
CONFLICT = "the journey was changed by someone else meanwhile; reload it and try again"
_REF = re.compile(r"^\s*([JC])-?0*(\d{1,12})\s*$", re.IGNORECASE)
# Every id column is INTEGER: 32 bits on PostgreSQL, which refuses a larger value in a query
# (NumericValueOutOfRange), as SQLite refuses one beyond 64 bits (OverflowError).
MAX_ID = 2**31 - 1


def parse_ref(ref: str, prefix: str) -> int:
    """The id in `J-000123` / `C-000123`; a ref no id can have is unknown, like a missing one."""
    match = _REF.match(ref or "")
    what = "journey" if prefix == "J" else "candidate"
    if not match or match.group(1).upper() != prefix:
        raise NotFound(f"unknown {what} {ref!r} (expected {prefix}-000123)")
    number = int(match.group(2))
    if number > MAX_ID:
        raise NotFound(f"unknown {what} {ref!r}")
    return number


class _Session(Session):
    """The unit of work's session: `get()` with an id that no INTEGER column can hold (a 20-digit
    escalation or outbox id someone typed) finds nothing, rather than failing in the driver."""

    def get(self, entity: Any, ident: Any, **kwargs: Any) -> Any:
        if isinstance(ident, int) and not -MAX_ID - 1 <= ident <= MAX_ID:
            return None
        return super().get(entity, ident, **kwargs)


class UnitOfWork:
    """`with uow:` opens a transaction; nested `with` blocks join the outer one.

    Service functions call `commit()`; inside an outer block that only flushes, so a caller
    (the demo, an import) can make many service calls one all-or-nothing transaction.
    """

    def __init__(self, engine: Engine, pathways: PathwayRegistry, listeners: Sequence[JourneyListener] = ()):
        self.engine = engine
        self.listeners = tuple(listeners)  # told of every fact recorded (see lifecycle.hooks)
        self._muted = 0
        self._writer = writer(engine)  # made once: each `with uow:` opens a session on it
        self._files = pathways
        self._pathways: PathwayRegistry | None = None
        self._depth = 0
        self._session: Session | None = None

    @property
    def pathways(self) -> PathwayRegistry:
        """The pathway files' versions, with every version a journey has used as stored in the
        database: a journey is read against the definition it started on, on any machine."""
        if self._pathways is None:
            self._pathways = self._files.with_pinned(load_pinned(self.engine))
        return self._pathways

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("use the unit of work inside `with uow:`")
        return self._session

    def __enter__(self) -> UnitOfWork:
        if self._depth == 0:
            self._session = _Session(self._writer, expire_on_commit=False, autoflush=True)
        self._depth += 1
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._depth -= 1
        if self._depth == 0:
            session, self._session = self.session, None
            try:
                session.rollback()  # a no-op after commit; undoes everything after an error
            finally:
                session.close()
        if isinstance(exc, StaleDataError):  # an autoflush inside the block met a concurrent write
            raise ConflictError(CONFLICT) from None
        if isinstance(
            exc, IntegrityError
        ):  # a flush or INSERT outside commit() (record_event's, an autoflush)
            raise ConflictError(integrity_message(exc)) from None

    def commit(self) -> None:
        try:
            if self._depth == 1:
                self.session.commit()
            else:
                self.session.flush()
        except StaleDataError:
            raise ConflictError(CONFLICT) from None
        except IntegrityError as exc:
            raise ConflictError(integrity_message(exc)) from None

    def add(self, obj: Base) -> None:
        self.session.add(obj)

    # Look-ups by the codes users type.

    def journey(self, ref: str, scope: str | None = None) -> Journey:
        """The journey; with a `scope` (an organisation code), only if that organisation employs
        or hosts it. Out of scope reads like unknown, so a partner cannot probe for others' refs:
        the same message, and the same work (one query that applies the scope, answered the same way
        whether the journey is missing or another organisation's)."""
        journey_id = parse_ref(ref, "J")
        if scope is None:
            # The identity map answers repeat look-ups in one transaction without a query.
            journey = self.session.get(Journey, journey_id)
            if journey is None:
                raise NotFound(f"unknown journey {ref!r}")
            return journey
        journey = self.session.scalars(_SCOPED_JOURNEY, {"id_": journey_id, "scope": scope}).one_or_none()
        if journey is None:
            raise NotPermitted(f"{ref.strip().upper()} is not a journey that {scope} employs or hosts")
        return journey

    def organisation(self, code: str) -> Organisation:
        return self._by_code(Organisation, code, "organisation")

    def team(self, code: str) -> Team:
        return self._by_code(Team, code, "team")

    def _by_code(self, model: type[Any], code: str, what: str) -> Any:
        found = self.session.scalars(select(model).where(model.code == code)).one_or_none()
        if found is None:
            raise NotFound(f"unknown {what} {code!r}")
        return found

    def candidate_by_email(self, email: str, organisation_id: int) -> Candidate | None:
        """The organisation's own record of a person (candidates are recorded per organisation)."""
        return self.session.scalars(
            select(Candidate).where(Candidate.organisation_id == organisation_id, Candidate.email == email)
        ).one_or_none()

    def entered_at(self, journey: Journey, state: State) -> datetime | None:
        """When the journey last entered `state`, from the event log."""
        return self.session.scalar(
            select(Event.occurred_at)
            .where(Event.journey_id == journey.id, Event.to_state == state)
            .order_by(Event.id.desc())
            .limit(1)
        )

    def pathway_of(self, journey: Journey) -> Pathway:
        key = (journey.pathway_id, journey.pathway_version)
        if key not in self.pathways:  # pinned by another process since this one loaded them
            self._pathways = self._files.with_pinned(load_pinned(self.engine))
        return self.pathways.get(*key)

    def pin_pathway(self, pathway: Pathway, at: datetime) -> None:
        """Store a pathway version's full definition the first time a journey uses it."""
        key = (pathway.id, pathway.version)
        if self.session.get(PathwayDefinition, key) is not None:
            return
        with self.session.begin_nested():  # a concurrent first use stored it: theirs is the same file
            try:
                self.session.add(
                    PathwayDefinition(
                        pathway_id=pathway.id, version=pathway.version, definition=pathway_definition(pathway),
                        digest=definition_digest(pathway), stored_at=at,
                    )
                )  # fmt: skip
                self.session.flush()
            except IntegrityError:
                pass

    def pin_used_pathways(self, at: datetime) -> int:
        """Pin every pathway version existing journeys use that is not pinned yet (from the files);
        returns how many were pinned."""
        with self:
            used = self.session.execute(select(Journey.pathway_id, Journey.pathway_version).distinct()).all()
            pinned = 0
            for pathway_id, version in used:
                key = (pathway_id, version)
                if self.session.get(PathwayDefinition, key) is None and key in self._files:
                    self.pin_pathway(self._files.get(*key), at)
                    pinned += 1
            self.commit()
        self._pathways = None
        return pinned

    def pinned_digests(self) -> dict[tuple[str, int], str]:
        with self:
            rows = self.session.execute(
                select(PathwayDefinition.pathway_id, PathwayDefinition.version, PathwayDefinition.digest)
            ).all()
        return {(pid, version): digest for pid, version, digest in rows}

    def supervised_now(self, team: Team, *, lock: bool = False) -> int:
        """PSWs in post in a team (on probation or embedded, paused ones included). `lock`: hold the
        team's row first, so two placements at once cannot both take its last place (PostgreSQL;
        SQLite's writers are serialised already)."""
        if lock:
            self.session.execute(select(Team.id).where(Team.id == team.id).with_for_update())
        in_post = (State.PROBATION, State.EMBEDDED)
        return int(
            self.session.scalar(
                select(func.count(Journey.id)).where(
                    Journey.host_team_id == team.id,
                    Journey.state.in_(in_post)
                    | (Journey.state == State.PAUSED) & Journey.paused_from.in_(in_post),
                )
            )
            or 0
        )

    def record_org_event(
        self, organisation: Organisation, *, actor: str, at: datetime, kind: str, detail: dict[str, Any]
    ) -> None:
        """A change to an organisation's own records, with its previous and new values."""
        self.session.add(
            OrganisationEvent(
                organisation=organisation, occurred_at=at, actor=actor, kind=kind, detail=detail
            )
        )

    def update_journey(self, journey: Journey, columns: dict[str, Any]) -> None:
        """Write a journey's own columns when nothing else in the transaction changes: one UPDATE
        checked against the version read (a concurrent change is a ConflictError, as with the ORM
        flush), several times cheaper than a flush. The loaded journey is kept in step."""
        values = {**columns, "updated_at": utc_now(), "version": journey.version + 1}
        with self.session.no_autoflush:
            result = cast(
                CursorResult,
                self.session.execute(
                    JOURNEY_UPDATE, {**values, "id_": journey.id, "version_read": journey.version}
                ),
            )
        if result.rowcount != 1:
            raise ConflictError(CONFLICT)
        for key, value in values.items():
            set_committed_value(journey, key, value)

    def record_event(
        self, journey: Journey, *, actor: str, at: datetime, kind: str, touch: bool = True, **fields: Any
    ) -> None:
        # Touching the journey bumps its version, so a recorded fact conflicts with a
        # concurrent transition exactly as two transitions do. `updated_at` is when the change was
        # recorded, whatever `at` it is dated: the nightly sweep re-evaluates what changed since it
        # last ran, and a back-dated change is still a change.
        if touch:  # (update_journey has already stamped and versioned it)
            journey.updated_at = utc_now()
            flag_modified(journey, "updated_at")  # an UPDATE (and a version bump) in the same microsecond too
        reason = fields.pop("reason", None)
        try:
            if journey.id is None:
                self.session.flush()  # a new journey: the event needs its id
            # A plain INSERT: the event is never read back in the transaction that writes it, and the
            # ORM's unit-of-work bookkeeping for it cost more than the statement itself.
            params = {"journey_id": journey.id, "occurred_at": at, "actor": actor, "kind": kind,
                      "detail": fields.pop("detail", {}), **fields}  # fmt: skip
            if not reason:
                self.session.execute(EVENT_INSERT, params)
            else:
                # A free-text reason may hold health data: kept apart from the event log (which every
                # organisation that sees the journey reads), in its own table, like special-category
                # notes. Listeners (emails at every turn) are never handed it.
                event_id = self.session.execute(EVENT_INSERT_RETURNING, params).scalar_one()
                self.session.execute(
                    REASON_INSERT, {"journey_id": journey.id, "event_id": event_id, "content": reason}
                )
        except IntegrityError as exc:
            raise ConflictError(integrity_message(exc)) from None
        if self.listeners and not self._muted:
            recorded = Recorded(kind=kind, at=at, trigger=params.get("trigger"), from_state=params.get("from_state"),
                                to_state=params.get("to_state"), detail=params["detail"])  # fmt: skip
            for listener in self.listeners:
                listener(self, journey, recorded)

    @contextmanager
    def muted(self) -> Iterator[None]:
        """Record history without telling anyone: loading the demo or a programme's past."""
        self._muted += 1
        try:
            yield
        finally:
            self._muted -= 1


# What a broken constraint means to the person who typed the command (never the SQL or its values).
_CONSTRAINT_MESSAGES = (
    (("uq_journeys_open_application", "journeys.candidate_id, journeys.pathway_id"),
     "an open application for this person and pathway was registered meanwhile; nothing was written"),
    (("uq_candidates_organisation_email", "candidates.organisation_id, candidates.email"),
     "this person was registered meanwhile; nothing was written: try again"),
)  # fmt: skip


def integrity_message(exc: IntegrityError) -> str:
    text = str(exc.orig) if exc.orig else ""
    for needles, message in _CONSTRAINT_MESSAGES:
        if any(needle in text for needle in needles):
            return message
    return f"conflicting data: {_integrity_reason(exc)}"


def pathway_definition(pathway: Pathway) -> dict[str, Any]:
    return pathway.model_dump(mode="json")


def load_pinned(engine: Engine) -> list[Pathway]:
    """Every stored pathway definition; none on a database that predates them."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(PathwayDefinition.definition)).scalars().all()
    except (OperationalError, ProgrammingError):  # no such table yet: `db upgrade` will make it
        return []
    return [Pathway.model_validate(row) for row in rows]


def _integrity_reason(exc: IntegrityError) -> str:
    text = str(exc.orig).splitlines()[0] if exc.orig else "constraint violated"
    return text[:200]


class _OnFirstRead(Mapping[Any, Any]):
    """A read-only mapping built on first use: most triggers' guards never read a journey's checks,
    training or reviews, and each would otherwise cost a query on every transition."""

    def __init__(self, build: Callable[[], dict[Any, Any]]):
        self._build: Callable[[], dict[Any, Any]] | None = build
        self._data: dict[Any, Any] = {}

    def _loaded(self) -> dict[Any, Any]:
        if self._build is not None:
            self._data, self._build = self._build(), None
        return self._data

    def __getitem__(self, key: Any) -> Any:
        return self._loaded()[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())

    def __repr__(self) -> str:
        return repr(self._loaded())


def snapshot(journey: Journey, pathway: Pathway) -> JourneySnapshot:
    team = journey.host_team
    return JourneySnapshot(
        ref=journey.ref,
        state=State(journey.state),
        pathway=pathway,
        paused_from=journey.paused_from,
        start_date=journey.start_date,
        checks=_OnFirstRead(lambda: {c.kind: check_view(c) for c in journey.checks}),  # type: ignore[arg-type]
        training=_OnFirstRead(  # type: ignore[arg-type]
            lambda: {
                t.module: TrainingView(t.module, t.due_on, t.completed_on, t.refresher_due_on)
                for t in journey.training
            }
        ),
        reviews=_OnFirstRead(  # type: ignore[arg-type]
            lambda: {
                r.name: ReviewView(r.name, r.due_on, r.held_on, r.outcome, r.skipped_by)
                for r in journey.reviews
            }
        ),
        team=team_readiness(team) if team else None,
    )


def check_view(c: Any) -> CheckView:
    return CheckView(
        kind=c.kind,
        status=c.status,
        waiting_on=c.waiting_on,
        requested_on=c.requested_on,
        completed_on=c.completed_on,
        expires_on=c.expires_on,
        approver=c.approver,
        waiting_since=c.waiting_since,
        update_service=c.update_service,
        dbs_level=c.dbs_level,
        dbs_workforce=c.dbs_workforce,
    )


def journey_organisations(journey: Journey) -> set[str]:
    """The organisations that may see and act on a journey: its employer and its host team's."""
    found = {journey.employer.code}
    if journey.host_team is not None:
        found.add(journey.host_team.host_organisation.code)
    return found


def team_readiness(team: Team, supervised_now: int = 0) -> TeamReadiness:
    return TeamReadiness(
        team_code=team.code,
        speciality=team.speciality,
        named_supervisor=team.supervisor_name,
        team_briefed=team.team_briefed,
        role_description_agreed=team.role_description_agreed,
        peer_supervision_arranged=team.peer_supervision_arranged,
        supervised_places=team.supervised_places if team.supervised_places is not None else 4,
        supervised_now=supervised_now,
    )

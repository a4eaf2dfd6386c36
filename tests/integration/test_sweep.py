"""The sweep on the demo programme, on SQLite and PostgreSQL: what it records, idempotency,
catch-up, dry runs, escalations closing, and what reaches the outbox.

The demo is loaded once per module and database (it takes seconds) with a fixed `today`; every
test gets its own copy (a file copy on SQLite, `CREATE DATABASE ... TEMPLATE` on PostgreSQL).
Demo journeys are found by what they are (state, checks), not by their ids.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from lifecycle import service
from lifecycle.clock import london_date
from lifecycle.pathways import builtin_registry
from lifecycle.persistence.database import make_engine
from lifecycle.persistence.models import (
    Base,
    Candidate,
    Check,
    Contact,
    FreeTextReason,
    Journey,
    Organisation,
    Team,
)
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.states import CHECK_LABELS, CLOSED, CheckKind, CheckStatus, ContactRole, Party, State
from notifications.context import SPECIAL_CATEGORY_FIELDS, MessageContext
from notifications.models import OutboxMessage
from notifications.outbox import enqueue_planned
from notifications.render import template_names
from peerpath.demo import load_demo
from peerpath.migrate import upgrade
from rules.calendar import WorkingCalendar
from rules.persistence import Escalation, RuleAction, add_closures
from rules.preview import planned_rows
from rules.ruleset import RuleSet, load_rules, rule_paths
from rules.sweep import SweepResult, sweep

AS_OF = date(2026, 11, 16)  # a Monday; the demo's last events are on the 15th
LONDON = ZoneInfo("Europe/London")
ACTOR = service.Actor("sweep-tests")
REG = builtin_registry()
RULESET: RuleSet = load_rules(rule_paths(None), templates=template_names(), pathways=REG)
CAL = WorkingCalendar()
ADMIN_URL = os.environ.get(
    "PEERPATH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def london(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=LONDON)


def sink(session, planned, now):  # type: ignore[no-untyped-def]
    enqueue_planned(session, planned, now, REG)


def run(uow: UnitOfWork, as_of: date, **kw: object) -> SweepResult:
    return sweep(uow, RULESET, as_of, sink=sink, **kw)  # type: ignore[arg-type]


# One demo per module and database; a copy per test


@pytest.fixture(scope="module")
def sqlite_demo(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sweep-demo") / "demo.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    assert load_demo(UnitOfWork(engine, REG), ACTOR, today=AS_OF).loaded
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


def _admin():  # type: ignore[no-untyped-def]
    return create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")


def _pg_url(name: str) -> str:
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def postgres_demo(request: pytest.FixtureRequest) -> Iterator[str]:
    request.getfixturevalue("postgres_url")  # skips (or fails under CI) when PostgreSQL is unreachable
    name = f"peerpath_sweepdemo_{uuid.uuid4().hex[:10]}"
    admin = _admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        engine = make_engine(_pg_url(name))
        upgrade(engine)
        assert load_demo(UnitOfWork(engine, REG), ACTOR, today=AS_OF).loaded
        engine.dispose()
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def copies(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], UnitOfWork]]:
    """Makes fresh copies of the loaded demo, each as a unit of work."""
    engines, databases = [], []
    kind = request.param
    source = request.getfixturevalue("sqlite_demo" if kind == "sqlite" else "postgres_demo")

    def copy() -> UnitOfWork:
        if kind == "sqlite":
            path = tmp_path / f"demo-{len(engines)}.db"
            shutil.copy(source, path)
            url = f"sqlite:///{path}"
        else:
            name = f"{source}_{uuid.uuid4().hex[:6]}"
            admin = _admin()
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{source}"'))
            admin.dispose()
            databases.append(name)
            url = _pg_url(name)
        engine = make_engine(url)
        engines.append(engine)
        return UnitOfWork(engine, REG)

    yield copy
    for engine in engines:
        engine.dispose()
    if databases:
        admin = _admin()
        with admin.connect() as conn:
            for name in databases:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def demo(copies: Callable[[], UnitOfWork]) -> UnitOfWork:
    return copies()


# Reading the database


def assert_one_message_per_person_and_matter(rows, messages) -> None:  # type: ignore[no-untyped-def]
    """Every action is routable in the demo: each action has its message, except an earlier step
    of a ladder whose later step went to the same person in the same sweep (one message is enough)."""
    by_key = {r.key: r for r in rows}
    sent = {m.idempotency_key.rsplit("|", 1)[0]: m.recipient_email for m in messages}
    assert set(sent) <= set(by_key)
    matters = Counter(
        (m.journey_id, *m.idempotency_key.split("|")[1:3], m.recipient_email, by_key[k].as_of)
        for m in messages
        for k in [m.idempotency_key.rsplit("|", 1)[0]]
    )  # per sweep
    assert max(matters.values(), default=1) == 1
    for key in set(by_key) - set(sent):
        r = by_key[key]
        later = [
            k for k, email in sent.items()
            if (by_key[k].journey_id, by_key[k].rule, by_key[k].subject) == (r.journey_id, r.rule, r.subject)
            and by_key[k].as_of == r.as_of and by_key[k].step > r.step
        ]  # fmt: skip
        assert later, f"no message for {key}"


def counts(uow: UnitOfWork) -> dict[str, int]:
    """Rows per table, except the log of sweep runs (every run, even one that adds nothing, is logged)."""
    with uow:
        return {
            t.name: int(uow.session.scalar(select(func.count()).select_from(t)) or 0)
            for t in Base.metadata.sorted_tables
            if t.name != "sweep_runs"
        }


def ledger(uow: UnitOfWork, journey_id: int | None = None) -> list[RuleAction]:
    with uow:
        stmt = select(RuleAction).order_by(RuleAction.id)
        if journey_id is not None:
            stmt = stmt.where(RuleAction.journey_id == journey_id)
        rows = list(uow.session.scalars(stmt))
        uow.session.expunge_all()
        return rows


def escalations(uow: UnitOfWork, journey_id: int | None = None) -> list[Escalation]:
    with uow:
        stmt = select(Escalation).order_by(Escalation.id)
        if journey_id is not None:
            stmt = stmt.where(Escalation.journey_id == journey_id)
        rows = list(uow.session.scalars(stmt))
        uow.session.expunge_all()
        return rows


def outbox(uow: UnitOfWork) -> list[OutboxMessage]:
    with uow:
        rows = list(uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        uow.session.expunge_all()
        return rows


def org_ids(uow: UnitOfWork) -> dict[str, int]:
    with uow:
        return dict(uow.session.execute(select(Organisation.code, Organisation.id)).all())  # type: ignore[arg-type]


def journeys_waiting(
    uow: UnitOfWork, kind: CheckKind, party: Party, state: State = State.CHECKS
) -> list[tuple[int, date, str]]:
    """(journey id, waiting since, employer code) of journeys in `state` with `kind` waiting on `party`."""
    with uow:
        rows = uow.session.execute(
            select(Journey.id, Check.waiting_since, Organisation.code)
            .join(Check, Check.journey_id == Journey.id)
            .join(Organisation, Organisation.id == Journey.employer_organisation_id)
            .where(
                Journey.state == state,
                Check.kind == kind,
                Check.status == CheckStatus.WAITING,
                Check.waiting_on == party,
            )
            .order_by(Check.waiting_since, Journey.id)
        ).all()
        return [(jid, since, org) for jid, since, org in rows]


def ref(journey_id: int) -> str:
    return f"J-{journey_id:06d}"


def contact_email(uow: UnitOfWork, org: str, role: ContactRole) -> str:
    with uow:
        return uow.session.scalar(
            select(Contact.email)
            .join(Organisation)
            .where(Organisation.code == org, Contact.role == role)
            .order_by(Contact.id)
        )  # type: ignore[return-value]


# The tests


def test_the_sweep_records_what_is_due_on_specific_demo_journeys(demo: UnitOfWork) -> None:
    result = run(demo, AS_OF)
    rows, escs, messages = ledger(demo), escalations(demo), outbox(demo)
    assert result.actions == len(rows) > 0 and result.unroutable == 0
    assert result.escalations_opened == len(escs) == sum(1 for r in rows if r.action == "escalate")
    assert result.reminders == sum(1 for r in rows if r.action == "remind")
    by_key = {r.key: r for r in rows}
    assert_one_message_per_person_and_matter(rows, messages)
    for m in messages:
        assert m.idempotency_key == f"{by_key[m.idempotency_key.rsplit('|', 1)[0]].key}|{m.recipient_email}"
        assert m.template == by_key[m.idempotency_key.rsplit("|", 1)[0]].template
        context = MessageContext.model_validate(m.context)
        assert context.journey_ref == ref(m.journey_id)  # type: ignore[arg-type]

    # The DBS check stalled at the police stage: all three steps, two open escalations at NMH.
    jid, since, employer = journeys_waiting(demo, CheckKind.DBS, Party.DBS)[0]
    assert employer == "NMH" and (AS_OF - since).days >= 60
    stall = [r for r in ledger(demo, jid) if r.rule == "dbs-stall"]
    assert sorted((r.step, r.action, r.role) for r in stall) == [
        (0, "remind", "coordinator"), (1, "escalate", "employer_hr"), (2, "escalate", "programme_lead"),
    ]  # fmt: skip
    assert {r.subject for r in stall} == {"check:dbs:dbs"} and {r.anchor for r in stall} == {since}
    nmh = org_ids(demo)["NMH"]
    open_stall = [e for e in escalations(demo, jid) if e.rule == "dbs-stall"]
    assert sorted(e.role for e in open_stall) == ["employer_hr", "programme_lead"]
    assert all(
        e.resolved_on is None and e.organisation_id == nmh and e.opened_on == AS_OF for e in open_stall
    )
    sent_to = {m.recipient_email for m in messages if m.journey_id == jid and m.template == "dbs-overdue"}
    assert sent_to == {
        contact_email(demo, "NMH", r)
        for r in (ContactRole.COORDINATOR, ContactRole.HR, ContactRole.PROGRAMME_LEAD)
    }

    # The slow referee: chased in working days, HR escalated by day 8 at the employing partner.
    jid, since, employer = journeys_waiting(demo, CheckKind.REFERENCES, Party.REFEREE)[0]
    elapsed = CAL.working_days_between(since, AS_OF)
    assert elapsed >= 8
    chase = {(r.step, r.role) for r in ledger(demo, jid) if r.rule == "references-chase"}
    assert (3, "employer_hr") in chase
    assert ((5, "programme_lead") in chase) is (elapsed >= 12)
    hr = [e for e in escalations(demo, jid) if e.role == "employer_hr"]
    assert hr and all(e.organisation_id == org_ids(demo)[employer] for e in hr)

    # Right to work waiting on the employer's HR: escalated to that HR, not left to drift.
    jid, since, employer = journeys_waiting(demo, CheckKind.RIGHT_TO_WORK, Party.EMPLOYER_HR)[0]
    assert CAL.working_days_between(since, AS_OF) >= 6
    assert "employer_hr" in {
        e.role for e in escalations(demo, jid) if e.rule == "check-waiting-on-organisation"
    }

    # Every new applicant hears their application arrived, at their own address.
    with demo:
        applied = demo.session.execute(
            select(Journey.id, Candidate.email).join(Candidate).where(Journey.state == State.APPLIED)
        ).all()
    assert applied
    for jid, email in applied:
        acks = [m for m in messages if m.journey_id == jid and m.template == "application-received"]
        assert [(m.recipient_role, m.recipient_email) for m in acks] == [("candidate", email)]

    # Closed journeys are never evaluated.
    with demo:
        closed = set(demo.session.scalars(select(Journey.id).where(Journey.state.in_(CLOSED))))
    assert closed and not closed & {r.journey_id for r in rows}


def test_a_paused_journey_gets_only_legal_deadlines(demo: UnitOfWork) -> None:
    run(demo, AS_OF)
    with demo:
        paused = list(demo.session.scalars(select(Journey.id).where(Journey.state == State.PAUSED)))
    assert len(paused) >= 3
    legal = {r.name for r in RULESET.rules if not r.pausable}
    fired = {r.rule for jid in paused for r in ledger(demo, jid)}
    assert fired <= legal, fired - legal
    # the journey paused in checks with a reference outstanding is not chased
    jid, *_ = journeys_waiting(demo, CheckKind.REFERENCES, Party.REFEREE, state=State.PAUSED)[0]
    assert not [r for r in ledger(demo, jid) if r.rule == "references-chase"]


def test_escalations_go_to_the_right_organisation(demo: UnitOfWork) -> None:
    run(demo, AS_OF)
    ids = org_ids(demo)
    with demo:
        employer_of = dict(demo.session.execute(select(Journey.id, Journey.employer_organisation_id)).all())
        host_of = dict(
            demo.session.execute(
                select(Journey.id, Team.host_organisation_id).join(Team, Journey.host_team_id == Team.id)
            ).all()
        )
        with_clinical_lead = set(
            demo.session.scalars(
                select(Contact.organisation_id).where(Contact.role == ContactRole.CLINICAL_LEAD)
            )
        )
    escs = escalations(demo)
    for e in escs:
        if e.role in ("employer_hr", "programme_lead", "coordinator"):
            assert e.organisation_id == employer_of[e.journey_id], e.rule
        elif e.role == "clinical_lead" and host_of.get(e.journey_id) in with_clinical_lead:
            assert e.organisation_id == host_of[e.journey_id], e.rule
    # a VCSE-employed PSW in an NHS team: the NHS host's clinical lead hears of missed supervision
    hosted_elsewhere = [
        e
        for e in escs
        if e.role == "clinical_lead" and host_of.get(e.journey_id) not in (None, employer_of[e.journey_id])
    ]
    assert hosted_elsewhere
    assert all(e.organisation_id == host_of[e.journey_id] for e in hosted_elsewhere)
    assert ids["NMH"] in {e.organisation_id for e in hosted_elsewhere}, "a MIND-N PSW hosted by an NMH team"


def test_a_second_sweep_on_the_same_date_creates_nothing(demo: UnitOfWork) -> None:
    first = run(demo, AS_OF)
    assert first.actions > 0
    before = counts(demo)
    again = run(demo, AS_OF)
    assert (again.actions, again.reminders, again.escalations_opened, again.escalations_closed) == (
        0,
        0,
        0,
        0,
    )
    assert again.journeys == first.journeys
    assert counts(demo) == before


def test_three_days_later_the_sweep_catches_up_without_duplicates(copies: Callable[[], UnitOfWork]) -> None:
    caught_up, nightly = copies(), copies()
    run(caught_up, AS_OF)
    late = run(caught_up, AS_OF + timedelta(days=3))
    for day in range(0, 4):
        run(nightly, AS_OF + timedelta(days=day))
    rows = ledger(caught_up)
    assert late.actions == sum(1 for r in rows if r.as_of == AS_OF + timedelta(days=3)) > 0
    steps = Counter((r.journey_id, r.rule, r.subject, r.step, r.occurrence) for r in rows)
    assert max(steps.values()) == 1, "a step fired twice under a different anchor"
    keys = {r.key for r in rows}
    night_rows = ledger(nightly)
    assert {r.key for r in night_rows if r.action == "escalate"} <= keys, "catching up loses no escalation"
    assert keys <= {r.key for r in night_rows}
    assert_one_message_per_person_and_matter(rows, outbox(caught_up))
    # and once caught up, the same date again adds nothing
    assert run(caught_up, AS_OF + timedelta(days=3)).actions == 0


def test_a_dry_run_writes_nothing_but_lists_what_a_real_run_would_create(demo: UnitOfWork) -> None:
    before = counts(demo)
    dry = sweep(demo, RULESET, AS_OF, dry_run=True, sink=sink)
    assert counts(demo) == before
    assert dry.dry_run and dry.planned and dry.actions == len(dry.planned)
    rows = planned_rows(dry.planned)
    assert len(rows) == len(dry.planned)
    assert {"to", "email", "journey", "rule", "action", "template", "subject", "day"} <= rows[0].keys()
    assert all(r["email"] and "nobody" not in str(r["to"]) for r in rows)
    real = run(demo, AS_OF)
    assert {p.action.key for p in dry.planned} == {r.key for r in ledger(demo)}
    assert (dry.actions, dry.reminders, dry.escalations_opened) == (
        real.actions,
        real.reminders,
        real.escalations_opened,
    )
    assert dry.by_rule_org == real.by_rule_org
    # a dry run after the real one lists nothing new
    assert sweep(demo, RULESET, AS_OF, dry_run=True).planned == []


def test_an_escalation_closes_once_its_cause_is_fixed(demo: UnitOfWork) -> None:
    run(demo, AS_OF)
    jid, *_ = journeys_waiting(demo, CheckKind.DBS, Party.DBS)[0]
    stalled = [e for e in escalations(demo, jid) if e.rule == "dbs-stall"]
    assert stalled and all(e.resolved_on is None for e in stalled)
    others_open = {e.id for e in escalations(demo) if e.journey_id != jid and e.resolved_on is None}
    next_day = AS_OF + timedelta(days=1)
    # (the demo applied for the pathway's level, so the result needs no level of its own)
    service.record_check(demo, ACTOR, ref(jid), CheckKind.DBS, CheckStatus.CLEARED, at=london(next_day))
    result = run(demo, next_day)
    assert result.escalations_closed >= len(stalled)
    for e in escalations(demo, jid):
        if e.rule == "dbs-stall":
            assert (e.resolved_on, e.resolution, e.resolved_by) == (next_day, "cause cleared", "sweep")
    still_open = {e.id for e in escalations(demo) if e.resolved_on is None}
    assert others_open <= still_open, "other journeys' escalations are untouched"


def test_escalations_of_a_withdrawn_journey_close(demo: UnitOfWork) -> None:
    run(demo, AS_OF)
    jid, *_ = journeys_waiting(demo, CheckKind.REFERENCES, Party.REFEREE)[0]
    mine = escalations(demo, jid)
    assert mine and all(e.resolved_on is None for e in mine)
    next_day = AS_OF + timedelta(days=1)
    service.withdraw(demo, ACTOR, ref(jid), "accepted another job", at=london(next_day))
    before = len(ledger(demo, jid))
    run(demo, next_day)
    assert all(
        (e.resolved_on, e.resolution, e.resolved_by) == (next_day, "journey closed", "sweep")
        for e in escalations(demo, jid)
    )
    assert len(ledger(demo, jid)) == before, "nothing new for a closed journey"
    assert run(demo, next_day + timedelta(days=7)).escalations_closed == 0


def test_organisation_closure_days_shift_only_that_organisations_working_day_clocks(demo: UnitOfWork) -> None:
    plain = sweep(demo, RULESET, AS_OF, dry_run=True).planned
    closed_days = [AS_OF - timedelta(days=n) for n in range(1, 15)]  # the trust shut for the last fortnight
    assert add_closures(demo, "NMH", closed_days) == len(closed_days)
    shifted = sweep(demo, RULESET, AS_OF, dry_run=True).planned
    working = {r.name for r in RULESET.rules if r.days.value == "working"}

    def view(planned, keep):  # type: ignore[no-untyped-def]
        return sorted((p.action.key, p.action.days) for p in planned if keep(p))

    def elsewhere_or_calendar(p) -> bool:  # type: ignore[no-untyped-def]
        return p.employer != "NMH" or p.action.rule not in working

    assert view(shifted, elsewhere_or_calendar) == view(plain, elsewhere_or_calendar)
    nmh_plain = {
        p.action.key: p.action.days for p in plain if p.employer == "NMH" and p.action.rule in working
    }
    nmh_shifted = {
        p.action.key: p.action.days for p in shifted if p.employer == "NMH" and p.action.rule in working
    }
    assert nmh_plain, "NMH has working-day actions due"
    assert nmh_shifted.keys() <= nmh_plain.keys(), "closures only ever delay a working-day step"
    assert all(nmh_shifted[k] <= nmh_plain[k] for k in nmh_shifted)
    delayed = [k for k in nmh_plain if k not in nmh_shifted or nmh_shifted[k] < nmh_plain[k]]
    assert delayed, "a fortnight's closure delays NMH's working-day steps"


def test_outbox_rows_carry_no_special_category_words(demo: UnitOfWork) -> None:
    run(demo, AS_OF)
    run(demo, AS_OF + timedelta(days=30))
    messages = outbox(demo)
    assert len(messages) > 50
    with demo:
        org_names = set(demo.session.scalars(select(Organisation.name)))
        event_reasons = {
            r
            for r in demo.session.scalars(select(FreeTextReason.content))  # kept apart from the log
            if len(r) > 12
        }
    # "health" is allowed only in fixed catalogue text, which is not about anyone: organisation
    # names ("... Mental Health NHS Foundation Trust"), check labels ("work health assessment"),
    # statutory module titles ("Health, safety and welfare") and rule reasons. The other words
    # are allowed nowhere, not even in catalogue text (module titles stay neutral).
    catalogue = org_names | set(CHECK_LABELS.values()) | {r.reason for r in RULESET.rules}
    catalogue |= {m.title for p in REG.all() for m in p.resolved_modules}
    catalogue |= {
        "your application",
        "first probation review",
        "second probation review",
        "final probation review",
    }
    catalogue |= {f"{k.replace('_', ' ')} supervision" for k in ("line_management", "clinical", "peer")}
    words = ("health", "diagnos", "disclos", "convict", "lived")
    never = words[1:]
    assert event_reasons, "the demo records pause, withdrawal and leaving reasons"
    for m in messages:
        context = m.context
        assert set(context) <= set(MessageContext.model_fields)
        assert not SPECIAL_CATEGORY_FIELDS & set(context)
        as_json = json.dumps(context).lower()
        assert not [w for w in never if w in as_json], (m.id, m.template, as_json)
        for reason in event_reasons:
            assert reason.lower() not in as_json, f"an event reason reached message {m.id}"
        free_text = " ".join(
            str(v) for k, v in context.items() if v is not None and v not in catalogue
        ).lower()
        assert not [w for w in words if w in free_text], (m.id, m.template, free_text)
        assert not [w for w in words if w in m.recipient_name.lower()]


def test_pausing_does_not_close_an_entered_state_escalation(demo: UnitOfWork) -> None:
    later = AS_OF + timedelta(days=21)
    run(demo, later)
    open_delay = [e for e in escalations(demo) if e.rule == "shortlisting-delay" and e.resolved_on is None]
    assert open_delay
    jid = open_delay[0].journey_id
    service.pause(demo, ACTOR, ref(jid), "candidate asked to pause", at=london(later, 17))
    run(demo, later + timedelta(days=1))
    assert all(e.resolved_on is None for e in escalations(demo, jid) if e.rule == "shortlisting-delay")


def test_resuming_continues_the_clock_instead_of_restarting_it(demo: UnitOfWork) -> None:
    later = AS_OF + timedelta(days=21)
    run(demo, later)
    first = next(e for e in escalations(demo) if e.rule == "shortlisting-delay")
    jid, anchor = first.journey_id, first.anchor
    service.pause(demo, ACTOR, ref(jid), "candidate asked to pause", at=london(later, 17))
    service.resume(demo, ACTOR, ref(jid), at=london(later + timedelta(days=2)))
    run(demo, later + timedelta(days=14))
    fired = Counter((r.rule, r.step, r.occurrence) for r in ledger(demo, jid))
    assert fired[("shortlisting-delay", 0, 0)] == 1, "the day-5 reminder went once already"
    assert {r.anchor for r in ledger(demo, jid) if r.rule == "shortlisting-delay"} == {anchor}
    with demo:
        since = demo.session.scalar(select(Journey.state_since).where(Journey.id == jid))
    assert london_date(since) == anchor, "back in `applied`, the clock runs from when it first got there"

"""Organisation scoping (issue 7) at the command line, in process, on SQLite and PostgreSQL.

The demo programme (three NHS bodies, four VCSE partners, 75 journeys: MIND-N's workers placed in
NMH teams, POSV's and T1T's in RVH teams) is loaded once per module and database, swept once as of
today (escalations and outbox messages), and every test gets its own copy.

Acting as a partner (`--as NAME@ORG`, or PEERPATH_ACTOR / PEERPATH_ORGANISATION), each listing
(`journeys`, `pipeline`, `show`, `escalations`, `outbox`) holds exactly the journeys the
organisation employs or hosts, compared with a direct query of the tables; asking for another
organisation's (`--org OTHER`) exits 2 with one line; `sweep` covers the journeys it employs; every
write on someone else's journey, team, contacts or escalations, and `outbox send`, exits 2 with one
line and changes nothing. The programme lead (`NAME@*`) sees and does everything. A partner's digest
holds only its own people.

A product bug found later is pinned as a strict xfail that says what is wrong and where.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, aliased

import notifications.models  # noqa: F401 - registers the outbox table in Base.metadata
from lifecycle.clock import london_today
from lifecycle.pathways import builtin_registry
from lifecycle.persistence.database import make_engine
from lifecycle.persistence.models import Base, Journey, Organisation, Team
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.service import Actor
from lifecycle.states import CLOSED, State
from notifications.models import OutboxMessage
from notifications.outbox import enqueue_planned
from notifications.render import template_names
from peerpath.cli import main
from peerpath.demo import DEMO_ORG_CODES, load_demo
from peerpath.digest import organisation_digest
from peerpath.migrate import upgrade
from rules.persistence import Escalation
from rules.ruleset import load_rules, rule_paths
from rules.sweep import sweep

TODAY = london_today()
LATER = TODAY + timedelta(days=21)  # new reminders and escalations fall due for every organisation
REG = builtin_registry()
ADMIN_URL = os.environ.get(
    "PEERPATH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REF = re.compile(r"\bJ-\d{6}\b")
LEAD = "Morgan Thistlewood@*"
ORGS = tuple(sorted(DEMO_ORG_CODES))
ENV = ("PEERPATH_ACTOR", "PEERPATH_ORGANISATION", "PEERPATH_RULES_DIR", "PEERPATH_PATHWAYS_DIR") + tuple(
    f"PEERPATH_SMTP_{n}" for n in ("HOST", "PORT", "SECURITY", "USERNAME", "PASSWORD", "TIMEOUT")
)


def as_partner(org: str) -> str:
    return f"Coordinator of {org}@{org}"


# The demo, once per module and database; a copy per test


def _load(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    uow = UnitOfWork(engine, REG)
    assert load_demo(uow, Actor("demo-loader"), today=TODAY).loaded
    rules = load_rules(rule_paths(None), templates=template_names(), pathways=REG)
    result = sweep(uow, rules, TODAY, sink=lambda s, planned, now: enqueue_planned(s, planned, now, REG))
    assert result.escalations_opened > 0 and result.reminders > 0
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()


def _admin() -> Engine:
    return create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")


def _pg_url(name: str) -> str:
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def sqlite_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scoping-demo") / "demo.db"
    _load(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="module")
def postgres_demo(request: pytest.FixtureRequest) -> Iterator[str]:
    request.getfixturevalue("postgres_url")  # skips (or fails under CI) when PostgreSQL is unreachable
    name = f"peerpath_scoping_{uuid.uuid4().hex[:10]}"
    admin = _admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        _load(_pg_url(name))
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _forget_cached_engine(url: str) -> None:
    """peerpath.app caches one engine per URL: close this test's, so its database can be dropped."""
    from peerpath import app

    app._engine(url).dispose()
    app._engine.cache_clear()


@pytest.fixture(params=["sqlite", "postgres"])
def demo_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "demo.db"
        shutil.copy(request.getfixturevalue("sqlite_demo"), path)
        url = f"sqlite:///{path}"
        yield url
        _forget_cached_engine(url)
        return
    source = request.getfixturevalue("postgres_demo")
    name = f"{source}_{uuid.uuid4().hex[:6]}"
    admin = _admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{source}"'))
    url = _pg_url(name)
    try:
        yield url
    finally:
        _forget_cached_engine(url)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        assert self.code == 0, self.err
        return json.loads(self.out)


Cli = Callable[..., Result]


def make_cli(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], folder: Path
) -> Cli:
    monkeypatch.chdir(folder)  # no stray .env file gets read
    monkeypatch.setenv("PEERPATH_DATABASE_URL", url)
    for name in ENV:
        monkeypatch.delenv(name, raising=False)

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


@pytest.fixture
def cli(
    demo_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> Cli:
    return make_cli(demo_url, monkeypatch, capsys, tmp_path)


def refused(result: Result, message: str) -> None:
    """Exit 2, nothing on stdout, exactly one line on stderr: `error: <message>`."""
    assert (result.code, result.out) == (2, ""), result
    assert result.err == f"error: {message}\n", result.err


# Straight from the tables


@contextmanager
def session(url: str) -> Iterator[Session]:
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            yield s
    finally:
        engine.dispose()


def query(url: str, fn: Callable[[Session], Any]) -> Any:
    with session(url) as s:
        return fn(s)


def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: a refusal must leave all of them as they were."""
    return query(
        url,
        lambda s: {
            t.name: sorted((tuple(r) for r in s.execute(select(t))), key=repr)
            for t in Base.metadata.sorted_tables
        },
    )


def journeys_of(url: str, org: str | None, *, employed_only: bool = False) -> dict[str, dict[str, Any]]:
    """ref -> employer, host organisation, state, pathway: the journeys `org` employs or hosts (None: all)."""
    employer, host = aliased(Organisation), aliased(Organisation)

    def read(s: Session) -> dict[str, dict[str, Any]]:
        stmt = (
            select(Journey.id, employer.code, host.code, Journey.state, Journey.pathway_id)
            .join(employer, Journey.employer_organisation_id == employer.id)
            .outerjoin(Team, Journey.host_team_id == Team.id)
            .outerjoin(host, Team.host_organisation_id == host.id)
        )
        if org is not None:
            stmt = stmt.where(
                employer.code == org if employed_only else (employer.code == org) | (host.code == org)
            )
        return {
            f"J-{jid:06d}": {"employer": e, "host": h, "state": State(st), "pathway": p}
            for jid, e, h, st, p in s.execute(stmt)
        }

    return query(url, read)


def escalations_about(url: str, refs: set[str]) -> set[int]:
    return query(
        url, lambda s: {e.id for e in s.scalars(select(Escalation)) if f"J-{e.journey_id:06d}" in refs}
    )


def messages_about(url: str, refs: set[str]) -> set[int]:
    return query(
        url,
        lambda s: {
            m.id for m in s.scalars(select(OutboxMessage)) if m.journey_id and f"J-{m.journey_id:06d}" in refs
        },
    )


def first(url: str, state: State, *, employer: str, host: str | None = None) -> str:
    found = [
        ref
        for ref, j in sorted(journeys_of(url, None).items())
        if j["state"] is state and j["employer"] == employer and j["host"] == host
    ]
    assert found, f"the demo has no {state.value} journey employed by {employer}, hosted by {host}"
    return found[0]


# Listings


@pytest.mark.parametrize("org", [*ORGS, "*"])
def test_every_listing_holds_exactly_the_journeys_the_organisation_employs_or_hosts(
    cli: Cli, demo_url: str, org: str
) -> None:
    actor = LEAD if org == "*" else as_partner(org)
    mine = journeys_of(demo_url, None if org == "*" else org)
    refs = set(mine)  # NMICB (the integrated care board) employs and hosts nobody: it sees nothing

    listed = cli("--as", actor, "journeys", "--json").json()
    assert {j["ref"] for j in listed} == refs
    assert len(listed) == len(refs)

    pipeline = cli("--as", actor, "pipeline", "--json").json()
    counted = Counter(
        {
            (state, pathway): n
            for state, by_pathway in pipeline.items()
            for pathway, n in by_pathway.items()
            if n
        }
    )
    assert counted == Counter((j["state"].value, j["pathway"]) for j in mine.values())

    escalations = cli("--as", actor, "escalations", "--json").json()
    assert {e["id"] for e in escalations} == escalations_about(demo_url, refs)
    assert {e["journey"] for e in escalations} <= refs

    outbox = cli("--as", actor, "outbox", "--json", "--limit", "10000").json()
    assert {m["id"] for m in outbox} == messages_about(demo_url, refs)
    assert {m["journey"] for m in outbox} <= refs

    if org != "*":
        outsiders = {ref: j for ref, j in journeys_of(demo_url, None).items() if ref not in refs}
        assert outsiders, "every journey is this organisation's: the test proves nothing"
        for ref in one_per_employer_and_host(outsiders):
            refused(
                cli("--as", actor, "show", ref, "--json"),
                f"{ref} is not a journey that {org} employs or hosts",
            )
    for ref in one_per_employer_and_host(mine):
        shown = cli("--as", actor, "show", ref, "--json").json()
        assert shown["journey"] == ref and org in ("*", shown["employer"], mine[ref]["host"])


def one_per_employer_and_host(journeys: dict[str, dict[str, Any]]) -> list[str]:
    """The first journey of every (employer, host organisation) pair, for `show` (every journey of
    every organisation would take minutes; the refusal itself is tested on every action in
    tests/integration/test_scoping.py)."""
    chosen: dict[tuple[str, str | None], str] = {}
    for ref in sorted(journeys):
        chosen.setdefault((journeys[ref]["employer"], journeys[ref]["host"]), ref)
    return sorted(chosen.values())


def test_a_host_sees_the_partners_workers_placed_with_it_and_nothing_else_of_theirs(
    cli: Cli, demo_url: str
) -> None:
    """NMH hosts MIND-N's placed workers: it lists and shows those, but not MIND-N's other journeys."""
    mind_n = journeys_of(demo_url, "MIND-N")
    hosted = {ref for ref, j in mind_n.items() if j["host"] == "NMH"}
    unplaced = {ref for ref, j in mind_n.items() if j["host"] is None}
    assert hosted and unplaced
    listed = {j["ref"] for j in cli("--as", as_partner("NMH"), "journeys", "--json").json()}
    assert hosted <= listed and not unplaced & listed
    for ref in sorted(hosted):
        assert cli("--as", as_partner("NMH"), "show", ref, "--json").json()["employer"] == "MIND-N"


def test_an_unknown_journey_reads_like_another_organisations(cli: Cli) -> None:
    refused(
        cli("--as", as_partner("MIND-N"), "show", "J-999999"),
        "J-999999 is not a journey that MIND-N employs or hosts",
    )
    refused(cli("--as", LEAD, "show", "J-999999"), "unknown journey 'J-999999'")


@pytest.mark.parametrize("command", ["journeys", "pipeline"])
def test_a_partner_asking_for_another_organisations_listing_is_refused(
    cli: Cli, demo_url: str, command: str
) -> None:
    for other in ("NMH", "posv"):
        refused(
            cli("--as", as_partner("MIND-N"), command, "--org", other, "--json"),
            f"MIND-N can only see its own journeys, not {other.upper()}'s",
        )
    own = cli("--as", as_partner("MIND-N"), command, "--json").json()
    assert cli("--as", as_partner("MIND-N"), command, "--org", "mind-n", "--json").json() == own
    assert cli("--as", LEAD, command, "--org", "MIND-N", "--json").json() == own  # the lead may ask for any


def test_a_partner_asking_for_another_organisations_escalations_is_refused(cli: Cli) -> None:
    refused(
        cli("--as", as_partner("MIND-N"), "escalations", "--org", "NMH", "--json"),
        "MIND-N can only see its own journeys, not NMH's",
    )


def test_the_partners_escalations_escalated_to_another_organisation_show_only_its_own_journeys(
    cli: Cli, demo_url: str
) -> None:
    """Whatever `escalations --org OTHER` does for a partner (refused: see the test above), it shows none of
    the other organisation's journeys."""
    result = cli("--as", as_partner("MIND-N"), "escalations", "--org", "NMH", "--json")
    assert result.code in (0, 2), result
    if result.code == 0:
        assert {e["journey"] for e in json.loads(result.out)} <= set(journeys_of(demo_url, "MIND-N"))


@pytest.mark.parametrize(
    "settings",
    [
        {"PEERPATH_ACTOR": "Jess Oyelaran", "PEERPATH_ORGANISATION": "mind-n"},
        {"PEERPATH_ACTOR": "Jess Oyelaran@MIND-N"},
        {"PEERPATH_ACTOR": "Jess Oyelaran@MIND-N", "PEERPATH_ORGANISATION": "*"},
        {"PEERPATH_ACTOR": "Jess Oyelaran@mind-n", "PEERPATH_ORGANISATION": "NMH"},
    ],
)
def test_the_actor_and_organisation_can_come_from_the_settings(
    cli: Cli, demo_url: str, monkeypatch: pytest.MonkeyPatch, settings: dict[str, str]
) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    listed = {j["ref"] for j in cli("journeys", "--json").json()}
    assert listed == set(journeys_of(demo_url, "MIND-N"))
    refused(cli("journeys", "--org", "NMH"), "MIND-N can only see its own journeys, not NMH's")
    ref = first(demo_url, State.APPLIED, employer="MIND-N")
    assert cli("trigger", ref, "shortlist").code == 0
    assert cli("show", ref, "--json").json()["timeline"][-1]["actor"] == "Jess Oyelaran"


def test_as_overrides_the_settings(cli: Cli, demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PEERPATH_ACTOR", "Jess Oyelaran")
    monkeypatch.setenv("PEERPATH_ORGANISATION", "MIND-N")
    assert {j["ref"] for j in cli("--as", "Sam@NMH", "journeys", "--json").json()} == set(
        journeys_of(demo_url, "NMH")
    )
    assert len(cli("--as", "Morgan@*", "journeys", "--json").json()) == len(journeys_of(demo_url, None))
    assert {j["ref"] for j in cli("--as", "Jess", "journeys", "--json").json()} == set(
        journeys_of(demo_url, "MIND-N")
    )


def test_an_email_address_as_the_actor_still_works(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PEERPATH_ACTOR", "sam.okafor@nmh.nhs.uk")
    result = cli("journeys", "--json")
    assert result.code == 0, result.err


# The sweep and the outbox


def planned_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[k] for k in ("journey", "rule", "action", "template", "day", "to"))


@pytest.mark.parametrize("org", ORGS)
def test_a_partners_dry_run_sweep_lists_only_the_journeys_it_employs(
    cli: Cli, demo_url: str, org: str
) -> None:
    employed = journeys_of(demo_url, org, employed_only=True)
    open_employed = {ref for ref, j in employed.items() if j["state"] not in CLOSED}
    before = dump(demo_url)
    everyone = cli("--as", LEAD, "sweep", "--dry-run", "--json", "--as-of", LATER.isoformat()).json()
    mine = cli("--as", as_partner(org), "sweep", "--dry-run", "--json", "--as-of", LATER.isoformat()).json()
    assert dump(demo_url) == before, "a dry run wrote to the database"

    # every open journey it employs is accounted for: evaluated, or unchanged with nothing due
    assert mine["journeys"] + mine["unchanged_not_due"] == len(open_employed)
    listed = {row["journey"] for row in mine["planned"]}
    assert listed <= open_employed, (
        f"{org}'s preview lists others' journeys: {sorted(listed - open_employed)}"
    )
    expected = sorted(planned_key(r) for r in everyone["planned"] if r["journey"] in employed)
    assert sorted(planned_key(r) for r in mine["planned"]) == expected
    assert {r["organisation"] for r in mine["by_rule_and_organisation"]} <= {org}
    if org in ("MIND-N", "NMH", "POSV", "RVH", "T1T"):
        assert mine["planned"], f"nothing due for {org} on {LATER}: the test proves nothing"


def test_a_partners_sweep_writes_only_about_the_journeys_it_employs(cli: Cli, demo_url: str) -> None:
    everyone = set(journeys_of(demo_url, None))
    employed = set(journeys_of(demo_url, "MIND-N", employed_only=True))
    nmh_own = {ref for ref, j in journeys_of(demo_url, "NMH").items() if j["employer"] == "NMH"}
    escalations, messages = escalations_about(demo_url, everyone), messages_about(demo_url, everyone)

    summary = cli("--as", as_partner("MIND-N"), "sweep", "--json", "--as-of", LATER.isoformat()).json()
    new_escalations = escalations_about(demo_url, everyone) - escalations
    new_messages = messages_about(demo_url, everyone) - messages
    assert summary["actions"] > 0 and new_messages, (
        "the partner's sweep queued nothing: the test proves nothing"
    )
    assert new_escalations <= escalations_about(demo_url, employed)
    assert new_messages <= messages_about(demo_url, employed)

    lead = cli("--as", LEAD, "sweep", "--json", "--as-of", LATER.isoformat()).json()
    after_lead = messages_about(demo_url, everyone) - messages - new_messages
    assert lead["actions"] > 0 and after_lead, "MIND-N's sweep must not have covered the others' journeys"
    assert not after_lead & messages_about(demo_url, employed), "MIND-N's journeys were swept twice"
    assert after_lead & messages_about(demo_url, nmh_own)


@pytest.mark.parametrize("org", ["MIND-N", "NMH"])
def test_only_the_programme_lead_sends_the_outbox(cli: Cli, demo_url: str, tmp_path: Path, org: str) -> None:
    before = dump(demo_url)
    message = f"only the programme lead can send the outbox ({org} acts for itself only)"
    refused(cli("--as", as_partner(org), "outbox", "send"), message)
    sink = tmp_path / "mail"
    refused(cli("--as", as_partner(org), "outbox", "send", "--to-sink", str(sink), "--limit", "3"), message)
    assert not sink.exists() or not any(sink.iterdir())
    assert dump(demo_url) == before
    sent = cli("--as", LEAD, "outbox", "send", "--to-sink", str(sink), "--limit", "3")
    assert sent.code == 0 and sent.out.startswith("sent 3,"), sent


# Every write on another organisation's journey, team, contacts or escalations


def refs_for_writes(url: str) -> dict[str, str]:
    """Journeys MIND-N neither employs nor hosts (NMH's own), in the states each command needs; one of
    their escalations and outbox messages; a training module that journey has still to do."""
    nmh_only = set(journeys_of(url, "NMH", employed_only=True)) - set(journeys_of(url, "MIND-N"))
    escalation = min(escalations_about(url, nmh_only))
    training = first(url, State.TRAINING, employer="NMH")

    def details(s: Session) -> tuple[str, str]:
        journey = s.get(Journey, int(training[2:]))
        assert journey is not None
        done = {t.module for t in journey.training if t.completed_on}
        module = next(m.id for m in REG.get(journey.pathway_id).resolved_modules if m.id not in done)
        return f"J-{s.get(Escalation, escalation).journey_id:06d}", module  # type: ignore[union-attr]

    escalation_journey, module = query(url, details)
    return {
        "applied": first(url, State.APPLIED, employer="NMH"),
        "shortlisted": first(url, State.SHORTLISTED, employer="NMH"),
        "interview_scheduled": first(url, State.INTERVIEW_SCHEDULED, employer="NMH"),
        "checks": first(url, State.CHECKS, employer="NMH"),
        "training": training,
        "module": module,
        "paused": first(url, State.PAUSED, employer="NMH"),
        "probation": first(url, State.PROBATION, employer="NMH", host="NMH"),
        "escalation": str(escalation),
        "escalation_journey": escalation_journey,
        "message": str(min(messages_about(url, nmh_only))),
    }


TODAY_S = TODAY.isoformat()
WRITES: list[tuple[list[str], str]] = [
    (["trigger", "{applied}", "shortlist"], "{applied} is not a journey that MIND-N employs or hosts"),
    (["trigger", "{checks}", "withdraw", "--reason", "x"], "{checks} is not a journey that MIND-N employs or hosts"),
    (["check", "{checks}", "dbs", "cleared"], "{checks} is not a journey that MIND-N employs or hosts"),
    (["training", "{training}", "{module}"], "{training} is not a journey that MIND-N employs or hosts"),
    (["place", "{training}", "NMH-CMHT-N"], "{training} is not a journey that MIND-N employs or hosts"),
    (["place", "{training}", "MIND-N-HAVEN"], "{training} is not a journey that MIND-N employs or hosts"),
    (["supervision", "{probation}", "peer", "--due", TODAY_S, "--held", TODAY_S],
     "{probation} is not a journey that MIND-N employs or hosts"),
    (["review", "{probation}", "first", "pass"], "{probation} is not a journey that MIND-N employs or hosts"),
    (["pause", "{shortlisted}", "--reason", "wellbeing"], "{shortlisted} is not a journey that MIND-N employs or hosts"),
    (["resume", "{paused}"], "{paused} is not a journey that MIND-N employs or hosts"),
    (["withdraw", "{interview_scheduled}"], "{interview_scheduled} is not a journey that MIND-N employs or hosts"),
    (["leave", "{probation}", "--reason", "moved away"], "{probation} is not a journey that MIND-N employs or hosts"),
    (["book", "{shortlisted}", "interview", "--at", f"{TODAY_S}T10:00"],
     "{shortlisted} is not a journey that MIND-N employs or hosts"),
    (["book", "{probation}", "review", "--at", f"{TODAY_S}T10:00", "--name", "first"],
     "{probation} is not a journey that MIND-N employs or hosts"),
    (["book", "{probation}", "supervision", "--at", f"{TODAY_S}T10:00", "--name", "peer"],
     "{probation} is not a journey that MIND-N employs or hosts"),
    (["applicant", "add", "Ada", "Quill", "ada.quill@example.com", "--pathway", "adult-community-mental-health",
      "--org", "NMH"], "MIND-N cannot register applicants for NMH"),
    (["team", "add", "NMH-NEW", "New team", "--org", "NMH", "--speciality", "mental-health"],
     "MIND-N cannot add teams for NMH"),
    (["team", "ready", "NMH-CMHT-N", "--not-briefed"], "MIND-N cannot change teams for NMH"),
    (["team", "ready", "NMH-CRHT", "--supervisor", "Someone"], "MIND-N cannot change teams for NMH"),
    (["org", "add", "NEWORG", "New organisation", "--kind", "vcse"],
     "only the programme lead can add organisations (MIND-N acts for itself only)"),
    (["org", "contact", "NMH", "hr", "Rae Hart", "rae@example.org"], "MIND-N cannot add contacts for NMH"),
    (["escalation", "resolve", "{escalation}", "--note", "sorted"],
     "escalation {escalation} is not about a journey that MIND-N employs or hosts"),  # names no journey
    (["outbox", "send"], "only the programme lead can send the outbox (MIND-N acts for itself only)"),
    (["outbox", "retry", "{message}"], "outbox message {message} is not about a journey that MIND-N employs or hosts"),
    (["org", "closure", "NMH", TODAY_S], "MIND-N cannot add closure days for NMH"),
    (["sensitive", "add", "{probation}", "lived_experience_note", "SENTINEL"],
     "{probation} is not a journey that MIND-N employs or hosts"),
    (["sensitive", "show", "{probation}", "--json"], "{probation} is not a journey that MIND-N employs or hosts"),
    (["retention", "--dry-run"], "only the programme lead can apply the retention rules (MIND-N acts for itself only)"),
    (["retention"], "only the programme lead can apply the retention rules (MIND-N acts for itself only)"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "message"), WRITES, ids=[" ".join(a[:2]) for a, _ in WRITES])
def test_every_write_on_another_organisations_journeys_teams_or_contacts_is_refused(
    cli: Cli, demo_url: str, args: list[str], message: str
) -> None:
    refs = refs_for_writes(demo_url)
    filled = [a.format(**refs) for a in args]
    before = dump(demo_url)
    refused(cli("--as", as_partner("MIND-N"), *filled), message.format(**refs))
    assert dump(demo_url) == before, f"`{' '.join(filled)}` was refused but changed the database"


def test_an_import_with_rows_for_another_employer_is_refused_row_by_row(
    cli: Cli, demo_url: str, tmp_path: Path
) -> None:
    csv = tmp_path / "applicants.csv"
    csv.write_text(
        "first_name,last_name,email,pathway,employer,applied_on\n"
        f"Ann,Lee,ann.lee@example.com,adult-community-mental-health,MIND-N,{TODAY_S}\n"
        f"Bob,Ray,bob.ray@example.com,adult-community-mental-health,NMH,{TODAY_S}\n"
        f"Cy,Nu,cy.nu@example.com,hiv,POSV,{TODAY_S}\n"
    )
    before = dump(demo_url)
    result = cli("--as", as_partner("MIND-N"), "import-applicants", str(csv))
    assert result.code == 2 and result.out.strip() == "", result  # (the progress bar leaves a blank line)
    assert result.err.splitlines() == [
        "applicants.csv: line 3: MIND-N cannot register applicants for NMH",
        "applicants.csv: line 4: MIND-N cannot register applicants for POSV",
        "error: applicants.csv: 2 bad row(s); nothing imported",
    ]
    assert dump(demo_url) == before
    done = cli("--as", LEAD, "import-applicants", str(csv))
    assert done.code == 0 and done.out.strip().startswith("imported 3 applicant(s)"), done


def test_a_partner_may_not_add_closure_days_to_another_organisation(cli: Cli, demo_url: str) -> None:
    before = dump(demo_url)
    result = cli(
        "--as", as_partner("MIND-N"), "org", "closure", "NMH", (TODAY + timedelta(days=30)).isoformat()
    )
    assert dump(demo_url) == before, "MIND-N changed NMH's working calendar"
    assert result.code == 2, result


def test_a_partner_may_not_retry_another_organisations_message(cli: Cli, demo_url: str) -> None:
    message = refs_for_writes(demo_url)["message"]
    before = dump(demo_url)
    result = cli("--as", as_partner("MIND-N"), "outbox", "retry", message)
    assert dump(demo_url) == before, "MIND-N requeued a message about an NMH journey"
    assert result.code == 2, result


def test_the_employer_the_host_and_the_lead_may_write(cli: Cli, demo_url: str) -> None:
    placed = first(demo_url, State.PROBATION, employer="MIND-N", host="NMH")
    applied = first(demo_url, State.APPLIED, employer="MIND-N")
    for actor in (as_partner("MIND-N"), as_partner("NMH"), LEAD):  # employer, host, programme lead
        done = cli("--as", actor, "supervision", placed, "peer", "--due", TODAY_S, "--held", TODAY_S)
        assert done.code == 0, done
        assert (
            cli("--as", actor, "show", placed, "--json").json()["timeline"][-1]["actor"]
            == actor.split("@")[0]
        )
    refused(
        cli("--as", as_partner("NMH"), "trigger", applied, "shortlist"),
        f"{applied} is not a journey that NMH employs or hosts",
    )  # not placed with NMH
    assert cli("--as", as_partner("MIND-N"), "trigger", applied, "shortlist").code == 0
    assert cli("--as", as_partner("MIND-N"), "team", "ready", "MIND-N-HAVEN", "--briefed").code == 0
    assert (
        cli(
            "--as", as_partner("MIND-N"), "org", "contact", "mind-n", "hr", "Rae Hart", "rae@example.org"
        ).code
        == 0
    )


@pytest.mark.parametrize(("org", "allowed"), [("MIND-N", True), ("NMH", True), ("POSV", False), ("*", True)])
def test_escalations_are_resolved_by_the_organisations_that_may_see_them(
    cli: Cli, demo_url: str, org: str, allowed: bool
) -> None:
    placed = {ref for ref, j in journeys_of(demo_url, "MIND-N").items() if j["host"] == "NMH"}
    escalation = min(escalations_about(demo_url, placed))
    ref = query(demo_url, lambda s: f"J-{s.get(Escalation, escalation).journey_id:06d}")
    actor = LEAD if org == "*" else as_partner(org)
    before = dump(demo_url)
    result = cli("--as", actor, "escalation", "resolve", str(escalation), "--note", "sorted by phone")
    if allowed:
        assert result.code == 0 and result.out == f"escalation {escalation} resolved\n", result
        resolved = cli("--as", actor, "escalations", "--json").json()
        assert next(e for e in resolved if e["id"] == escalation)["resolved_on"] is not None
    else:
        refused(result, f"escalation {escalation} is not about a journey that {org} employs or hosts")
        assert ref not in result.err  # another organisation's escalation reads like an unknown one
        assert dump(demo_url) == before


def test_a_partner_cannot_load_the_demo(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run = make_cli(database_url, monkeypatch, capsys, tmp_path)
    before = dump(database_url)
    result = run("--as", as_partner("MIND-N"), "demo")
    assert (result.code, result.out) == (2, "") and result.err.count("\n") == 1, result
    assert result.err.startswith("error: MIND-N cannot register applicants for "), result.err
    assert dump(database_url) == before, "a refused demo load left rows behind"
    _forget_cached_engine(database_url)


# The partner digest


def test_each_organisations_digest_holds_only_its_own_people(demo_url: str) -> None:
    everyone = journeys_of(demo_url, None)
    open_escalations = query(
        demo_url,
        lambda s: {
            f"J-{j:06d}"
            for j in s.scalars(select(Escalation.journey_id).where(Escalation.resolved_on.is_(None)))
        },
    )
    shown_anywhere: set[str] = set()
    for org in ORGS:
        mine = journeys_of(demo_url, org)
        digest = query(demo_url, lambda s, org=org: organisation_digest(s, org, TODAY))
        markdown = digest.markdown()
        shown = set(REF.findall(markdown))
        assert shown <= set(mine), f"{org}'s digest shows others' journeys: {sorted(shown - set(mine))}"
        assert shown == set(mine) & open_escalations, f"{org}'s digest misses some of its open escalations"
        assert sum(digest.by_state.values()) == sum(1 for j in mine.values() if j["state"] not in CLOSED)
        assert Counter(digest.by_state) == Counter(
            j["state"].value for j in mine.values() if j["state"] not in CLOSED
        )
        others = {ref for ref in everyone if ref not in mine}
        assert not others & shown
        shown_anywhere |= shown
    assert shown_anywhere, "no escalation in any digest: the test proves nothing"


def test_a_partner_may_not_erase_another_organisations_candidate(cli: Cli, demo_url: str) -> None:
    def withdrawn_nmh_candidate(s: Session) -> str:
        journey = s.get(Journey, int(first(demo_url, State.WITHDRAWN, employer="NMH")[2:]))
        assert journey is not None
        return journey.candidate.ref

    candidate = query(demo_url, withdrawn_nmh_candidate)
    before = dump(demo_url)
    result = cli("--as", as_partner("MIND-N"), "erase", candidate)
    assert (result.code, result.out) == (2, "") and result.err.count("\n") == 1, result
    assert result.err.startswith(f"error: MIND-N cannot erase {candidate}"), result.err
    assert dump(demo_url) == before
    assert cli("--as", as_partner("NMH"), "erase", candidate, "--json").code == 0  # its employer may


def test_the_host_may_not_read_or_keep_the_workers_special_category_notes(cli: Cli, demo_url: str) -> None:
    placed = first(demo_url, State.PROBATION, employer="MIND-N", host="NMH")
    assert (
        cli(
            "--as", as_partner("MIND-N"), "sensitive", "add", placed, "lived_experience_note", "SENTINEL"
        ).code
        == 0
    )
    before = dump(demo_url)
    refused(
        cli("--as", as_partner("NMH"), "sensitive", "show", placed, "--json"),
        "only the employing organisation (MIND-N) reads special-category notes",
    )
    refused(
        cli("--as", as_partner("NMH"), "sensitive", "add", placed, "dbs_disclosure", "SENTINEL-2"),
        "only the employing organisation (MIND-N) keeps special-category notes",
    )
    assert dump(demo_url) == before
    for actor in (as_partner("MIND-N"), LEAD):
        notes = cli("--as", actor, "sensitive", "show", placed, "--json").json()
        assert [n["content"] for n in notes] == ["SENTINEL"]

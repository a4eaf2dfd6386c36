"""A small programme built by hand through the service layer, with explicit times, so that every
report figure has a known right answer (worked out in the comments and in the tests).

Day n is T0 + n days (T0: Monday 5 January 2026, 09:00 UTC); AS_OF is day 269 (1 October 2026).
Journeys are numbered in registration order (J-000001 ... J-000009):

  A  J1 mental-health  NMH     applied d0, hired d35, placed CMHT-N d63, embedded d231
  B  J2 mental-health  MIND-N  applied d0, paused d20-d34 in checks, hired d56, placed CMHT-N d70, left d120
  C  J3 diabetes       RVH     applied d0, shortlisted d4, not appointed d6
  D  J4 diabetes       RVH     applied d0, offered d10, withdrew d12
  G  J5 diabetes       RVH     applied d0, hired d28, placed DIAB d42, final review extended d210, embedded d266
  H  J6 mental-health  MIND-N  applied d20, hired d77, placed HAVEN d90, final review (due d258) not held
  I  J7 mental-health  NMH     applied d150, hired d190, in training since d200
  E  J8 mental-health  NMH     applied d200, in checks since d210, DBS waiting since d212
  F  J9 mental-health  NMH     applied d250, paused d255 (still paused)

Candidate names are distinctive ("Zebedee", "Quillfeather") so tests can check none leaks out.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from lifecycle import service
from lifecycle.pathways import TrainingStage, builtin_registry
from lifecycle.persistence.database import make_engine
from lifecycle.persistence.models import Base
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.states import CheckKind, CheckStatus, Party

ACTOR = service.Actor("insight-test")
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday; no bank holiday until Good Friday (3 April)
AS_OF_DAY = 269
MH = "adult-community-mental-health"
DIABETES = "type-1-diabetes"


def at(day: int) -> datetime:
    return T0 + timedelta(days=day)


def on(day: int) -> date:
    return (T0 + timedelta(days=day)).date()


AS_OF = on(AS_OF_DAY)


@dataclass
class Built:
    refs: dict[str, str]  # letter -> journey reference
    uow: UnitOfWork | None = None


class _J:
    """Drives one journey through the real service calls."""

    def __init__(self, uow: UnitOfWork, letter: str, pathway: str, employer: str, applied: int):
        self.uow, self.pathway = uow, pathway
        applicant = service.Applicant.clean(
            "Zebedee", f"Quillfeather{letter}", f"zebedee.{letter.lower()}@example.com", pathway, employer,
            on(applied),
        )  # fmt: skip
        self.ref = service.register_applicant(uow, ACTOR, applicant, at=at(applied))

    def go(self, trigger: str, day: int, **kwargs: object) -> _J:
        service.apply_trigger(self.uow, ACTOR, self.ref, trigger, at=at(day), **kwargs)  # type: ignore[arg-type]
        return self

    def recruit(self, shortlist: int, schedule: int, interview: int, offer: int, accept: int) -> _J:
        for trigger, day in (("shortlist", shortlist), ("schedule_interview", schedule),
                             ("record_interview", interview), ("offer", offer), ("accept_offer", accept)):  # fmt: skip
            self.go(trigger, day)
        return self

    def check(self, kind: CheckKind, status: CheckStatus, day: int, party: Party | None = None) -> _J:
        spec = self.uow.pathways.get(self.pathway).checks.dbs
        dbs = {"dbs_level": spec.level, "dbs_workforce": spec.workforce} if kind is CheckKind.DBS else {}
        service.record_check(self.uow, ACTOR, self.ref, kind, status, waiting_on=party, at=at(day), **dbs)
        return self

    def checks(self, identity: tuple[int, int], refs: tuple[int, int], dbs: tuple[int, int], health: tuple[int, int]) -> _J:  # fmt: skip
        """Each check: (requested day, cleared day). Right to work is seen with identity."""
        W, C = CheckStatus.WAITING, CheckStatus.CLEARED
        steps = [
            (identity[0], CheckKind.IDENTITY, W, Party.CANDIDATE), (identity[1], CheckKind.IDENTITY, C, None),
            (identity[1], CheckKind.RIGHT_TO_WORK, C, None),
            (refs[0], CheckKind.REFERENCES, W, Party.REFEREE), (refs[1], CheckKind.REFERENCES, C, None),
            (dbs[0], CheckKind.DBS, W, Party.DBS), (dbs[1], CheckKind.DBS, C, None),
            (health[0], CheckKind.WORK_HEALTH, W, Party.OCCUPATIONAL_HEALTH), (health[1], CheckKind.WORK_HEALTH, C, None),
        ]  # fmt: skip
        for day, kind, status, party in sorted(steps, key=lambda s: s[0]):
            self.check(kind, status, day, party)
        return self

    def hire(self, clear: int, start: int, inducted: int) -> _J:
        self.go("clear", clear, start_date=on(start)).go("start", start)
        self.train(TrainingStage.INDUCTION, inducted - 1)
        return self.go("complete_induction", inducted)

    def train(self, stage: TrainingStage, day: int) -> None:
        for module in self.uow.pathways.get(self.pathway).modules_for(stage):
            service.record_training(self.uow, ACTOR, self.ref, module.id, at=at(day))

    def place(self, team: str, day: int) -> _J:
        self.train(TrainingStage.BEFORE_PLACEMENT, day - 1)
        service.place_in_team(self.uow, ACTOR, self.ref, team, at=at(day))
        return self

    def review(self, outcome: str, day: int) -> _J:
        if outcome == "pass":  # a final pass needs the earlier reviews held and the training complete
            self.train(TrainingStage.PROBATION, day - 1)
            with self.uow:
                earlier = [
                    r.name for r in self.uow.journey(self.ref).reviews if r.name != "final" and not r.held_on
                ]
            pathway = self.uow.pathways.get(self.pathway)
            for name in earlier:
                if not next(p for p in pathway.probation.reviews if p.name == name).optional:
                    service.record_review(self.uow, ACTOR, self.ref, name, "pass", at=at(day - 1))
        service.record_review(self.uow, ACTOR, self.ref, "final", outcome, at=at(day))
        return self

    def sessions(
        self, kind: str, placed: int, every: int, held: list[int], missed: list[int], day: int
    ) -> _J:
        """Sessions due at placed + k*every: k in `held` held on the due day, k in `missed` missed."""
        for k in sorted(held + missed):
            due = on(placed + k * every)
            service.record_supervision(self.uow, ACTOR, self.ref, kind, due_on=due,
                                       held_on=due if k in held else None, at=at(day))  # fmt: skip
        return self


def build(uow: UnitOfWork) -> Built:
    for code, kind in (("NMH", "nhs_trust"), ("MIND-N", "vcse"), ("RVH", "nhs_trust")):
        service.add_organisation(uow, code, f"Test {code}", kind, at=at(-30))
    ready = {"supervisor_name": "Sam Supervisor", "team_briefed": True, "role_description_agreed": True,
             "peer_supervision_arranged": True}  # fmt: skip
    service.add_team(uow, "CMHT-N", "Community team north", "NMH", "mental-health", **ready)
    service.add_team(uow, "HAVEN", "Safe haven", "MIND-N", "mental-health", **ready)
    service.add_team(uow, "DIAB", "Diabetes clinic", "RVH", "diabetes", **ready)
    service.add_team(uow, "CRHT", "Crisis team", "NMH", "mental-health", team_briefed=True,
                     role_description_agreed=True, peer_supervision_arranged=True)  # no named supervisor  # fmt: skip
    K = CheckKind
    refs: dict[str, str] = {}

    a = _J(uow, "A", MH, "NMH", 0).recruit(2, 4, 7, 8, 9)
    a.checks(identity=(9, 11), refs=(9, 21), dbs=(11, 25), health=(9, 16))
    a.hire(clear=28, start=35, inducted=49).place("CMHT-N", 63)
    refs["A"] = a.ref

    b = _J(uow, "B", MH, "MIND-N", 0).recruit(3, 5, 10, 12, 14)
    W, C = CheckStatus.WAITING, CheckStatus.CLEARED
    b.check(K.IDENTITY, W, 14, Party.CANDIDATE).check(K.REFERENCES, W, 14, Party.REFEREE)
    b.check(K.WORK_HEALTH, W, 14, Party.OCCUPATIONAL_HEALTH).check(K.IDENTITY, C, 15).check(
        K.RIGHT_TO_WORK, C, 15
    )
    b.check(K.DBS, W, 15, Party.DBS).check(K.WORK_HEALTH, C, 18).check(K.REFERENCES, C, 20)
    service.pause(uow, ACTOR, b.ref, "candidate asked to pause", at=at(20) + timedelta(hours=1))
    service.resume(uow, ACTOR, b.ref, at=at(34))
    b.check(K.DBS, C, 45).hire(clear=46, start=56, inducted=60).place("CMHT-N", 70)
    b.sessions("peer", 70, 14, held=[1, 2, 3], missed=[], day=119)
    b.sessions("line_management", 70, 28, held=[1], missed=[], day=119)
    b.sessions("clinical", 70, 28, held=[], missed=[1], day=119)
    service.leave(uow, ACTOR, b.ref, "moved out of the area", at=at(120))
    refs["B"] = b.ref

    c = (
        _J(uow, "C", DIABETES, "RVH", 0)
        .go("shortlist", 4)
        .go("reject", 6, reason="did not meet the criteria")
    )
    refs["C"] = c.ref
    d = (
        _J(uow, "D", DIABETES, "RVH", 0)
        .go("shortlist", 2)
        .go("schedule_interview", 4)
        .go("record_interview", 8)
    )
    d.go("offer", 10).go("withdraw", 12, reason="declined the offer")
    refs["D"] = d.ref

    g = _J(uow, "G", DIABETES, "RVH", 0).recruit(1, 2, 5, 6, 7)
    g.checks(identity=(7, 8), refs=(7, 12), dbs=(8, 18), health=(7, 10))
    g.hire(clear=19, start=28, inducted=35).place("DIAB", 42)
    refs["G"] = g.ref

    h = _J(uow, "H", MH, "MIND-N", 20).recruit(21, 23, 26, 27, 30)
    h.checks(identity=(30, 31), refs=(30, 40), dbs=(31, 43), health=(30, 35))
    h.hire(clear=45, start=77, inducted=80).place("HAVEN", 90)
    refs["H"] = h.ref
    # Probation: A passes at its final review; G's final review is extended by 8 weeks, then passed.
    a.review("pass", 231).go("pass_probation", 231)
    g.review("extend", 210).review("pass", 266).go("pass_probation", 266)
    # Supervision (cadence: mental health line 28, clinical 28, peer 14; diabetes line 28, clinical 42, peer 28).
    a.sessions("peer", 63, 14, held=list(range(1, 11)), missed=[11, 12], day=262)
    a.sessions("line_management", 63, 28, held=list(range(1, 8)), missed=[], day=262)
    a.sessions("clinical", 63, 28, held=list(range(1, 6)), missed=[], day=262)
    g.sessions("line_management", 42, 28, held=list(range(1, 9)), missed=[], day=268)
    g.sessions("peer", 42, 28, held=list(range(1, 9)), missed=[], day=268)
    g.sessions("clinical", 42, 42, held=list(range(1, 6)), missed=[], day=268)

    i = _J(uow, "I", MH, "NMH", 150).recruit(151, 152, 155, 156, 157)
    i.checks(identity=(157, 158), refs=(157, 165), dbs=(158, 170), health=(157, 160))
    i.hire(clear=172, start=190, inducted=200)
    refs["I"] = i.ref

    e = _J(uow, "E", MH, "NMH", 200).recruit(202, 204, 207, 208, 210)
    e.check(K.IDENTITY, CheckStatus.WAITING, 210, Party.CANDIDATE).check(
        K.REFERENCES, CheckStatus.WAITING, 210, Party.REFEREE
    )
    e.check(K.WORK_HEALTH, CheckStatus.WAITING, 210, Party.OCCUPATIONAL_HEALTH)
    e.check(K.IDENTITY, CheckStatus.CLEARED, 212).check(K.RIGHT_TO_WORK, CheckStatus.CLEARED, 212)
    e.check(K.DBS, CheckStatus.WAITING, 212, Party.DBS).check(K.WORK_HEALTH, CheckStatus.CLEARED, 214)
    e.check(K.REFERENCES, CheckStatus.CLEARED, 215)
    refs["E"] = e.ref

    f = _J(uow, "F", MH, "NMH", 250)
    service.pause(uow, ACTOR, f.ref, "candidate asked to pause", at=at(255))
    refs["F"] = f.ref

    return Built(refs)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def history(request: pytest.FixtureRequest, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:  # fmt: skip
    """The history, built once per test module on a SQLite file and once on PostgreSQL (the reports
    only read it). Test modules run whole on one worker (`--dist loadfile`), so nothing truncates
    the PostgreSQL database under them."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("insight") / "peerpath.db"
        shutil.copy(sqlite_template, path)
        url = f"sqlite:///{path}"
    else:
        url = str(request.getfixturevalue("postgres_url"))
        engine = create_engine(url)
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
    engine = make_engine(url)
    uow = UnitOfWork(engine, builtin_registry())
    built = build(uow)
    built.uow = uow
    yield built
    engine.dispose()

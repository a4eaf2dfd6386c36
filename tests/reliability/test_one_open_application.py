"""At most one open application per person, organisation and pathway, held by the database.

Two real processes (tests/reliability/register_worker.py, each running `peerpath applicant add` in
process) register the same person at the same moment, 50 rounds, on SQLite and PostgreSQL. Half the
rounds are a person nobody has recorded (both try to create the candidate record), half a person
the organisation recorded before whose earlier application is closed (both try to open a journey on
the same record). Every round: exactly one wins (exit 0, a journey reference); the other gets one
`error:` line and exit 2 (refused: the open application it found) or 3 (conflict: the database's
unique index or constraint caught the race), never a traceback, never SQL or its parameters. Then
the database holds no two open journeys for one candidate and pathway, and one candidate record per
organisation and email.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lifecycle import service
from lifecycle.persistence.models import Candidate, Journey
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.states import CLOSED
from tests.factories import ACTOR, PATHWAY, T0, programme

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 50


def _worker(env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.register_worker"],
        cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "ready", (line, proc.stderr.read() if proc.stderr else "")
    return proc


def test_two_processes_registering_the_same_person_open_one_application(
    uow: UnitOfWork, database_url: str, tmp_path: Path
) -> None:
    programme(uow)
    # The returning people: recorded by NMH before, their earlier application withdrawn.
    returning = [f"back{n}@example.com" for n in range(ROUNDS // 2)]
    for email in returning:
        ref = service.register_applicant(
            uow, ACTOR, service.Applicant.clean("Ada", "Race", email, PATHWAY, "NMH"), at=T0
        )
        service.withdraw(uow, ACTOR, ref, "moved away", at=T0)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PEERPATH_")},
        "PEERPATH_DATABASE_URL": database_url,
        "PEERPATH_ACTOR": "Race Tester",  # the programme lead
        "PYTHONPATH": str(ROOT),
    }
    workers = [_worker(env), _worker(env)]
    outcomes = []
    try:
        for n in range(ROUNDS):
            email = returning[n // 2] if n % 2 else f"new{n}@example.com"
            for w in workers:  # both are waiting on stdin: the two lines go out together
                assert w.stdin is not None
                w.stdin.write(f"{email} {PATHWAY} NMH\n")
            for w in workers:
                assert w.stdin is not None
                w.stdin.flush()
            outcomes.append((email, [json.loads(w.stdout.readline()) for w in workers if w.stdout]))
    finally:
        for w in workers:
            if w.stdin:
                w.stdin.close()
            w.wait(timeout=60)
    losers = Counter(str(r["code"]) for _, results in outcomes for r in results if r["code"] != 0)
    print(f"{database_url.split(':')[0]}: losers by exit code {dict(losers)}")  # 2: refused, 3: the race
    for email, results in outcomes:
        codes = sorted(str(r["code"]) for r in results)
        assert codes[0] == "0" and codes[1] in ("2", "3"), (email, results)
        winner = next(r for r in results if r["code"] == 0)
        loser = next(r for r in results if r["code"] != 0)
        assert winner["out"].strip().startswith("J-") and winner["err"] == "", (email, winner)
        lines = loser["err"].splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (email, loser)
        assert (
            "Traceback" not in loser["err"]
            and "INSERT" not in loser["err"]
            and "@" not in lines[0].split("already has", 1)[-1]
        ), (email, loser)
        if loser["code"] == 2:
            assert f"{email} already has an open {PATHWAY} application (J-" in lines[0], lines
        else:
            assert "meanwhile" in lines[0], lines
    with uow:
        open_per_person = uow.session.execute(
            select(Journey.candidate_id, Journey.pathway_id, func.count())
            .where(Journey.state.not_in(CLOSED))
            .group_by(Journey.candidate_id, Journey.pathway_id)
            .having(func.count() > 1)
        ).all()
        assert open_per_person == []
        records = uow.session.execute(
            select(Candidate.organisation_id, Candidate.email, func.count())
            .group_by(Candidate.organisation_id, Candidate.email)
            .having(func.count() > 1)
        ).all()
        assert records == []
        opened = uow.session.scalar(
            select(func.count()).select_from(Journey).where(Journey.state.not_in(CLOSED))
        )
        assert opened == ROUNDS, "one open application per round"


@pytest.mark.parametrize("which", ["candidate", "journey"])
def test_the_database_refuses_a_second_open_application_whatever_the_code_does(
    uow: UnitOfWork, which: str
) -> None:
    """The invariant is the database's, not the service's: written past the service, it still holds,
    and the refusal reaches the person as one readable line (no SQL, no values)."""
    from lifecycle.errors import ConflictError

    programme(uow)
    ref = service.register_applicant(
        uow, ACTOR, service.Applicant.clean("Ada", "Race", "ada@example.com", PATHWAY, "NMH"), at=T0
    )
    with pytest.raises(ConflictError) as refused, uow:
        first = uow.journey(ref)
        if which == "candidate":
            uow.session.add(
                Candidate(organisation_id=first.employer_organisation_id, first_name="Ada", last_name="Race",
                          email="ada@example.com", created_at=T0)
            )  # fmt: skip
        else:
            uow.session.add(
                Journey(candidate_id=first.candidate_id, pathway_id=PATHWAY, pathway_version=1,
                        employer_organisation_id=first.employer_organisation_id, state=first.state,
                        state_since=T0, applied_on=T0.date(), updated_at=T0)
            )  # fmt: skip
        uow.session.flush()
    assert "meanwhile; nothing was written" in str(refused.value)
    assert "ada@example.com" not in str(refused.value) and "INSERT" not in str(refused.value)

"""CSV import: every row validated first; one bad row and nothing is written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from lifecycle.clock import london_today
from lifecycle.importing import ImportRejected, import_applicants
from lifecycle.persistence.models import Candidate, Event, Journey
from lifecycle.persistence.uow import UnitOfWork
from tests.factories import ACTOR, programme

HEADER = "first_name,last_name,email,pathway,employer,applied_on\n"


def counts(uow: UnitOfWork) -> tuple[int, int, int]:
    with uow:
        return tuple(
            uow.session.scalar(select(func.count()).select_from(m)) for m in (Candidate, Journey, Event)
        )  # type: ignore[return-value]


@pytest.fixture
def seeded(uow: UnitOfWork) -> UnitOfWork:
    programme(uow)
    return uow


def test_good_file_imports_every_row(seeded: UnitOfWork) -> None:
    rows = [f"Sam{i},Smith,sam{i}@example.com,hiv,NMH,2026-10-0{1 + i % 9}" for i in range(25)]
    refs = import_applicants(seeded, ACTOR, HEADER + "\n".join(rows) + "\n")
    assert len(refs) == 25 and len(set(refs)) == 25
    assert counts(seeded) == (25, 25, 25)


def test_bad_rows_are_all_listed_with_line_numbers_and_nothing_is_written(seeded: UnitOfWork) -> None:
    content = HEADER + "\n".join(
        [
            "Ann,Lee,ann@example.com,hiv,NMH,2026-10-01",  # line 2: good
            "Bob,Ray,not-an-email,hiv,NMH,2026-10-01",  # 3
            "Cat,Day,cat@example.com,astrology,NMH,2026-10-01",  # 4
            "Dan,Eve,dan@example.com,hiv,NOWHERE,2026-10-01",  # 5
            "Eli,Fox,eli@example.com,hiv,NMH,2026-02-30",  # 6
            '"Fay\r\nBcc: x@example.com",Gee,fay@example.com,hiv,NMH,2026-10-01',  # 7-8 (quoted CR/LF)
            "Ann,Lee,ann@example.com,hiv,NMH,2026-10-02",  # 9: duplicate of line 2
            "Gus,Hay,gus@example.com,hiv",  # 10: too few fields
            ",Ivy,ivy@example.com,hiv,NMH,",  # 11: empty first name
        ]
    )
    with pytest.raises(ImportRejected) as rejected:
        import_applicants(seeded, ACTOR, content)
    lines = [(b.line, b.reason) for b in rejected.value.bad_rows]
    assert [line for line, _ in lines] == [3, 4, 5, 6, 8, 9, 10, 11]
    reasons = dict(lines)
    assert "not a valid address" in reasons[3]
    assert "unknown pathway 'astrology'" in reasons[4]
    assert "unknown employer 'NOWHERE'" in reasons[5]
    assert "is not a date" in reasons[6]
    assert "line break or control character" in reasons[8]
    assert "again (line 2)" in reasons[9]
    assert "wrong number of fields" in reasons[10]
    assert "first name is empty" in reasons[11]
    assert counts(seeded) == (0, 0, 0)


def test_a_future_application_date_is_a_row_error_with_its_line(seeded: UnitOfWork) -> None:
    tomorrow = london_today() + timedelta(days=1)
    content = (
        HEADER + f"Ann,Lee,ann@example.com,hiv,NMH,2026-10-01\nBob,Ray,bob@example.com,hiv,NMH,{tomorrow}\n"
    )
    with pytest.raises(ImportRejected) as rejected:
        import_applicants(seeded, ACTOR, content)
    assert [(b.line, b.reason) for b in rejected.value.bad_rows] == [
        (3, f"applied on {tomorrow} is in the future")
    ]
    assert counts(seeded) == (0, 0, 0)


def test_an_applicant_with_an_open_journey_is_a_bad_row(seeded: UnitOfWork) -> None:
    import_applicants(seeded, ACTOR, HEADER + "Ann,Lee,ann@example.com,hiv,NMH,2026-10-01\n")
    with pytest.raises(ImportRejected) as rejected:
        import_applicants(
            seeded, ACTOR, HEADER + "Bo,Li,bo@example.com,hiv,NMH,\nAnn,Lee,ann@example.com,hiv,NMH,\n"
        )
    assert [
        (b.line, "already has an open hiv application (J-000001)" in b.reason)
        for b in rejected.value.bad_rows
    ] == [(3, True)]
    assert counts(seeded) == (1, 1, 1)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("first_name,last_name,email\nA,B,a@example.com\n", "missing column(s) pathway, employer"),
        (HEADER.strip() + ",notes\nA,B,a@example.com,hiv,NMH,,x\n", "unknown column(s) notes"),
        ("", "missing column(s)"),
    ],
)
def test_header_problems_reject_the_file(seeded: UnitOfWork, content: str, reason: str) -> None:
    with pytest.raises(ImportRejected) as rejected:
        import_applicants(seeded, ACTOR, content)
    assert rejected.value.bad_rows[0].line == 1 and reason in rejected.value.bad_rows[0].reason


def test_ten_thousand_rows_import_with_progress(seeded: UnitOfWork) -> None:
    rows = [
        f"P{i},Q{i},p{i}@example.com,adult-community-mental-health,MIND-N,2026-09-01" for i in range(10_000)
    ]
    ticks: list[int] = []
    refs = import_applicants(seeded, ACTOR, HEADER + "\n".join(rows), progress=ticks.append)
    assert len(refs) == 10_000 and sum(ticks) == 10_000
    assert counts(seeded) == (10_000, 10_000, 10_000)

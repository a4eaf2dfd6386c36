"""Importing applicants from CSV: validate every row first, then write all of them or none."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from lifecycle.clock import london_today
from lifecycle.errors import InvalidInput, NotFound, PeerpathError
from lifecycle.persistence.queries import open_applications, organisation_codes
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.service import Actor, Applicant, register_applicant
from lifecycle.validation import escape_line

COLUMNS = ("first_name", "last_name", "email", "pathway", "employer", "applied_on")
REQUIRED = COLUMNS[:5]
MAX_ROWS = 100_000
MAX_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class ImportRejected(PeerpathError):
    """The file has bad rows: nothing was written. `bad_rows` lists every one."""

    def __init__(self, bad_rows: list[BadRow]):
        self.bad_rows = bad_rows
        super().__init__(f"{len(bad_rows)} bad row(s); nothing imported")


def parse_csv(content: str) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) pairs; a header problem rejects the whole file."""
    if len(content.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise ImportRejected([BadRow(1, f"file is larger than {MAX_BYTES // (1024 * 1024)} MB")])
    reader = csv.DictReader(io.StringIO(content.lstrip("\ufeff")), strict=True)
    try:
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise ImportRejected([BadRow(1, f"unreadable header: {exc}")]) from None
    missing = [c for c in REQUIRED if c not in header]
    unknown = [h for h in header if h not in COLUMNS]
    # csv.DictReader keeps the last of two same-named columns: refuse rather than import the wrong one.
    twice = [c for c in COLUMNS if header.count(c) > 1]
    if missing or unknown or twice:
        parts = (
            ([f"missing column(s) {', '.join(missing)}"] if missing else [])
            + ([f"unknown column(s) {_column_names(unknown)}"] if unknown else [])
            + ([f"column(s) named more than once: {', '.join(twice)}"] if twice else [])
        )
        raise ImportRejected([BadRow(1, "; ".join(parts) + f" (expected: {', '.join(COLUMNS)})")])
    reader.fieldnames = header
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for row in reader:
            if len(rows) >= MAX_ROWS:
                raise ImportRejected([BadRow(reader.line_num, f"more than {MAX_ROWS} rows")])
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        # DictReader.line_num moves only once a record parses; the underlying reader's counts the
        # lines read so far, so it names the line the bad record is on (its last line, for one
        # that spans several).
        raise ImportRejected([BadRow(reader.reader.line_num, f"malformed CSV: {exc}")]) from None
    return rows


def _column_names(names: list[str]) -> str:
    """Header names as written, on one line: a quoted name may hold a line break or be blank."""
    return ", ".join(escape_line(n) if n else "(blank)" for n in names)


def validate(
    uow: UnitOfWork,
    rows: list[tuple[int, dict[str, str]]],
    actor: Actor | None = None,
    *,
    today: date | None = None,
) -> tuple[list[Applicant], list[BadRow]]:
    today = today or london_today()
    applicants: list[Applicant] = []
    bad: list[BadRow] = []
    seen: dict[tuple[str, str, str], int] = {}
    line_of: dict[int, int] = {}
    with uow:
        orgs = organisation_codes(uow.session)
        for line, row in rows:
            if None in row or any(v is None for v in row.values()):
                bad.append(BadRow(line, "wrong number of fields"))
                continue
            try:
                applicant = Applicant.clean(**{k: row.get(k, "") for k in COLUMNS})
                uow.pathways.get(applicant.pathway)
                if applicant.employer not in orgs:
                    raise NotFound(f"unknown employer {applicant.employer!r}")
                if actor is not None:
                    actor.require(applicant.employer, "register applicants")
                if applicant.applied_on and applicant.applied_on > today:
                    raise InvalidInput(f"applied on {applicant.applied_on} is in the future")
            except PeerpathError as exc:
                bad.append(BadRow(line, str(exc)))
                continue
            key = (applicant.employer, applicant.email, applicant.pathway)
            if key in seen:
                bad.append(
                    BadRow(line, f"{applicant.email} applies to {applicant.pathway} again (line {seen[key]})")
                )
                continue
            seen[key] = line
            line_of[len(applicants)] = line
            applicants.append(applicant)
        # Only the employer's own records are looked at: an application another organisation holds
        # for the same person is neither refused nor named (it is theirs, and may disclose health).
        existing = open_applications(uow.session, [(a.employer, a.email) for a in applicants])
    for index, applicant in enumerate(applicants):
        ref = existing.get((applicant.employer, applicant.email, applicant.pathway))
        if ref:
            bad.append(
                BadRow(
                    line_of[index],
                    f"{applicant.email} already has an open {applicant.pathway} application ({ref})",
                )
            )
    return applicants, sorted(bad, key=lambda b: b.line)


def import_applicants(
    uow: UnitOfWork,
    actor: Actor,
    content: str,
    *,
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Validate every row, then register all applicants in one transaction; returns journey refs."""
    applicants, bad = validate(uow, parse_csv(content), actor)
    if bad:
        raise ImportRejected(bad)
    refs: list[str] = []
    with uow:
        for applicant in applicants:
            refs.append(register_applicant(uow, actor, applicant))
            if progress:
                progress(1)
        uow.commit()
    return refs

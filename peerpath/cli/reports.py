"""`peerpath report ...`: the programme reports on the command line. Imports stay light: the
database, numpy and matplotlib load inside the command that needs them, so `peerpath --help` stays
fast. The forecast, where to grow, the HTML report and the back-test are in `forecasts`.

Every command prints a table, or `--json`; `--csv FILE` also writes the rows; `--org CODE` limits it
to the journeys that organisation employs or hosts (a partner acting for itself gets only its own).
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from insight.formats import PERCENT_COLUMNS
from peerpath.cli._utilities import Context, context, fail, optional_date, print_json, table

if TYPE_CHECKING:
    from insight.reports import Report

Org = Annotated[str | None, typer.Option("--org", help="only journeys this organisation employs or hosts")]
AsOf = Annotated[str | None, typer.Option("--as-of", help="the report date, YYYY-MM-DD (default: today)")]
By = Annotated[
    str | None,
    typer.Option("--by", help="programme, speciality or organisation (team and kind where they apply)"),
]
Json = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]
Csv = Annotated[Path | None, typer.Option("--csv", help="also write the rows to this CSV file")]
DIMENSIONS = ("programme", "speciality", "organisation", "team", "kind")
# What the table shows without --by (JSON and CSV always carry every row).
DEFAULT_BY = {"funnel": "programme", "checks": "programme", "forecast": "programme"}
Months = Annotated[int, typer.Option(min=1, max=36, help="months ahead")]
Sims = Annotated[int, typer.Option(min=50, max=20000, help="Monte Carlo simulations")]
Seed = Annotated[int, typer.Option(help="random seed (the same seed gives the same forecast)")]


def scoped(org: str | None, as_of: str | None) -> tuple[Context, str | None, date | None]:
    """The context, the organisation the report is limited to, and the report date."""
    ctx = context()
    return ctx, ctx.scope(org), optional_date(as_of, "as of")


def check_by(by: str | None) -> str | None:
    if by is None:
        return None
    value = by.strip().lower()
    if value not in DIMENSIONS:
        fail(f"--by must be one of {', '.join(DIMENSIONS)}, not {by!r}")
    return value


def cell(key: str, value: Any) -> str:
    if value is None:
        return ""
    if key in PERCENT_COLUMNS and isinstance(value, (int, float)):
        return f"{value:.0%}"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "-".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return str(value)


def show(title: str, rows: list[dict[str, Any]], drop: tuple[str, ...] = ()) -> None:
    if not rows:
        typer.echo(f"{title}: nothing to show")
        return
    columns = [c for c in rows[0] if c not in drop]
    table(title, [c.replace("_", " ") for c in columns], [[cell(c, r.get(c)) for c in columns] for r in rows])


def only_by(rows: list[dict[str, Any]], by: str | None) -> list[dict[str, Any]]:
    if by is None or not rows or "dimension" not in rows[0]:
        return rows
    return [r for r in rows if r["dimension"] == by]


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for r in rows:
        columns += [c for c in r if c not in columns]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}")
    typer.echo(f"wrote {len(rows)} rows to {path}", err=True)


def write_bytes(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}")
    typer.echo(f"wrote {path}", err=True)


def emit(
    report: Report, by: str | None, as_json: bool, csv_path: Path | None, *, extra: str | None = None
) -> None:
    """Print a report as a table (or JSON), and write its rows as CSV when asked."""
    from insight.reports import headline

    rows = only_by(report.rows, by)
    if csv_path:
        write_csv(csv_path, rows)
    if as_json:
        data = report.to_dict()
        data["rows"] = rows
        if "sections" in data:
            data["sections"] = {k: only_by(v, by) for k, v in data["sections"].items()}
        return print_json(data)
    shown = by or DEFAULT_BY.get(report.kind)
    table_rows = only_by(rows, shown)
    drop: tuple[str, ...] = ("dimension",) if shown else ()
    if shown == "programme":
        drop = ("dimension", "group")
    scope = f" ({report.organisation})" if report.organisation else ""
    show(f"{report.title}{scope}, {report.as_of}", table_rows, drop)
    if extra and report.sections.get(extra):
        part = by or "programme"
        show(extra.replace("_", " "), only_by(report.sections[extra], part),
              ("dimension", "group") if part == "programme" else ("dimension",))  # fmt: skip
    for line in headline({report.kind: report}):
        typer.echo(line)
    if shown and not by and "dimension" in (report.rows[0] if report.rows else {}):
        typer.echo("(--by speciality or --by organisation for the breakdown; --json or --csv for every row)")


def report_cmd(name: str, org: str | None, as_of: str | None, by: str | None, as_json: bool, csv_path: Path | None,
               extra: str | None = None, **kwargs: Any) -> None:  # fmt: skip
    from insight.reports import REPORTS

    by = check_by(by)
    ctx, scope, day = scoped(org, as_of)
    uow = ctx.uow()
    with uow:
        report = REPORTS[name](uow.session, uow.pathways, org=scope, as_of=day, **kwargs)
    emit(report, by, as_json, csv_path, extra=extra)


def funnel_cmd(
    org: Org = None, as_of: AsOf = None, by: By = None, as_json: Json = False, csv: Csv = None
) -> None:
    """Journeys that reached each stage, and the conversion between stages."""
    report_cmd("funnel", org, as_of, by, as_json, csv)


def time_to_hire_cmd(
    org: Org = None, as_of: AsOf = None, by: By = None, as_json: Json = False, csv: Csv = None
) -> None:
    """Application to start: median and p90 against the 8-week target, split by who held the ball."""
    report_cmd("time-to-hire", org, as_of, by, as_json, csv, extra="by_party")


def checks_cmd(
    org: Org = None, as_of: AsOf = None, by: By = None, as_json: Json = False, csv: Csv = None
) -> None:
    """Check turnaround: DBS against its 14-day standard, references, occupational health."""
    report_cmd("checks", org, as_of, by, as_json, csv)


def stalled_cmd(
    org: Org = None,
    as_of: AsOf = None,
    limit: Annotated[int, typer.Option(min=1, help="how many journeys")] = 10,
    as_json: Json = False,
    csv: Csv = None,
) -> None:
    """Open journeys longest in their current state (paused time excluded)."""
    report_cmd("stalled", org, as_of, None, as_json, csv, limit=limit)


def supervision_cmd(
    org: Org = None, as_of: AsOf = None, by: By = None, as_json: Json = False, csv: Csv = None
) -> None:
    """Supervision held against due, per host team and organisation."""
    report_cmd("supervision", org, as_of, by, as_json, csv)


def probation_cmd(
    org: Org = None, as_of: AsOf = None, by: By = None, as_json: Json = False, csv: Csv = None
) -> None:
    """Probation outcomes: passed, left, terminated, in probation, final review overdue."""
    report_cmd("probation", org, as_of, by, as_json, csv)


def retention_cmd(
    org: Org = None, as_of: AsOf = None, by: By = None, as_json: Json = False, csv: Csv = None
) -> None:
    """Retention 6 and 12 months after the start."""
    report_cmd("retention", org, as_of, by, as_json, csv)

"""`peerpath report ...`: the programme reports on the command line (a Typer app that
peerpath/cli.py mounts). Imports stay light: the database, numpy and matplotlib load inside the
command that needs them, so `peerpath --help` stays fast.

Every command prints a table, or `--json`; `--csv FILE` also writes the rows; `--org CODE` limits it
to the journeys that organisation employs or hosts (a partner acting for itself gets only its own).
"""

from __future__ import annotations

import csv
import tempfile
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from insight.reports import Report

app = typer.Typer(
    help="Programme reports: funnel, time to hire, checks, stalls, supervision, probation, retention, "
    "forecast, where to grow, and the HTML report. Counts and journey references only.",
    no_args_is_help=True,
)

Org = Annotated[str | None, typer.Option("--org", help="only journeys this organisation employs or hosts")]
AsOf = Annotated[str | None, typer.Option("--as-of", help="the report date, YYYY-MM-DD (default: today)")]
By = Annotated[
    str | None,
    typer.Option("--by", help="programme, speciality or organisation (team and kind where they apply)"),
]
Json = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]
Csv = Annotated[Path | None, typer.Option("--csv", help="also write the rows to this CSV file")]
DIMENSIONS = ("programme", "speciality", "organisation", "team", "kind")
PERCENT_KEYS = {"conversion", "decided_conversion", "from_applied", "within_target_share", "within_standard_share",
                "compliance", "pass_rate", "rate", "share_of_time"}  # fmt: skip
# What the table shows without --by (JSON and CSV always carry every row).
DEFAULT_BY = {"funnel": "programme", "checks": "programme", "forecast": "programme"}


def _root() -> Any:
    from peerpath import cli

    return cli


def _context(org: str | None, as_of: str | None) -> tuple[Any, str | None, date | None]:
    root = _root()
    ctx = root._ctx()
    return ctx, ctx.scope(org), root._date(as_of, "as of")


def _check_by(by: str | None) -> str | None:
    if by is None:
        return None
    value = by.strip().lower()
    if value not in DIMENSIONS:
        _root().fail(f"--by must be one of {', '.join(DIMENSIONS)}, not {by!r}")
    return value


def _cell(key: str, value: Any) -> str:
    if value is None:
        return ""
    if key in PERCENT_KEYS and isinstance(value, (int, float)):
        return f"{value:.0%}"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "-".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return str(value)


def _show(title: str, rows: list[dict[str, Any]], drop: tuple[str, ...] = ()) -> None:
    if not rows:
        typer.echo(f"{title}: nothing to show")
        return
    columns = [c for c in rows[0] if c not in drop]
    _root()._table(
        title, [c.replace("_", " ") for c in columns], [[_cell(c, r.get(c)) for c in columns] for r in rows]
    )


def _filter(rows: list[dict[str, Any]], by: str | None) -> list[dict[str, Any]]:
    if by is None or not rows or "dimension" not in rows[0]:
        return rows
    return [r for r in rows if r["dimension"] == by]


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
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
        _root().fail(f"cannot write {path}: {exc.strerror}")
    typer.echo(f"wrote {len(rows)} rows to {path}", err=True)


def _emit(
    report: Report, by: str | None, as_json: bool, csv_path: Path | None, *, extra: str | None = None
) -> None:
    """Print a report as a table (or JSON), and write its rows as CSV when asked."""
    from insight.reports import headline

    rows = _filter(report.rows, by)
    if csv_path:
        _write_csv(csv_path, rows)
    if as_json:
        data = report.to_dict()
        data["rows"] = rows
        if "sections" in data:
            data["sections"] = {k: _filter(v, by) for k, v in data["sections"].items()}
        return _root()._print_json(data)
    shown = by or DEFAULT_BY.get(report.kind)
    table_rows = _filter(rows, shown)
    drop = ("dimension",) if shown else ()
    if shown == "programme":
        drop = ("dimension", "group")
    scope = f" ({report.organisation})" if report.organisation else ""
    _show(f"{report.title}{scope}, {report.as_of}", table_rows, drop)
    if extra and report.sections.get(extra):
        part = by or "programme"
        _show(extra.replace("_", " "), _filter(report.sections[extra], part),
              ("dimension", "group") if part == "programme" else ("dimension",))  # fmt: skip
    for line in headline({report.kind: report}):
        typer.echo(line)
    if shown and not by and "dimension" in (report.rows[0] if report.rows else {}):
        typer.echo("(--by speciality or --by organisation for the breakdown; --json or --csv for every row)")


def _report(name: str, org: str | None, as_of: str | None, by: str | None, as_json: bool, csv_path: Path | None,
            extra: str | None = None, **kwargs: Any) -> None:  # fmt: skip
    from insight.reports import REPORTS

    by = _check_by(by)
    ctx, scope, day = _context(org, as_of)
    uow = ctx.uow()
    with uow:
        report = REPORTS[name](uow.session, uow.pathways, org=scope, as_of=day, **kwargs)
    _emit(report, by, as_json, csv_path, extra=extra)


@app.command("funnel")
def funnel_cmd(
    org: Org = None, as_of: AsOf = None, by: By = None, as_json: Json = False, csv: Csv = None
) -> None:
    """Journeys that reached each stage, and the conversion between stages."""
    _report("funnel", org, as_of, by, as_json, csv)


@app.command("time-to-hire")
def time_to_hire_cmd(
    org: Org = None, as_of: AsOf = None, by: By = None, as_json: Json = False, csv: Csv = None
) -> None:
    """Application to start: median and p90 against the 8-week target, split by who held the ball."""
    _report("time-to-hire", org, as_of, by, as_json, csv, extra="by_party")


@app.command("checks")
def checks_cmd(
    org: Org = None, as_of: AsOf = None, by: By = None, as_json: Json = False, csv: Csv = None
) -> None:
    """Check turnaround: DBS against its 14-day standard, references, occupational health."""
    _report("checks", org, as_of, by, as_json, csv)


@app.command("stalled")
def stalled_cmd(
    org: Org = None,
    as_of: AsOf = None,
    limit: Annotated[int, typer.Option(min=1, help="how many journeys")] = 10,
    as_json: Json = False,
    csv: Csv = None,
) -> None:
    """Open journeys longest in their current state (paused time excluded)."""
    _report("stalled", org, as_of, None, as_json, csv, limit=limit)


@app.command("supervision")
def supervision_cmd(
    org: Org = None, as_of: AsOf = None, by: By = None, as_json: Json = False, csv: Csv = None
) -> None:
    """Supervision held against due, per host team and organisation."""
    _report("supervision", org, as_of, by, as_json, csv)


@app.command("probation")
def probation_cmd(
    org: Org = None, as_of: AsOf = None, by: By = None, as_json: Json = False, csv: Csv = None
) -> None:
    """Probation outcomes: passed, left, terminated, in probation, final review overdue."""
    _report("probation", org, as_of, by, as_json, csv)


@app.command("retention")
def retention_cmd(
    org: Org = None, as_of: AsOf = None, by: By = None, as_json: Json = False, csv: Csv = None
) -> None:
    """Retention 6 and 12 months after the start."""
    _report("retention", org, as_of, by, as_json, csv)


Months = Annotated[int, typer.Option(min=1, max=36, help="months ahead")]
Sims = Annotated[int, typer.Option(min=50, max=20000, help="Monte Carlo simulations")]
Seed = Annotated[int, typer.Option(help="random seed (the same seed gives the same forecast)")]


@app.command("forecast")
def forecast_cmd(
    org: Org = None,
    as_of: AsOf = None,
    by: By = None,
    months: Months = 12,
    sims: Sims = 2000,
    seed: Seed = 20240611,
    chart: Annotated[Path | None, typer.Option(help="also draw the forecast into this PNG file")] = None,
    as_json: Json = False,
    csv: Csv = None,
) -> None:
    """PSWs expected to be embedded per month, per speciality and organisation, with an 80% interval."""
    from insight.forecast import Settings, forecast

    by = _check_by(by)
    ctx, scope, day = _context(org, as_of)
    uow = ctx.uow()
    with uow:
        report = forecast(uow.session, uow.pathways, org=scope, as_of=day,
                          settings=Settings(months=months, sims=sims, seed=seed)).report(scope)  # fmt: skip
    if chart:
        _png(chart, "forecast", report)
    _emit(report, by, as_json, csv, extra="totals")


@app.command("grow")
def grow_cmd(
    org: Org = None,
    as_of: AsOf = None,
    by: Annotated[str | None, typer.Option("--by", help="speciality or team")] = None,
    weight: Annotated[
        list[str] | None,
        typer.Option(
            help="a criterion's weight or setting, NAME=VALUE (repeatable): readiness, supervision, "
            "pipeline, retention, psws_per_supervisor, min_sample, require_ready"
        ),  # fmt: skip
    ] = None,
    criteria: Annotated[Path | None, typer.Option(help="a YAML file of the same settings")] = None,
    as_json: Json = False,
    csv: Csv = None,
) -> None:
    """Rank specialities and teams for the next placements, with the reasons."""
    from insight.grow import Criteria, grow

    by = _check_by(by)
    chosen = Criteria.from_file(criteria, weight) if criteria else Criteria.parse(None, weight)
    ctx, scope, day = _context(org, as_of)
    uow = ctx.uow()
    with uow:
        report = grow(uow.session, uow.pathways, org=scope, as_of=day, criteria=chosen)
    if as_json or csv:
        return _emit(report, by, as_json, csv)
    for dimension in (by,) if by else ("speciality", "team"):
        rows = report.where(dimension=dimension)
        columns = [
            "rank",
            "group",
            "score",
            "readiness",
            "supervision",
            "pipeline",
            "retention",
            "placeable_now",
        ]
        _show(f"Where to grow: {dimension}{' (' + scope + ')' if scope else ''}, {report.as_of}",
              [{c: r[c] for c in columns} for r in rows])  # fmt: skip
        for r in rows:
            typer.echo(f"  {r['rank']}. {r['group']}: {r['reasons']}")
    typer.echo("; ".join(report.notes))


@app.command("html")
def html_cmd(
    org: Org = None,
    as_of: AsOf = None,
    out: Annotated[Path, typer.Option(help="folder for the report")] = Path("var/reports"),
    sims: Sims = 2000,
    seed: Seed = 20240611,
) -> None:
    """Write the HTML programme report (charts embedded) and print its headline figures."""
    from insight.forecast import Settings
    from insight.html import build, write

    ctx, scope, day = _context(org, as_of)
    uow = ctx.uow()
    with uow:
        bundle = build(
            uow.session, uow.pathways, org=scope, as_of=day, settings=Settings(sims=sims, seed=seed)
        )
    try:
        path = write(bundle, out)
    except OSError as exc:
        _root().fail(f"cannot write the report into {out}: {exc.strerror}")
    typer.echo(f"Programme report ({scope or 'all organisations'}), {bundle.as_of}:")
    for line in bundle.headline:
        typer.echo(f"  {line}")
    typer.echo(f"HTML report: {path}")


@app.command("backtest")
def backtest_cmd(
    journeys: Annotated[
        int, typer.Option(min=200, max=200_000, help="journeys in the synthetic history")
    ] = 3000,
    history_seed: Annotated[int, typer.Option(help="seed of the synthetic history")] = 11,
    cut: Annotated[
        list[str] | None,
        typer.Option(
            help="a cut date, the 1st of a month (repeatable); default 2025-01-01, 2025-04-01, 2025-07-01"
        ),
    ] = None,
    sims: Sims = 1000,
    seed: Seed = 20240611,
    database_url: Annotated[
        str | None, typer.Option(help="back-test on this database instead of a synthetic history")
    ] = None,
    chart: Annotated[
        Path | None, typer.Option(help="draw forecast against actual into this PNG file")
    ] = None,
    as_json: Json = False,
    csv: Csv = None,
) -> None:
    """Back-test the forecast: forecast from the events before each cut date, compare with what happened.

    By default on a synthetic history (applications arriving over 3.5 years, each journey walking
    the transition table), built in a temporary SQLite file: your database is not touched.
    """
    from sqlalchemy.orm import Session

    from insight.forecast import Settings, backtest
    from lifecycle.pathways import builtin_registry
    from lifecycle.persistence.database import make_engine

    root = _root()
    cuts = [root._date(c, "cut") for c in (cut or ["2025-01-01", "2025-04-01", "2025-07-01"])]
    if any(c.day != 1 for c in cuts):
        root.fail("cut dates must be the 1st of a month (the forecast's first month)")
    with tempfile.TemporaryDirectory(prefix="peerpath-backtest-") as tmp:
        if database_url:
            engine, source = make_engine(database_url), "the database"
            from peerpath import app as composition

            registry = composition.pathways(root._ctx().settings)
        else:
            from insight.synthetic import generate_history
            from peerpath.migrate import upgrade

            engine = make_engine(f"sqlite:///{Path(tmp) / 'synthetic.db'}")
            upgrade(engine)
            generate_history(engine, journeys=journeys, seed=history_seed)
            source, registry = (
                f"a synthetic history of {journeys} journeys (seed {history_seed})",
                builtin_registry(),
            )
        try:
            with Session(engine) as session:
                result = backtest(session, registry, cuts, settings=Settings(sims=sims, seed=seed))
        except ValueError as exc:
            root.fail(str(exc))
        finally:
            engine.dispose()
    if csv:
        _write_csv(csv, result.rows + result.groups)
    if chart:
        from insight.charts import backtest_chart

        s = result.summary()
        _write_bytes(chart, backtest_chart(result.rows, f"Back-test on {source}\nMAE {s['mae_per_month']} PSWs embedded/month "
                                           f"(mean {s['mean_actual_per_month']}), 80% interval covered {s['coverage_80']:.0%}"))  # fmt: skip
    if as_json:
        return root._print_json({"source": source, "summary": result.summary(), "rows": result.rows,
                                 "speciality_rows": result.groups})  # fmt: skip
    _show(f"Back-test on {source}", result.rows, ("dimension", "group"))
    s = result.summary()
    typer.echo(
        f"programme: MAE {s['mae_per_month']} PSWs embedded per month (mean actual {s['mean_actual_per_month']}, "
        f"relative {_cell('rate', s['relative_mae'])}), bias {s['bias_per_month']:+}, 80% interval covered "
        f"{s['coverage_80']:.0%} of {s['months_compared']} months; per speciality: MAE {s['speciality_mae_per_month']}, "
        f"covered {s['speciality_coverage_80']:.0%}; naive baseline (last 12 months' mean) MAE {s['baseline_mae_per_month']}"
    )


def _png(path: Path, chart: str, report: Report) -> None:
    from insight import charts

    draw = {"forecast": charts.forecast_chart}[chart]
    _write_bytes(path, draw(report))


def _write_bytes(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        _root().fail(f"cannot write {path}: {exc.strerror}")
    typer.echo(f"wrote {path}", err=True)

"""`peerpath report forecast|grow|html|backtest`: the forward-looking reports and the HTML report
(numpy and matplotlib load inside each command)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from peerpath.cli._utilities import context, fail, print_json
from peerpath.cli.reports import (
    AsOf,
    By,
    Csv,
    Json,
    Months,
    Org,
    Seed,
    Sims,
    cell,
    check_by,
    emit,
    scoped,
    show,
    write_bytes,
    write_csv,
)  # fmt: skip

if TYPE_CHECKING:
    from insight.reports import Report


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

    by = check_by(by)
    ctx, scope, day = scoped(org, as_of)
    uow = ctx.uow()
    with uow:
        report = forecast(uow.session, uow.pathways, org=scope, as_of=day,
                          settings=Settings(months=months, sims=sims, seed=seed)).report(scope)  # fmt: skip
    if chart:
        _png(chart, "forecast", report)
    emit(report, by, as_json, csv, extra="totals")


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

    by = check_by(by)
    chosen = Criteria.from_file(criteria, weight) if criteria else Criteria.parse(None, weight)
    ctx, scope, day = scoped(org, as_of)
    uow = ctx.uow()
    with uow:
        report = grow(uow.session, uow.pathways, org=scope, as_of=day, criteria=chosen)
    if as_json or csv:
        return emit(report, by, as_json, csv)
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
        show(f"Where to grow: {dimension}{' (' + scope + ')' if scope else ''}, {report.as_of}",
              [{c: r[c] for c in columns} for r in rows])  # fmt: skip
        for r in rows:
            typer.echo(f"  {r['rank']}. {r['group']}: {r['reasons']}")
    typer.echo("; ".join(report.notes))


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

    ctx, scope, day = scoped(org, as_of)
    uow = ctx.uow()
    with uow:
        bundle = build(
            uow.session, uow.pathways, org=scope, as_of=day, settings=Settings(sims=sims, seed=seed)
        )
    try:
        path = write(bundle, out)
    except OSError as exc:
        fail(f"cannot write the report into {out}: {exc.strerror}")
    typer.echo(f"Programme report ({scope or 'all organisations'}), {bundle.as_of}:")
    for line in bundle.headline:
        typer.echo(f"  {line}")
    typer.echo(f"HTML report: {path}")


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
    on_database: Annotated[
        bool,
        typer.Option(
            "--on-database",
            help="back-test on peerpath's own database instead of a synthetic history (programme lead only: "
            "the figures are programme-wide)",
        ),
    ] = False,
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
    from lifecycle.validation import parse_date

    cuts = [parse_date(c, "cut") for c in (cut or ["2025-01-01", "2025-04-01", "2025-07-01"])]
    if any(c.day != 1 for c in cuts):
        fail("cut dates must be the 1st of a month (the forecast's first month)")
    with tempfile.TemporaryDirectory(prefix="peerpath-backtest-") as tmp:
        if on_database:
            # Programme-wide figures: never for a partner, and only the configured (migrated)
            # database, so no URL is a side door past scoping, and nothing is created by reading.
            ctx = context()
            ctx.actor.require_programme("back-test on the database (its figures are programme-wide)")
            uow = ctx.uow()  # refuses a missing or unmigrated database in one line
            engine, source, registry = uow.engine, "the database", uow.pathways
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
            fail(str(exc))
        finally:
            engine.dispose()
    if csv:
        write_csv(csv, result.rows + result.groups)
    if chart:
        from insight.charts import backtest_chart

        s = result.summary()
        write_bytes(chart, backtest_chart(result.rows, f"Back-test on {source}\nMAE {s['mae_per_month']} PSWs embedded/month "
                                           f"(mean {s['mean_actual_per_month']}), 80% interval covered {s['coverage_80']:.0%}"))  # fmt: skip
    if as_json:
        return print_json({"source": source, "summary": result.summary(), "rows": result.rows,
                                 "speciality_rows": result.groups})  # fmt: skip
    show(f"Back-test on {source}", result.rows, ("dimension", "group"))
    s = result.summary()
    typer.echo(
        f"programme: MAE {s['mae_per_month']} PSWs embedded per month (mean actual {s['mean_actual_per_month']}, "
        f"relative {cell('rate', s['relative_mae'])}), bias {s['bias_per_month']:+}, 80% interval covered "
        f"{s['coverage_80']:.0%} of {s['months_compared']} months; per speciality: MAE {s['speciality_mae_per_month']}, "
        f"covered {s['speciality_coverage_80']:.0%}; naive baseline (last 12 months' mean) MAE {s['baseline_mae_per_month']}"
    )


def _png(path: Path, chart: str, report: Report) -> None:
    from insight import charts

    draw = {"forecast": charts.forecast_chart}[chart]
    write_bytes(path, draw(report))

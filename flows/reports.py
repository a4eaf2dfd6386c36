"""The programme report: every figure, the forecast and where to grow, as table and markdown
artifacts, and the HTML report (charts embedded) written under ./var/reports/. A thin wrapper over
insight: counts, codes and journey references only, never a name."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.states import State
from pydantic import Field

from flows.common import programme_only, run_service
from flows.parameters import Form, ProgrammeLead
from peerpath import app
from peerpath.settings import Settings

REPORTS_DIR = Path("var/reports")


class ReportOptions(Form):
    acting_for: ProgrammeLead
    organisation: str = Field(
        default="", max_length=32, pattern=r"^([A-Za-z0-9][A-Za-z0-9_-]{0,31})?$", title="Organisation",
        description="only the journeys this organisation employs or hosts (empty: the whole programme)",
    )  # fmt: skip
    as_of: date | None = Field(
        default=None, title="As of", description="the report date (default today, London)"
    )
    simulations: int = Field(
        default=2000,
        ge=100,
        le=20000,
        title="Forecast simulations",
        description="Monte Carlo runs for the forecast",
    )


def _key(text: str) -> str:
    """Artifact keys: lowercase letters, digits and dashes."""
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower())


def _programme(rows: list[dict[str, Any]], *drop: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in ("dimension", "group", *drop)} for r in rows
            if r.get("dimension") == "programme"]  # fmt: skip


@flow(name="programme-report", retries=0)
async def programme_report(options: ReportOptions) -> dict[str, Any] | State:
    """Programme report with charts, the 12-month forecast and where to grow.

    Funnel, time to hire by who holds the ball, checks, stalls, supervision, probation and retention,
    as table and markdown artifacts, and the HTML report."""
    from insight.forecast import Settings as ForecastSettings
    from insight.html import build, write

    if (not_lead := programme_only("programme-report", options.acting_for)) is not None:
        return not_lead

    def call(settings: Settings) -> tuple[Any, Path]:
        uow = app.unit_of_work(settings)
        with uow:
            bundle = build(
                uow.session, uow.pathways, org=options.organisation or None, as_of=options.as_of,
                settings=ForecastSettings(sims=options.simulations),
            )  # fmt: skip
        return bundle, write(bundle, REPORTS_DIR.resolve())

    result = await run_service(call)
    if isinstance(result, State):
        return result
    bundle, path = result
    r = bundle.reports
    scope = bundle.organisation or "all"
    lines = "\n".join(f"- {line}" for line in bundle.headline)
    markdown = (
        f"# Programme report: {bundle.organisation or 'all organisations'}, {bundle.as_of}\n\n{lines}\n\n"
        f"HTML report with charts: `{path}`\n"
    )
    tables: list[tuple[str, list[dict[str, Any]], str]] = [
        ("funnel", _programme(r["funnel"].rows), "Journeys that reached each stage"),
        ("time-to-hire", [x for x in r["time-to-hire"].rows if x["dimension"] != "organisation"] or [{}],
         "Application to start, calendar days, paused time excluded (target 8 weeks)"),
        ("ball", _programme(r["time-to-hire"].sections["by_party"]), "Who held the ball, working days per hire"),
        ("checks", _programme(r["checks"].rows), "Check turnaround, calendar days (DBS standard: 80% in 14 days)"),
        ("stalled", r["stalled"].rows, "Journeys longest in their state (references only)"),
        ("supervision", r["supervision"].rows, "Supervision held against due"),
        ("probation", r["probation"].rows, "Probation outcomes"),
        ("retention", r["retention"].rows, "Retention 6 and 12 months after start"),
        ("forecast", _programme(r["forecast"].rows) + [x for x in r["forecast"].rows if x["dimension"] == "speciality"],
         "PSWs expected to be embedded per month, with the 80% interval"),
        ("grow", r["grow"].rows, "Where to grow: specialities and teams ranked, with reasons"),
    ]  # fmt: skip
    await asyncio.gather(
        acreate_markdown_artifact(key=_key(f"programme-report-{scope}"), markdown=markdown,
                                  description=f"Programme report {bundle.as_of}"),
        *(acreate_table_artifact(key=_key(f"report-{name}-{scope}"), table=rows or [{"(none)": ""}], description=text)
          for name, rows, text in tables),
    )  # fmt: skip
    return {"as_of": bundle.as_of.isoformat(), "organisation": bundle.organisation, "report": str(path),
            "headline": bundle.headline}  # fmt: skip

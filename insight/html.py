"""The programme report: every report, the forecast and the growth ranking in one HTML file with its
charts embedded (base64 PNG, so the file can be mailed or archived on its own), under ./var/reports/.

Counts, codes and journey references only: the same figures as the CLI, never a name.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from insight import charts
from insight.forecast import Settings, forecast
from insight.formats import PERCENT_COLUMNS
from insight.grow import Criteria, grow
from insight.history import require_organisation
from insight.reports import Report, all_reports, headline
from lifecycle.clock import london_today, utc_now
from lifecycle.pathways import PathwayRegistry
from lifecycle.states import CheckKind, Party

DEFAULT_DIR = Path("var/reports")


@dataclass
class Bundle:
    """Everything the HTML report, the flow's artifacts and `make run` show, built once."""

    as_of: date
    organisation: str | None
    reports: dict[str, Report]
    charts: dict[str, bytes] = field(default_factory=dict)
    generated_at: datetime = field(default_factory=utc_now)

    @property
    def headline(self) -> list[str]:
        lines = headline(self.reports)
        if fc := self.reports.get("forecast"):
            s = fc.summary
            lo, hi = s["interval_80"]
            lines.append(
                f"forecast: {s['expected_embedded']} PSWs embedded {s['months']} (80% interval {lo:g}-{hi:g})"
            )
        if g := self.reports.get("grow"):
            lines.append(
                f"where to grow: {g.summary['top_speciality'] or '-'} (speciality), {g.summary['top_team'] or '-'} (team)"
            )
        return lines


def build(
    session: Session,
    registry: PathwayRegistry,
    *,
    org: str | None = None,
    as_of: date | None = None,
    settings: Settings = Settings(),  # noqa: B008 - frozen
    criteria: Criteria = Criteria(),  # noqa: B008 - frozen
    with_charts: bool = True,
) -> Bundle:
    org = require_organisation(session, org)
    day = as_of or london_today()
    reports = all_reports(session, registry, org=org, as_of=day)
    reports["forecast"] = forecast(session, registry, org=org, as_of=day, settings=settings).report(org)
    reports["grow"] = grow(session, registry, org=org, as_of=day, criteria=criteria)
    bundle = Bundle(day, org, reports)
    if with_charts:
        bundle.charts = {
            "funnel": charts.funnel_chart(reports["funnel"]),
            "time-to-hire": charts.time_to_hire_chart(reports["time-to-hire"]),
            "checks": charts.checks_chart(reports["checks"]),
            "forecast": charts.forecast_chart(reports["forecast"]),
        }
    return bundle


def report_path(directory: Path, organisation: str | None, as_of: date) -> Path:
    return directory / f"programme-report-{(organisation or 'all').lower()}-{as_of.isoformat()}.html"


def write(bundle: Bundle, directory: Path = DEFAULT_DIR) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = report_path(directory, bundle.organisation, bundle.as_of)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(render(bundle), encoding="utf-8")
    tmp.replace(path)  # a reader never sees half a report
    return path


CHART_TITLES = {"funnel": "Pipeline funnel", "time-to-hire": "Time to hire by who held the ball",
                "checks": "Check turnaround", "forecast": "Workforce forecast"}  # fmt: skip


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def digest_section(
    session: Session,
    registry: PathwayRegistry,
    org: str,
    *,
    as_of: date | None = None,
    directory: Path = DEFAULT_DIR,
    settings: Settings = Settings(sims=500),  # noqa: B008 - frozen
) -> str:
    """For the weekly partner digest: the organisation's headline figures and its charts inline (the
    Prefect UI shows data-URI images in a markdown artifact), and its full report written beside the
    programme's. Built from its own journeys only."""
    bundle = build(session, registry, org=org, as_of=as_of, settings=settings)
    path = write(bundle, directory)
    lines = "\n".join(f"- {line}" for line in bundle.headline)
    images = "\n\n".join(f"![{CHART_TITLES[name]}]({data_uri(png)})" for name, png in bundle.charts.items())
    return f"## Programme figures\n\n{lines}\n\n{images}\n\nThe full report, tables and charts: `{path.resolve()}`\n"


def cell(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if key in PERCENT_COLUMNS and isinstance(value, (int, float)):
        return f"{value:.0%}"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "check":
        return CheckKind(value).label
    if key == "party":
        return Party(value).label
    return (
        str(value).replace("_", " ") if key in ("stage", "state", "check", "party", "group") else str(value)
    )


def table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> dict[str, Any]:
    columns = columns or (list(rows[0]) if rows else [])
    return {
        "columns": [c.replace("_", " ") for c in columns],
        "rows": [[cell(c, r.get(c)) for c in columns] for r in rows],
    }


def _without(rows: list[dict[str, Any]], *drop: str) -> list[str]:
    return [c for c in (rows[0] if rows else {}) if c not in drop]


def funnel_pivot(report: Report, dimension: str) -> list[dict[str, Any]]:
    """One row per group: how many applied, were offered, started and were embedded, and the rates."""
    out = []
    for group in sorted({r["group"] for r in report.where(dimension=dimension)}):
        reached = {r["stage"]: r["reached"] for r in report.where(dimension=dimension, group=group)}
        applied = reached.get("applied", 0)
        out.append({
            "group": group, "applied": applied, "offered": reached.get("offered", 0), "started": reached.get("induction", 0),
            "embedded": reached.get("embedded", 0), "offer_rate": _share(reached.get("offered", 0), applied),
            "start_rate": _share(reached.get("induction", 0), applied), "embedded_rate": _share(reached.get("embedded", 0), applied),
        })  # fmt: skip
    return out


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def render(bundle: Bundle) -> str:
    from jinja2 import Environment, select_autoescape

    r = bundle.reports
    sections = []

    def add(title: str, report: Report, chart: str | None, tables: list[tuple[str, dict[str, Any]]]) -> None:
        sections.append({
            "title": title, "id": report.kind, "chart": data_uri(bundle.charts[chart]) if chart and chart in bundle.charts else None,
            "tables": tables, "notes": report.notes,
        })  # fmt: skip

    def by(report: Report, dimension: str, rows: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        return report.where(rows, dimension=dimension)

    f = r["funnel"]
    add("Pipeline funnel", f, "funnel", [
        ("Programme", table(by(f, "programme"), _without(f.rows, "dimension", "group"))),
        *[(f"By {d}", table(funnel_pivot(f, d))) for d in ("speciality", "organisation")],
    ])  # fmt: skip
    t = r["time-to-hire"]
    add("Time to hire", t, "time-to-hire", [
        ("Application to start", table(t.rows)),
        ("Who held the ball (programme)", table(by(t, "programme", t.sections["by_party"]),
                                                 _without(t.sections["by_party"], "dimension", "group"))),
        ("By month of start", table(t.sections["by_month"])),
    ])  # fmt: skip
    c = r["checks"]
    add("Check turnaround", c, "checks", [("Programme", table(by(c, "programme"), _without(c.rows, "dimension", "group"))),
                                          ("By speciality", table(by(c, "speciality"), _without(c.rows, "dimension")))])  # fmt: skip
    st = r["stalled"]
    add("Journeys stalled longest", st, None, [("", table(st.rows))])
    sv = r["supervision"]
    add("Supervision compliance", sv, None, [("", table(sv.rows))])
    p = r["probation"]
    add("Probation outcomes", p, None, [("", table(p.rows))])
    rt = r["retention"]
    add("Retention after start", rt, None, [("", table(rt.rows))])
    fc = r["forecast"]
    add("Workforce forecast", fc, "forecast", [
        ("Programme, per month", table(by(fc, "programme"), _without(fc.rows, "dimension", "group"))),
        ("Over the 12 months", table(fc.sections["totals"])),
        ("The model: stage durations and drop-out per pathway", table(fc.sections["model"])),
    ])  # fmt: skip
    g = r["grow"]
    add("Where to grow", g, None, [
        ("Specialities", table(by(g, "speciality"), ["rank", "group", "score", "readiness", "supervision", "pipeline", "retention", "placeable_now", "reasons"])),
        ("Teams", table(by(g, "team"), ["rank", "group", "speciality", "host", "score", "readiness", "supervision", "pipeline", "retention", "placeable_now", "reasons"])),
    ])  # fmt: skip
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    return env.from_string(TEMPLATE).render(
        scope=bundle.organisation or "all organisations", as_of=bundle.as_of, generated=bundle.generated_at,
        headline=bundle.headline, sections=sections,
    )  # fmt: skip


TEMPLATE = """<!doctype html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Peer support programme report: {{ scope }}, {{ as_of.strftime('%d %B %Y') }}</title>
<style>
 body { font-family: Arial, Helvetica, sans-serif; color: #212b32; margin: 0 auto; max-width: 1180px; padding: 1rem 1.5rem 3rem; }
 h1 { color: #005eb8; font-size: 1.6rem; margin-bottom: .2rem; }
 h2 { border-top: 3px solid #005eb8; padding-top: .6rem; margin-top: 2.2rem; }
 h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
 .meta { color: #4c6272; margin-top: 0; }
 .headline { background: #f0f4f5; border-left: 6px solid #005eb8; padding: .6rem 1rem; }
 .headline li { margin: .25rem 0; }
 nav a { margin-right: .8rem; }
 img { max-width: 100%; height: auto; border: 1px solid #d8dde0; }
 table { border-collapse: collapse; font-size: .82rem; margin-bottom: .6rem; }
 th, td { border: 1px solid #d8dde0; padding: .25rem .45rem; text-align: left; vertical-align: top; }
 th { background: #e8edee; }
 .scroll { overflow-x: auto; }
 .notes { color: #4c6272; font-size: .8rem; }
</style>
</head>
<body>
<h1>Peer support workers: programme report</h1>
<p class="meta">{{ scope }} &middot; as of {{ as_of.strftime('%d %B %Y') }} &middot; generated {{ generated.strftime('%d %B %Y %H:%M') }} UTC
 &middot; counts and journey references only</p>
<ul class="headline">{% for line in headline %}<li>{{ line }}</li>{% endfor %}</ul>
<nav>{% for s in sections %}<a href="#{{ s.id }}">{{ s.title }}</a>{% endfor %}</nav>
{% for s in sections %}
<h2 id="{{ s.id }}">{{ s.title }}</h2>
{% if s.chart %}<img alt="{{ s.title }} chart" src="{{ s.chart }}">{% endif %}
{% for title, t in s.tables %}
{% if title %}<h3>{{ title }}</h3>{% endif %}
{% if t.rows %}<div class="scroll"><table><thead><tr>{% for c in t.columns %}<th>{{ c }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in t.rows %}<tr>{% for v in row %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}</tbody></table></div>
{% else %}<p>Nothing to show yet.</p>{% endif %}
{% endfor %}
<ul class="notes">{% for n in s.notes %}<li>{{ n }}</li>{% endfor %}</ul>
{% endfor %}
</body>
</html>
"""

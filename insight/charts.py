"""PNG charts (matplotlib, Agg: no display needed): the funnel, time to hire by who held the ball,
and the forecast. Each function takes a report and returns PNG bytes; nothing here reads the
database, and charts carry counts and codes only."""

from __future__ import annotations

import io
from typing import Any

from insight.reports import DBS_STANDARD_DAYS, TARGET_WEEKS, Report
from lifecycle.states import CheckKind, Party

PARTY_COLOURS = {
    Party.CANDIDATE.value: "#4C72B0",
    Party.REFEREE.value: "#DD8452",
    Party.DBS.value: "#C44E52",
    Party.OCCUPATIONAL_HEALTH.value: "#8172B3",
    Party.EMPLOYER_HR.value: "#937860",
    Party.COORDINATOR.value: "#55A868",
}
NHS_BLUE = "#005EB8"
DARK = "#212B32"


def _figure(width: float, height: float) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    fig.patch.set_facecolor("white")
    return fig


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", facecolor="white")
    return buffer.getvalue()


def _label(text: str) -> str:
    return text.replace("_", " ")


def _scope(report: Report) -> str:
    return f"{report.organisation}, " if report.organisation else ""


def funnel_chart(report: Report) -> bytes:
    """Horizontal bars: journeys that reached each stage, with the conversion from the stage before."""
    rows = report.where(dimension="programme")
    fig = _figure(8, 4.8)
    ax = fig.add_subplot()
    stages = [_label(r["stage"]) for r in rows][::-1]
    reached = [r["reached"] for r in rows][::-1]
    current = [r["in_stage"] for r in rows][::-1]
    ax.barh(stages, reached, color="#A6C8E8", label="reached the stage")
    ax.barh(stages, current, color=NHS_BLUE, label="there now")
    top = max(reached, default=0) or 1
    for y, r in enumerate(rows[::-1]):
        conv = r["decided_conversion"]
        text = f"{r['reached']}" + (f"  ({conv:.0%} of decided)" if conv is not None else "")
        ax.text(r["reached"] + top * 0.01, y, text, va="center", fontsize=8.5, color=DARK)
    ax.set_xlim(0, top * 1.32)
    ax.set_xlabel("journeys")
    ax.set_title(f"Pipeline funnel ({_scope(report)}as of {report.as_of:%d %b %Y})", fontsize=11, loc="left")
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(axis="y", labelsize=9)
    return _png(fig)


def time_to_hire_chart(report: Report) -> bytes:
    """Per speciality (and the programme): mean working days each party held the ball, stacked."""
    parties = report.sections.get("by_party", [])
    groups = [r for r in report.rows if r["dimension"] in ("programme", "speciality")]
    names = [("programme" if r["dimension"] == "programme" else _label(r["group"])) for r in groups][::-1]
    fig = _figure(9, 1.8 + 0.48 * max(len(groups), 1))
    ax = fig.add_subplot()
    left = [0.0] * len(groups)
    order = [p.value for p in Party]
    for party in order:
        widths = []
        for r in groups[::-1]:
            found = next((p for p in parties if p["dimension"] == r["dimension"] and p["group"] == r["group"]
                          and p["party"] == party), None)  # fmt: skip
            widths.append(found["mean_share_working_days"] if found else 0.0)
        if any(widths):
            ax.barh(
                names, widths, left=left, color=PARTY_COLOURS[party], label=Party(party).label, height=0.62
            )
            left = [a + b for a, b in zip(left, widths, strict=True)]
    target = TARGET_WEEKS * 5
    ax.axvline(target, color=DARK, linestyle="--", linewidth=1)
    ax.text(target, len(groups) - 0.45, f" {TARGET_WEEKS}-week target (~{target} working days)", fontsize=8, color=DARK,
            va="bottom")  # fmt: skip
    for y, r in enumerate(groups[::-1]):
        if r["hires"]:
            ax.text(left[y] + 0.5, y, f"median {r['median_weeks']} wk, p90 {r['p90_weeks']} wk (n={r['hires']})",
                    va="center", fontsize=8, color=DARK)  # fmt: skip
    ax.set_xlim(0, max([*left, target]) * 1.55 + 1)
    ax.set_ylim(-0.6, len(groups) - 0.1)
    ax.set_xlabel("mean working days per hire, by who held the ball (parallel checks share the days)")
    ax.set_title(f"Time to hire: application to start ({_scope(report)}{report.summary.get('hires', 0)} hires)",
                 fontsize=11, loc="left")  # fmt: skip
    if ax.get_legend_handles_labels()[0]:  # no hires yet: nothing to label
        fig.legend(loc="outside lower center", fontsize=8, ncols=6, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def forecast_chart(report: Report) -> bytes:
    """Top: the programme's expected PSWs embedded per month with the 80% interval; below: per speciality."""
    rows = report.where(dimension="programme")
    months = [r["month"] for r in rows]
    labels = _month_labels(months)
    fig = _figure(9, 6.4)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    x = list(range(len(months)))
    top.fill_between(
        x, [r["low"] for r in rows], [r["high"] for r in rows], color="#A6C8E8", label="80% interval"
    )
    top.plot(x, [r["expected"] for r in rows], color=NHS_BLUE, marker="o", label="expected")
    total = report.summary
    top.set_title(f"PSWs embedded per month, forecast ({_scope(report)}{total.get('expected_embedded')} expected over "
                  f"12 months, 80% interval {total.get('interval_80', ['?', '?'])[0]:g}-{total.get('interval_80', ['?', '?'])[1]:g})",
                  fontsize=10.5, loc="left")  # fmt: skip
    top.set_ylabel("PSWs embedded")
    top.set_ylim(bottom=0)
    top.legend(loc="upper left", fontsize=8, frameon=False)
    specialities = sorted({r["group"] for r in report.rows if r["dimension"] == "speciality"})
    for s in specialities:
        series = [r["expected"] for r in report.where(dimension="speciality", group=s)]
        bottom.plot(x, series, marker=".", label=_label(s))
    bottom.set_ylabel("expected, by speciality")
    bottom.set_ylim(bottom=0)
    if specialities:
        bottom.legend(loc="upper left", fontsize=7.5, ncols=3, frameon=False)
    bottom.set_xticks(x, labels, rotation=0, fontsize=8)
    for ax in (top, bottom):
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="y", color="#E8EDEE")
    return _png(fig)


def backtest_chart(rows: list[dict[str, Any]], title: str) -> bytes:
    """Each cut's forecast (expected and 80% interval) against what happened, month by month."""
    cuts = sorted({r["cut"] for r in rows})
    fig = _figure(9, 2.3 * len(cuts) + 0.6)
    axes = fig.subplots(len(cuts), 1, squeeze=False)[:, 0]
    for ax, cut in zip(axes, cuts, strict=True):
        mine = [r for r in rows if r["cut"] == cut]
        x = list(range(len(mine)))
        ax.fill_between(
            x, [r["low"] for r in mine], [r["high"] for r in mine], color="#A6C8E8", label="80% interval"
        )
        ax.plot(x, [r["expected"] for r in mine], color=NHS_BLUE, marker="o", label="forecast")
        ax.plot(
            x,
            [r["actual"] for r in mine],
            color="#DA291C",
            marker="s",
            linestyle="none",
            label="what happened",
        )
        ax.set_xticks(x, _month_labels([r["month"] for r in mine]), fontsize=7.5)
        ax.set_ylim(bottom=0)
        ax.set_title(f"forecast made on {cut}", fontsize=9, loc="left")
        ax.spines[["top", "right"]].set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", fontsize=8, ncols=3, frameon=False)
    fig.suptitle(title, fontsize=10.5, x=0.01, ha="left")
    return _png(fig)


def checks_chart(report: Report) -> bytes:
    """Median and p90 turnaround per check, with the DBS 14-day standard."""
    rows = report.where(dimension="programme")
    fig = _figure(8, 3.2)
    ax = fig.add_subplot()
    names = [CheckKind(r["check"]).label for r in rows][::-1]
    ax.barh(names, [r["p90_days"] or 0 for r in rows][::-1], color="#A6C8E8", label="90th percentile")
    ax.barh(names, [r["median_days"] or 0 for r in rows][::-1], color=NHS_BLUE, label="median")
    ax.axvline(DBS_STANDARD_DAYS, color=DARK, linestyle="--", linewidth=1)
    ax.text(
        DBS_STANDARD_DAYS,
        len(rows) - 0.45,
        f" DBS standard: 80% in {DBS_STANDARD_DAYS} days",
        fontsize=8,
        va="bottom",
    )
    ax.set_ylim(-0.6, len(rows) - 0.1)
    ax.set_xlabel("calendar days, requested to result")
    ax.set_title(f"Check turnaround ({_scope(report)}as of {report.as_of:%d %b %Y})", fontsize=11, loc="left")
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def _month_labels(months: list[str]) -> list[str]:
    """ "Dec\n2026", "Jan\n2027", "Feb", ...: the year on the first month and on each January."""
    from datetime import date

    labels = []
    for n, month in enumerate(months):
        d = date.fromisoformat(month + "-01")
        labels.append(d.strftime("%b\n%Y") if n == 0 or d.month == 1 else d.strftime("%b"))
    return labels

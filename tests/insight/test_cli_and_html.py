"""`peerpath report ...` end to end (the real root CLI with the report app mounted), the HTML report
and the charts."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from insight import charts
from insight.forecast import Settings, forecast
from insight.reports import all_reports
from lifecycle.pathways import builtin_registry
from lifecycle.persistence.database import make_engine
from lifecycle.persistence.uow import UnitOfWork
from tests.insight.conftest import AS_OF, build

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def cli(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The hand-built history in a SQLite file, named by PEERPATH_DATABASE_URL; returns a runner."""
    from peerpath import cli as root

    engine = make_engine(sqlite_url)
    refs = build(UnitOfWork(engine, builtin_registry())).refs
    engine.dispose()
    monkeypatch.setenv("PEERPATH_DATABASE_URL", sqlite_url)
    for key in ("PEERPATH_ACTOR", "PEERPATH_ORGANISATION", "PEERPATH_PATHWAYS_DIR"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)
    if not any(group.name == "report" for group in root.app.registered_groups):
        from peerpath.cli import report_app as insight_app

        monkeypatch.setattr(root.app, "registered_groups", [*root.app.registered_groups])
        root.app.add_typer(insight_app, name="report")

    def run(*args: str) -> int:
        return root.main(list(args))

    run.refs = refs  # type: ignore[attr-defined]
    return run


def test_report_commands_print_tables_and_json(cli, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    as_of = f"--as-of={AS_OF}"
    assert cli("report", "funnel", as_of) == 0
    out = capsys.readouterr().out
    assert "Pipeline funnel" in out and "applications 9, started 5, embedded 2" in out
    assert cli("report", "time-to-hire", as_of, "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["median_days"] == 40.0 and data["summary"]["p90_days"] == 51.0
    assert {r["dimension"] for r in data["rows"]} == {"programme", "speciality", "organisation"}
    assert cli("report", "checks", as_of, "--by", "speciality", "--json") == 0
    assert {r["dimension"] for r in json.loads(capsys.readouterr().out)["rows"]} == {"speciality"}
    assert cli("report", "stalled", as_of) == 0
    assert cli.refs["I"] in capsys.readouterr().out  # type: ignore[attr-defined]
    for command in ("supervision", "probation", "retention", "grow"):
        assert cli("report", command, as_of) == 0, command
    out = capsys.readouterr().out
    assert "Supervision compliance" in out and "1. CMHT-N: ready" in out
    assert cli("report", "forecast", as_of, "--sims", "100", "--json") == 0
    assert json.loads(capsys.readouterr().out)["summary"]["sims"] == 100


def test_csv_export_and_html_report(cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    assert cli("report", "supervision", f"--as-of={AS_OF}", "--csv", "out/supervision.csv") == 0
    with (tmp_path / "out" / "supervision.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0] == {"dimension": "programme", "group": "all", "psws": "4", "due": "78", "held": "47", "missed": "3",
                       "not_recorded": "28", "compliance": "0.6026"}  # fmt: skip
    capsys.readouterr()
    assert cli("report", "html", f"--as-of={AS_OF}", "--sims", "100") == 0
    out = capsys.readouterr().out
    path = tmp_path / "var" / "reports" / f"programme-report-all-{AS_OF}.html"
    assert f"HTML report: {Path('var/reports') / path.name}" in out
    assert "time to hire: median 5.7 weeks" in out and "forecast:" in out
    html = path.read_text()
    assert html.count("data:image/png;base64,") == 4 and "Where to grow" in html


def test_user_mistakes_are_one_line(cli, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    assert cli("--as", "Kim@RVH", "report", "funnel", "--org", "NMH") == 2
    assert capsys.readouterr().err.strip() == "error: RVH can only see its own journeys, not NMH's"
    assert cli("report", "funnel", "--org", "NOPE") == 2
    assert capsys.readouterr().err.strip() == "error: unknown organisation 'NOPE'"
    assert cli("report", "grow", "--weight", "speed=3") == 2
    assert capsys.readouterr().err.startswith("error: unknown criterion 'speed'")
    assert cli("report", "funnel", "--by", "colour") == 2
    assert cli("report", "stalled", "--as-of", "2026-02-30") == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and all(e.startswith("error: ") for e in errors)
    # A partner's own report is allowed, and only its own.
    assert cli("--as", "Kim@RVH", "report", "funnel", "--json") == 0
    assert json.loads(capsys.readouterr().out)["organisation"] == "RVH"


def test_backtest_command_on_a_small_synthetic_history(
    cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    args = (
        "report",
        "backtest",
        "--journeys",
        "400",
        "--sims",
        "100",
        "--cut",
        "2025-01-01",
        "--chart",
        "bt.png",
    )
    assert cli(*args, "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["months_compared"] == 12 and "synthetic history of 400" in data["source"]
    assert (tmp_path / "bt.png").read_bytes().startswith(PNG)
    assert cli("report", "backtest", "--cut", "2025-01-15") == 2


def test_charts_render_as_png(cli) -> None:  # type: ignore[no-untyped-def]
    import os

    engine = make_engine(os.environ["PEERPATH_DATABASE_URL"])
    uow = UnitOfWork(engine, builtin_registry())
    with uow:
        reports = all_reports(uow.session, uow.pathways, as_of=AS_OF)
        fc = forecast(uow.session, uow.pathways, as_of=AS_OF, settings=Settings(sims=100)).report(None)
    engine.dispose()
    for png in (charts.funnel_chart(reports["funnel"]), charts.time_to_hire_chart(reports["time-to-hire"]),
                charts.checks_chart(reports["checks"]), charts.forecast_chart(fc)):  # fmt: skip
        assert png.startswith(PNG) and len(png) > 10_000


def test_report_cli_module_imports_nothing_heavy() -> None:
    code = (
        "import sys; import peerpath.cli.reports, peerpath.cli.forecasts;"
        "print(sorted(m for m in ('prefect', 'sqlalchemy', 'numpy', 'matplotlib') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"

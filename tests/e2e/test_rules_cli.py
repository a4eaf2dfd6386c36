"""`peerpath rules check/show`, `sweep`, `escalations`, `escalation resolve`, `org closure` and the
ball-in-court clocks of `show`, run in-process against real databases like tests/e2e/test_cli.py."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lifecycle.clock import london_today
from lifecycle.persistence.database import make_engine
from lifecycle.states import Party
from notifications.models import OutboxMessage
from peerpath.cli import main
from rules.calendar import WorkingCalendar
from rules.persistence import Escalation, OrganisationClosure, RuleAction
from rules.ruleset import DEFAULT_RULES, load_rules

DEFAULT_COUNT = len(load_rules([DEFAULT_RULES]).rules)

GOOD = """\
rules:
  - name: nmh-hiv-welcome
    reason: HIV applicants at NMH hear from the peer lead within two working days.
    applies_to: {states: [applied], pathways: [hiv], organisations: [NMH]}
    clock: applied
    steps:
      - {day: 2, action: remind, to: coordinator, template: shortlisting-due}
overrides:
  - rule: dbs-stall
    organisation: NMH
    steps:
      - {day: 10, action: remind, to: coordinator, template: dbs-overdue}
"""

OVERRIDES = """\
overrides:
  - rule: dbs-stall
    organisation: NMH
    pathway: hiv
    steps:
      - {day: 10, action: remind, to: coordinator, template: dbs-overdue}
      - {day: 21, action: escalate, to: programme_lead, template: dbs-overdue}
  - rule: references-chase
    pathway: hiv
    enabled: false
"""


def _runner(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path):  # type: ignore[no-untyped-def]
    """The rules commands need no database: point at one that does not exist, and check it stays so."""
    db = tmp_path / "never.db"
    monkeypatch.setenv("PEERPATH_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.delenv("PEERPATH_RULES_DIR", raising=False)
    yield _runner(capsys)
    assert not db.exists()


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PEERPATH_DATABASE_URL", database_url)
    monkeypatch.setenv("PEERPATH_ACTOR", "Nadia (coordinator)")
    monkeypatch.delenv("PEERPATH_RULES_DIR", raising=False)
    return _runner(capsys)


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def one_error_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err.removeprefix("error: ").rstrip("\n")


# rules check


def test_rules_check_accepts_a_good_file(offline, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    good = write(tmp_path, "good.yaml", GOOD)
    code, out, err = offline("rules", "check", str(good))
    assert (code, out, err) == (0, f"ok: {DEFAULT_COUNT + 1} rules, 1 overrides\n", "")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            GOOD.replace("template: shortlisting-due", "template: no-such-template"),
            "bad.yaml:7: unknown template 'no-such-template'",
        ),
        (
            GOOD.replace("name: nmh-hiv-welcome", "name: dbs-stall"),
            "bad.yaml:2: duplicate rule name 'dbs-stall' (first in default.yaml)",
        ),
        (
            GOOD.replace(
                "to: coordinator, template: shortlisting-due", "to: the-board, template: shortlisting-due"
            ),
            "bad.yaml:7: rules.0.steps.0.to: Input should be 'candidate'",
        ),
        (
            GOOD.replace("{day: 2,", "{day: -2,"),
            "bad.yaml:7: rules.0.steps.0.day: Input should be greater than or equal to 0",
        ),
        (
            GOOD.replace("rule: dbs-stall", "rule: dbs-stalls"),
            "bad.yaml:9: override of unknown rule 'dbs-stalls'",
        ),
        (
            GOOD.replace("    organisation: NMH\n", ""),
            "bad.yaml:9: overrides.0: an override names an organisation, a pathway or both",
        ),
        (GOOD.replace("    clock: applied", "  clock: applied"), "bad.yaml:5: not valid YAML: "),
    ],
    ids=["template", "duplicate", "role", "negative-day", "unknown-rule", "unscoped-override", "yaml"],
)
def test_rules_check_refuses_a_bad_file_with_one_line(
    offline, tmp_path: Path, text: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    bad = write(tmp_path, "bad.yaml", text)
    code, out, err = offline("rules", "check", str(bad))
    assert code == 2 and out == ""
    assert one_error_line(err).startswith(message)


def test_rules_check_of_a_missing_file(offline, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = offline("rules", "check", str(tmp_path / "missing.yaml"))
    assert code == 2 and one_error_line(err).startswith("missing.yaml: cannot read: ")


# rules show


def test_rules_show_applies_overrides_from_the_rules_dir(
    offline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    rules_dir = tmp_path / "local-rules"
    write(rules_dir, "nmh.yaml", OVERRIDES)
    monkeypatch.setenv("PEERPATH_RULES_DIR", str(rules_dir))

    code, out, _ = offline("rules", "show", "--org", "nmh", "--pathway", "hiv", "--json")
    assert code == 0
    rows = {r["rule"]: r for r in json.loads(out)}
    assert len(rows) == DEFAULT_COUNT
    assert rows["dbs-stall"]["steps"] == [
        "day 10: remind coordinator (dbs-overdue)", "day 21: escalate programme_lead (dbs-overdue)",
    ]  # fmt: skip
    assert rows["dbs-stall"]["overridden_by"] == ["NMH/hiv"]
    assert rows["dbs-stall"]["days"] == "calendar", "fields the override does not name keep their defaults"
    assert rows["references-chase"]["enabled"] is False and rows["references-chase"]["overridden_by"] == [
        "*/hiv"
    ]
    assert all(
        r["overridden_by"] == [] for name, r in rows.items() if name not in ("dbs-stall", "references-chase")
    )

    code, out, _ = offline("rules", "show", "--org", "RVH", "--pathway", "hiv", "--json")
    rows = {r["rule"]: r for r in json.loads(out)}
    assert (
        rows["dbs-stall"]["steps"][0] == "day 14: remind coordinator (dbs-overdue)"
        and rows["dbs-stall"]["overridden_by"] == []
    )
    assert rows["references-chase"]["enabled"] is False, (
        "the pathway-wide override applies at every organisation"
    )

    code, out, _ = offline(
        "rules", "show", "--org", "NMH", "--pathway", "adult-community-mental-health", "--json"
    )
    rows = {r["rule"]: r for r in json.loads(out)}
    assert rows["dbs-stall"]["overridden_by"] == [] and rows["references-chase"]["enabled"] is True

    code, out, _ = offline("rules", "show", "--org", "NMH", "--pathway", "hiv")
    assert code == 0 and "NMH/hiv" in out and "references-chase (off)" in out


def test_rules_show_refuses_a_bad_rules_dir(offline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    rules_dir = tmp_path / "local-rules"
    write(
        rules_dir,
        "nmh.yaml",
        OVERRIDES.replace("pathway: hiv\n    enabled", "pathway: astrology\n    enabled"),
    )
    monkeypatch.setenv("PEERPATH_RULES_DIR", str(rules_dir))
    code, _, err = offline("rules", "show", "--json")
    assert code == 2 and one_error_line(err).endswith("unknown pathway 'astrology'")
    assert one_error_line(err).startswith("nmh.yaml:")
    monkeypatch.setenv("PEERPATH_RULES_DIR", str(tmp_path / "nowhere"))
    code, _, err = offline("rules", "show")
    assert code == 2 and "does not exist" in one_error_line(err)


# The sweep and escalations, after `peerpath demo`


def table_counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                model.__tablename__: int(conn.scalar(select(func.count()).select_from(model)) or 0)
                for model in (RuleAction, Escalation, OutboxMessage, OrganisationClosure)
            }
    finally:
        engine.dispose()


def test_demo_then_sweep_escalations_resolve_closure_and_show(cli, database_url: str) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("demo")
    assert code == 0 and out.startswith("demo loaded: ")
    empty = {"rule_actions": 0, "escalations": 0, "outbox": 0, "organisation_closures": 0}
    assert table_counts(database_url) == empty

    # A dry run lists what each person would get, and writes nothing.
    code, out, _ = cli("sweep", "--dry-run", "--json")
    assert code == 0
    dry = json.loads(out)
    assert dry["dry_run"] is True and dry["as_of"] == london_today().isoformat()
    assert dry["actions"] == len(dry["planned"]) > 0 and dry["escalations_opened"] > 0
    for row in dry["planned"]:
        assert row["journey"].startswith("J-") and row["action"] in ("remind", "escalate") and row["email"]
    assert table_counts(database_url) == empty
    code, out, _ = cli("sweep", "--dry-run")
    assert code == 0 and "dry run: nothing written" in out
    header = next(line for line in out.splitlines() if " journey " in line and " rule " in line)
    assert " subject " in header, "the dry-run table says what each message is about"
    assert "check:dbs" in out
    assert table_counts(database_url) == empty

    # The real sweep writes what the dry run listed.
    code, out, _ = cli("sweep", "--json")
    assert code == 0
    real = json.loads(out)
    assert real["dry_run"] is False and "planned" not in real
    assert (real["actions"], real["escalations_opened"], real["reminders"]) == (
        dry["actions"], dry["escalations_opened"], dry["reminders"],
    )  # fmt: skip
    written = table_counts(database_url)
    assert written["rule_actions"] == real["actions"] and written["escalations"] == real["escalations_opened"]
    # one message per person and matter: several steps due at once send only the latest
    assert written["outbox"] == real["messages"] == dry["messages"] <= real["actions"] - real["unroutable"]
    code, out, _ = cli("sweep", "--json")
    assert json.loads(out)["actions"] == 0 and table_counts(database_url) == written

    # Open escalations, one resolved by hand, and resolving it again refused.
    code, out, _ = cli("escalations", "--open", "--json")
    opened = json.loads(out)
    assert code == 0 and len(opened) == real["escalations_opened"]
    assert all(e["resolved_on"] is None and e["journey"].startswith("J-") for e in opened)
    first = opened[0]
    code, out, err = cli(
        "escalation", "resolve", str(first["id"]), "--note", "chased the DBS by phone; police stage"
    )
    assert (code, out, err) == (0, f"escalation {first['id']} resolved\n", "")
    code, out, _ = cli("escalations", "--open", "--json")
    assert [e["id"] for e in json.loads(out)] == [e["id"] for e in opened[1:]]
    code, out, _ = cli("escalations", "--json")
    resolved = next(e for e in json.loads(out) if e["id"] == first["id"])
    assert resolved["resolution"] == "chased the DBS by phone; police stage"
    assert resolved["resolved_on"] == london_today().isoformat()
    code, out, err = cli("escalation", "resolve", str(first["id"]), "--note", "again")
    assert code == 2 and out == ""
    assert (
        one_error_line(err)
        == f"escalation {first['id']} was already resolved on {london_today().isoformat()}"
    )
    code, _, err = cli("escalation", "resolve", "999999", "--note", "x")
    assert code == 2 and one_error_line(err) == "unknown escalation 999999"
    org = next(e["organisation"] for e in opened if e["organisation"])
    code, out, _ = cli("escalations", "--org", org.lower(), "--json")
    mine = json.loads(out)
    assert code == 0 and mine and {e["organisation"] for e in mine} == {org}
    code, _, err = cli("sweep", "--as-of", "2026-02-30")
    assert code == 2 and "is not a date" in one_error_line(err)

    # Closure days for an organisation.
    code, out, _ = cli("org", "closure", "NMH", "2026-12-24")
    assert (code, out) == (0, "NMH: 1 closure day(s) added\n")
    code, out, _ = cli("org", "closure", "nmh", "2026-12-24", "2026-12-31")
    assert (code, out) == (0, "NMH: 1 closure day(s) added\n")
    assert table_counts(database_url)["organisation_closures"] == 2
    code, _, err = cli("org", "closure", "NMH", "2026-12-32")
    assert code == 2 and "is not a date" in one_error_line(err)
    code, _, err = cli("org", "closure", "NOPE", "2026-12-24")
    assert code == 2 and "NOPE" in one_error_line(err)

    # Ball in court for the first journey.
    code, out, _ = cli("show", "J-000001", "--json")
    assert code == 0
    shown = json.loads(out)
    ball = shown["ball_in_court_working_days"]
    assert isinstance(ball, dict) and {"coordinator", "candidate"} <= ball.keys()
    assert set(ball) <= {p.value for p in Party}
    elapsed = WorkingCalendar().working_days_between(date.fromisoformat(shown["applied_on"]), london_today())
    assert all(isinstance(n, int) and 0 < n <= elapsed for n in ball.values())
    code, out, _ = cli("show", "J-000001")
    assert code == 0 and "ball in court (working days, paused time excluded):" in out

    # A paused journey reads "paused since <the pause date> (from <state>)".
    code, out, _ = cli("journeys", "--state", "paused", "--json")
    paused = json.loads(out)[0]["ref"]
    code, out, _ = cli("show", paused, "--json")
    shown = json.loads(out)
    code, out, _ = cli("show", paused)
    assert f"paused since {shown['since'][:10]} (from {shown['paused_from']})" in out

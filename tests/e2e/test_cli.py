"""The `peerpath` command line against real databases: outputs, JSON, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from peerpath.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("PEERPATH_DATABASE_URL", database_url)
    monkeypatch.setenv("PEERPATH_ACTOR", "Nadia (coordinator)")

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def setup_programme(cli) -> str:
    assert cli("org", "add", "NMH", "North Midlands Mental Health NHS FT", "--kind", "nhs_trust")[0] == 0
    assert cli("org", "add", "MIND-N", "North Mind", "--kind", "vcse")[0] == 0
    assert cli("org", "contact", "MIND-N", "hr", "Rae Hart", "hr@mind-n.example.org")[0] == 0
    assert cli("team", "add", "CMHT-N", "North CMHT", "--org", "NMH", "--speciality", "mental-health",
               "--supervisor", "Sam Okafor", "--briefed", "--role-agreed", "--peer-supervision")[0] == 0  # fmt: skip
    code, out, _ = cli("applicant", "add", "Ada", "Lovelace", "ada@example.com",
                       "--pathway", "adult-community-mental-health", "--org", "MIND-N", "--applied-on", "2026-11-02")  # fmt: skip
    assert code == 0
    return out.strip()


def test_a_journey_from_the_command_line(cli) -> None:
    ref = setup_programme(cli)
    assert ref == "J-000001"
    for trigger in ("shortlist", "schedule_interview", "record_interview", "offer", "accept_offer"):
        assert cli("trigger", ref, trigger)[0] == 0
    assert cli("check", ref, "dbs", "waiting", "--on", "2026-11-02")[0] == 0
    code, _, err = cli("trigger", ref, "clear", "--start-date", "2099-01-04")
    assert code == 2
    assert err.strip().startswith(f"error: cannot clear {ref}: identity not recorded;")
    assert "DBS still waiting on DBS since 2026-11-02" in err
    assert len(err.strip().splitlines()) == 1

    code, out, _ = cli("show", ref, "--json")
    shown = json.loads(out)
    assert shown["state"] == "checks" and shown["employer"] == "MIND-N"
    assert [e["what"] for e in shown["timeline"]][-1] == "check dbs: waiting (waiting on dbs)"
    assert {e["actor"] for e in shown["timeline"]} == {"Nadia (coordinator)"}

    code, out, _ = cli("journeys", "--state", "checks", "--org", "mind-n", "--json")
    assert [j["ref"] for j in json.loads(out)] == [ref]
    assert json.loads(cli("journeys", "--state", "applied", "--json")[1]) == []

    code, out, _ = cli("pipeline", "--json")
    assert json.loads(out)["checks"] == {"adult-community-mental-health": 1}
    code, out, _ = cli("show", ref)
    assert code == 0 and "Timeline" in out and "Checks" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["trigger", "J-000999", "shortlist"], "unknown journey 'J-000999'"),
        (["trigger", "J-000001", "teleport"], "unknown trigger 'teleport'"),
        (["journeys", "--state", "dreaming"], "unknown state 'dreaming'"),
        (["check", "J-000001", "horoscope", "cleared"], "unknown check kind 'horoscope'"),
        (["check", "J-000001", "dbs", "waiting", "--on", "2026-02-30"], "date '2026-02-30' is not a date"),
        (["trigger", "J-000001", "clear", "--start-date", "tomorrow"], "start date 'tomorrow' is not a date"),
        (
            ["applicant", "add", "A", "B", "a@example.com", "--pathway", "nope", "--org", "NMH"],
            "unknown pathway 'nope'",
        ),
        (
            ["team", "add", "T1", "Team", "--org", "NMH", "--speciality", "astrology"],
            "unknown speciality 'astrology'",
        ),
        (["org", "add", "NMH", "Again"], "organisation NMH already exists"),
        (["no-such-command"], "No such command"),
        (["trigger", "J-000001"], "Missing argument"),
    ],
)
def test_user_mistakes_print_one_line_and_exit_2(cli, args: list[str], message: str) -> None:
    setup_programme(cli)
    code, out, err = cli(*args)
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err
    assert "Traceback" not in err


def test_import_rejects_bad_file_listing_every_row(cli, tmp_path: Path) -> None:
    setup_programme(cli)
    csv = tmp_path / "applicants.csv"
    csv.write_text(
        "first_name,last_name,email,pathway,employer\nA,B,a@example.com,hiv,NMH\nC,D,bad,hiv,NMH\nE,F,e@example.com,hiv,ZZZ\n"
    )
    code, out, err = cli("import-applicants", str(csv))
    assert code == 2
    assert err.splitlines() == [
        "applicants.csv: line 3: email 'bad' is not a valid address: An email address must have an @-sign.",
        "applicants.csv: line 4: unknown employer 'ZZZ'",
        "error: applicants.csv: 2 bad row(s); nothing imported",
    ]
    assert json.loads(cli("journeys", "--json")[1])[1:] == []
    code, _, err = cli("import-applicants", str(tmp_path / "missing.csv"))
    assert code == 2 and err.startswith("error: CSV file ") and "missing.csv: cannot read" in err


def test_stale_version_exits_3(cli) -> None:
    ref = setup_programme(cli)
    cli("trigger", ref, "shortlist")
    code, _, err = cli("trigger", ref, "reject", "--reason", "x", "--expect-version", "1")
    assert code == 3 and "someone changed it meanwhile" in err


def test_diagram_and_pathways(cli) -> None:
    code, out, _ = cli("diagram")
    assert code == 0 and out.startswith("---\nPSW journey\n---\nstateDiagram-v2")
    code, out, _ = cli("pathways", "--json")
    ids = {p["id"] for p in json.loads(out)}
    assert {
        "adult-community-mental-health",
        "perinatal-mental-health",
        "type-1-diabetes",
        "hiv",
        "learning-disability-autism",
    } <= ids


def test_the_installed_command_runs_and_reports_an_unset_up_database(tmp_path: Path) -> None:
    env = {**os.environ, "PEERPATH_DATABASE_URL": f"sqlite:///{tmp_path}/fresh.db"}
    peerpath = str(Path(sys.executable).parent / "peerpath")
    result = subprocess.run([peerpath, "journeys"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "error: the database is not set up: run `peerpath db upgrade`\n"
    result = subprocess.run(
        [peerpath, "db", "upgrade"], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    from peerpath.migrate import head_revision

    assert result.returncode == 0 and f"empty -> {head_revision()}" in result.stdout

"""Special-category data never leaves its field: an end-to-end hunt for sentinel values.

Unique sentinel strings are seeded, through the command line, into every special-category kind
(lived-experience notes, occupational-health outcomes, DBS disclosure details) on several demo
journeys in different states, and into the free-text places people might type them (pause, reject,
withdraw, withdraw-offer and leave reasons; an escalation's resolution note). Then everything that
produces output runs: the demo, a sweep, `outbox send --to-sink`, the listings (`show`, `journeys`,
`escalations`, `outbox --json`, `pipeline`, a dry-run sweep, a dry-run retention), and under a real
Prefect API (`prefect_test_harness`, PREFECT_HOME in a temporary folder) the nightly-sweep flow
(sending through SMTP to a second sink, applying retention), the sweep preview and the partner
digest. Every log line is captured (root and Prefect loggers at DEBUG, the run logs read back from
the API), and stdout/stderr too.

Then every .eml file (headers and decoded parts), every Prefect artifact, flow run and task run
(read back through the client), every digest, every command's output and every log line is scanned:
no sentinel may appear. The only places they may be read:

- special-category notes: `peerpath sensitive show` for the employing organisation (asserted, to
  prove the seeding worked);
- free-text reasons: the journey's own timeline (`peerpath show`) for the employer and the programme
  lead; the host organisation's `show` of the same journey is scanned like everything else;
- escalation notes: `peerpath escalations`, the escalations' own listing.

Finally the database itself: each sentinel is stored only in its own column.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text

from lifecycle.clock import london_today
from lifecycle.persistence.database import make_engine
from peerpath.cli import main
from tests.prefect_harness import prefect_harness

ACTOR = "Nadia (coordinator)"  # no "@": the programme lead
MARK = "SENTINEL"
KINDS = {
    "lived_experience_note": "SENTINEL-LIVED-7f3a",
    "occupational_health_outcome": "SENTINEL-OH-2c9e",
    "dbs_disclosure": "SENTINEL-DBS-b41d",
}
SMTP = ("HOST", "PORT", "SECURITY", "USERNAME", "PASSWORD", "TIMEOUT")
QUIET_LOGGERS = ("prefect.extra", "prefect._internal")  # Prefect's loggers that do not propagate to root


# A real Prefect API for this module (prefect is imported only here, after PREFECT_HOME is set)


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    home = tmp_path_factory.mktemp("prefect-home")
    with prefect_harness(home):
        yield


# Capture: every command's output, every log record


class Captured:
    def __init__(self) -> None:
        self.surfaces: dict[str, str] = {}  # what was produced, by where it came from

    def add(self, name: str, content: str) -> None:
        key, n = name, 1
        while key in self.surfaces:
            n += 1
            key = f"{name} #{n}"
        self.surfaces[key] = content


@pytest.fixture
def world(
    tmp_path: Path,
    sqlite_template: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> Iterator[tuple[Captured, Any]]:
    monkeypatch.chdir(tmp_path)  # no stray .env
    shutil.copy(sqlite_template, tmp_path / "peerpath.db")
    url = f"sqlite:///{tmp_path / 'peerpath.db'}"
    monkeypatch.setenv("PEERPATH_DATABASE_URL", url)
    monkeypatch.setenv("PEERPATH_ACTOR", ACTOR)
    for variable in ("ORGANISATION", "RULES_DIR", "PATHWAYS_DIR", *(f"SMTP_{v}" for v in SMTP)):
        monkeypatch.delenv(f"PEERPATH_{variable}", raising=False)
    caplog.set_level(logging.DEBUG)
    for name in ("prefect", "prefect.flow_runs", "prefect.task_runs", *QUIET_LOGGERS):
        caplog.set_level(logging.DEBUG, logger=name)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).addHandler(caplog.handler)
    captured = Captured()

    def cli(*args: str) -> str:
        code = main(list(args))
        out, err = capfd.readouterr()
        captured.add("peerpath " + " ".join(a[:40] for a in args), out + err)
        assert code == 0, (args, out[-500:], err[-2000:])
        return out

    try:
        yield captured, cli
    finally:
        for name in QUIET_LOGGERS:
            logging.getLogger(name).removeHandler(caplog.handler)
        out, err = capfd.readouterr()
        captured.add("stdout/stderr (rest)", out + err)
        from peerpath import app

        app._engine(url).dispose()


# Reading things back


def eml_text(path: Path) -> str:
    """Headers and every decoded part (quoted-printable and base64 undone), plus the raw bytes."""
    raw = path.read_bytes()
    message = message_from_bytes(raw, policy=policy.default)
    texts = [f"{name}: {value}" for name, value in message.items()]
    for part in message.walk():
        if part.is_multipart():
            continue
        content = part.get_content()
        texts.append(content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content))
    return "\n".join(texts) + "\n" + raw.decode("latin-1")


def prefect_records(flow_run_ids: list[Any]) -> dict[str, str]:
    """Artifacts, logs, flow runs and task runs of these flow runs, as the API returns them."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )

    async def read() -> dict[str, str]:
        found: dict[str, str] = {}
        async with get_client() as client:
            artifacts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=flow_run_ids))
            )
            for a in artifacts:
                found[f"artifact {a.key or a.id}"] = json.dumps(a.model_dump(mode="json"), ensure_ascii=False)
            logs = await client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=flow_run_ids))
            )
            found["run logs (API)"] = "\n".join(f"{log.level} {log.name}: {log.message}" for log in logs)
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=flow_run_ids))
            )
            found["flow runs (API)"] = json.dumps(
                [r.model_dump(mode="json") for r in runs], ensure_ascii=False
            )
            tasks = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=flow_run_ids))
            )
            found["task runs (API)"] = json.dumps(
                [t.model_dump(mode="json") for t in tasks], ensure_ascii=False
            )
            found["_counts"] = json.dumps({"artifacts": len(artifacts), "logs": len(logs), "runs": len(runs)})
        return found

    return asyncio.run(read())


def database_columns(url: str) -> dict[str, str]:
    """Every stored value, by table.column."""
    engine = make_engine(url)
    found: dict[str, list[str]] = {}
    try:
        with engine.connect() as conn:
            for table in inspect(engine).get_table_names():
                for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                    for column, value in row._mapping.items():
                        if value is not None:
                            found.setdefault(f"{table}.{column}", []).append(str(value))
    finally:
        engine.dispose()
    return {k: "\n".join(v) for k, v in found.items()}


def sentinels_in(content: str) -> list[str]:
    """Every sentinel-looking token in `content` (case-insensitive), e.g. SENTINEL-DBS-b41d-2."""
    lowered = content.lower()
    hits, start = [], 0
    while (at := lowered.find(MARK.lower(), start)) != -1:
        hits.append(content[at : at + 40].split()[0] if content[at : at + 40].split() else MARK)
        start = at + 1
    return hits


# The test


def test_no_special_category_data_or_typed_reasons_leak_anywhere(
    world: tuple[Captured, Any],
    prefect_api: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    captured, cli = world
    url = os.environ["PEERPATH_DATABASE_URL"]
    today = london_today()

    # The demo programme
    assert cli("demo").startswith("demo loaded:")
    journeys = json.loads(cli("journeys", "--json"))
    by_state: dict[str, list[dict[str, Any]]] = {}
    for j in journeys:
        by_state.setdefault(j["state"], []).append(j)

    # Special-category notes on several journeys, in different states, each kept by its employer
    seeded: dict[str, dict[str, str]] = {}  # ref -> kind -> sentinel
    for state in ("applied", "shortlisted", "interview_scheduled", "offered", "checks", "cleared",
                  "induction", "training", "probation", "embedded"):  # fmt: skip
        for j in by_state.get(state, [])[:1]:
            n = len(seeded) + 1
            seeded[j["ref"]] = {kind: f"{value}-{n}" for kind, value in KINDS.items()}
            for kind, sentinel in seeded[j["ref"]].items():
                cli("--as", f"Casey Wren@{j['employer']}", "sensitive", "add", j["ref"], kind, sentinel)
    assert len(seeded) >= 8, sorted(by_state)
    notes = {s for kinds in seeded.values() for s in kinds.values()}

    # Free-text reasons where people might type the same things
    reasons: dict[str, str] = {}

    def typed(ref: str, *args: str) -> None:
        sentinel = f"SENTINEL-REASON-{args[0]}-{len(reasons) + 1}"
        reasons[ref] = sentinel
        cli(*args[:1], ref, *args[1:], "--reason", f"{sentinel}: talked about their diagnosis")

    def first(state: str) -> str:
        return next(j["ref"] for j in by_state[state] if j["ref"] not in reasons)

    paused = first("checks")
    typed(paused, "pause")
    cli("resume", paused)  # and back: open, so it is swept and emailed
    typed(first("applied"), "trigger", "reject")
    typed(first("offered"), "trigger", "withdraw_offer")
    typed(first("shortlisted"), "withdraw")
    # The leaver: one hosted by another organisation than its employer, whose `show` is scanned below.
    team_host = {t["code"]: t["host"] for t in json.loads(cli("team", "list", "--json"))}
    typed(
        next(
            j["ref"]
            for j in by_state["embedded"]
            if team_host.get(j["team"] or "") not in (None, j["employer"])
        ),
        "leave",
    )

    # A sweep, the emails it queued, and an escalation resolved with a typed note
    cli("sweep")
    escalations = json.loads(cli("escalations", "--open", "--json"))
    assert escalations, "the demo sweep opened no escalation"
    note = "SENTINEL-NOTE-1: resolved after they shared their DBS disclosure"
    cli("escalation", "resolve", str(escalations[0]["id"]), "--note", note)
    mail = tmp_path / "mail"
    assert cli("outbox", "send", "--to-sink", str(mail)).startswith("sent ")

    # Everything a coordinator can list or show
    for ref in [*seeded, *reasons]:
        cli("show", ref)
        cli("show", ref, "--json")
    for args in (("journeys",), ("journeys", "--json"), ("pipeline",), ("pipeline", "--json"),
                 ("escalations",), ("escalations", "--json"), ("outbox", "--json", "--limit", "10000"),
                 ("outbox",), ("sweep", "--dry-run", "--json", "--as-of", str(today + timedelta(days=3))),
                 ("retention", "--dry-run", "--json"), ("org", "list", "--json"), ("team", "list", "--json")):  # fmt: skip
        cli(*args)

    # The reports: every figure as JSON, and the HTML report with its charts
    for report in (
        "funnel",
        "time-to-hire",
        "checks",
        "stalled",
        "supervision",
        "probation",
        "retention",
        "grow",
    ):
        cli("report", report, "--json")
    cli("report", "forecast", "--json", "--sims", "100")
    cli("report", "html", "--out", str(tmp_path / "reports"), "--sims", "100")

    # Another organisation that sees a journey (its host) sees no reason typed on it: reasons are
    # kept apart and shown only to the employer (and the programme lead).
    hosts = {t["code"]: t["host"] for t in json.loads(cli("team", "list", "--json"))}
    hosted = 0
    for ref in reasons:
        shown = json.loads(cli("show", ref, "--json"))
        host = hosts.get(shown["team"] or "")
        if host and host != shown["employer"]:
            hosted += 1
            cli("--as", f"Hana Host@{host}", "show", ref, "--json")
            cli("--as", f"Hana Host@{host}", "show", ref)
    assert hosted >= 1, "no journey with a reason is hosted by another organisation: the check proves nothing"
    # The one place special-category notes are read: by the employer (this also proves the seeding)
    shown_notes = set()
    for ref in seeded:
        employer = next(j["employer"] for j in journeys if j["ref"] == ref)
        rows = json.loads(cli("--as", f"Casey Wren@{employer}", "sensitive", "show", ref, "--json"))
        shown_notes |= {r["content"] for r in rows}
        cli("--as", f"Casey Wren@{employer}", "sensitive", "show", ref)
    assert shown_notes == notes

    # An erasure request for the candidate who withdrew: it reports counts, never what it removed
    withdrew = next(ref for ref, sentinel in reasons.items() if "-withdraw-" in sentinel)
    candidate = json.loads(cli("show", withdrew, "--json"))["candidate"]
    erased = json.loads(cli("erase", candidate, "--json"))
    assert (
        erased["candidates_anonymised"] == 1
        and erased["reasons_redacted"] >= 1
        and withdrew in erased["journeys"]
    )

    # Under Prefect: the nightly sweep (mail through SMTP, retention), the preview, the partner digest
    from flows.parameters import SweepOptions
    from flows.reports import ReportOptions, programme_report
    from flows.sweep import nightly_sweep, partner_digest, preview_sweep
    from notifications.sink import running_sink
    from peerpath.digest import organisation_codes, organisation_digest

    flow_mail = tmp_path / "flow-mail"
    states = []
    with running_sink(flow_mail) as (host, port):
        monkeypatch.setenv("PEERPATH_SMTP_HOST", host)
        monkeypatch.setenv("PEERPATH_SMTP_PORT", str(port))
        monkeypatch.setenv("PEERPATH_SMTP_SECURITY", "none")
        week = SweepOptions(acting_for="*", as_of=today + timedelta(days=7))
        states.append(asyncio.run(nightly_sweep(week, return_state=True)))
    states.append(
        asyncio.run(
            preview_sweep(SweepOptions(acting_for="*", as_of=today + timedelta(days=14)), return_state=True)
        )
    )
    states.append(asyncio.run(partner_digest("*", return_state=True)))
    states.append(
        asyncio.run(programme_report(ReportOptions(acting_for="*", simulations=100), return_state=True))
    )
    assert all(s.is_completed() for s in states), [(s.name, s.message) for s in states]
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()  # the run logs are sent in batches: send what is queued, then read them back
    records = prefect_records([s.state_details.flow_run_id for s in states])
    counts = json.loads(records.pop("_counts"))
    assert counts["runs"] == 4 and counts["artifacts"] >= 10 and counts["logs"] >= 1, counts
    assert any(k.startswith("artifact partner-digest-") for k in records), sorted(records)
    for name, content in records.items():
        captured.add(f"prefect {name}", content)

    engine = make_engine(url)
    try:
        from sqlalchemy.orm import Session

        with Session(engine) as session:
            for code in organisation_codes(session):
                captured.add(f"digest {code}", organisation_digest(session, code, today).markdown())
    finally:
        engine.dispose()

    # Every report file written (the CLI's and the flow's HTML reports)
    report_files = [
        p for p in tmp_path.rglob("*") if p.is_file() and "reports" in p.relative_to(tmp_path).parts
    ]
    assert len({p.parent for p in report_files if p.suffix == ".html"}) >= 2, report_files
    for path in report_files:
        captured.add(
            f"report file {path.relative_to(tmp_path)}", path.read_bytes().decode("utf-8", "replace")
        )

    # Every email, from both sinks
    emails = sorted(mail.glob("*.eml")) + sorted(flow_mail.glob("*.eml"))
    assert len(list(mail.glob("*.eml"))) >= 10 and list(flow_mail.glob("*.eml")), "too few emails to judge"
    for path in emails:
        captured.add(f"email {path.parent.name}/{path.name}", eml_text(path))
    emailed = " ".join(captured.surfaces[k] for k in captured.surfaces if k.startswith("email "))
    assert any(ref in emailed for ref in seeded), "no email about a seeded journey: the hunt proves little"

    # Every log line
    logged = [f"{r.name} {r.levelname}: {r.getMessage()}" for r in caplog.get_records("call")]
    captured.add("log records", "\n".join(logged))
    assert len(logged) > 10, "the logs were not captured"

    # The hunt
    allowed = {
        # the employer reads its notes
        "sensitive show": notes,
        # a journey's own timeline shows the reasons typed on it
        "peerpath show": set(reasons.values()),
        # the escalations listing shows how each was resolved
        "peerpath escalations": {"SENTINEL-NOTE-1:"},
    }
    leaks = {}
    for name, content in captured.surfaces.items():
        found = sentinels_in(content)
        permitted = next((ok for prefix, ok in allowed.items() if prefix in name), set())
        bad = [hit for hit in found if not any(hit.rstrip(":").startswith(p.rstrip(":")) for p in permitted)]
        if bad:
            leaks[name] = sorted(set(bad))
    assert leaks == {}, f"sentinels found where they must never be: {json.dumps(leaks, indent=1)[:4000]}"
    timelines = " ".join(v for k, v in captured.surfaces.items() if k.startswith("peerpath show"))
    assert all(reason in timelines for reason in reasons.values()), "the reasons were not seeded"
    assert note[:15] in " ".join(
        v for k, v in captured.surfaces.items() if k.startswith("peerpath escalations")
    )

    # And in the database each sentinel lives only in its own column (the erased reason nowhere)
    stored = database_columns(url)
    assert reasons[withdrew] not in "\n".join(stored.values())
    for column, content in stored.items():
        hits = set(sentinels_in(content))
        expected = {
            "special_category_data.content": ("SENTINEL-LIVED", "SENTINEL-OH", "SENTINEL-DBS"),
            "free_text_reasons.content": ("SENTINEL-REASON",),
            "escalations.resolution": ("SENTINEL-NOTE",),
        }.get(column, ())
        assert all(h.startswith(expected) for h in hits) if expected else not hits, (
            column,
            sorted(hits)[:10],
        )

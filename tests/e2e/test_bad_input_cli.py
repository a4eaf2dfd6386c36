"""Bad command lines: every one exits 2 with exactly one `error:` line on stderr, no traceback, and
changes nothing in the database (row counts of every table before and after).

Runs `peerpath` in process (`main([...])`) against a SQLite file and a PostgreSQL database of this
module's own, each holding a small programme: organisations NMH and MIND-N, team CMHT-N and one
applicant (J-000001, candidate C-000001). A product bug found later is pinned with `bug=` (a strict xfail).
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from lifecycle.persistence.database import make_engine
from peerpath.cli import main
from peerpath.migrate import upgrade
from tests.conftest import ADMIN_URL, _postgres_unavailable

ACTOR = "Nadia (coordinator)"  # no "@": the programme lead
HUGE = "x" * 100_000
SMTP = ("HOST", "PORT", "SECURITY", "USERNAME", "PASSWORD", "TIMEOUT")


# Databases: one per backend for the module, set up through the CLI itself


def _setup(url: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PEERPATH_DATABASE_URL", url)
    monkeypatch.setenv("PEERPATH_ACTOR", ACTOR)
    monkeypatch.chdir(folder)
    for args in (
        ["org", "add", "NMH", "North Midlands Mental Health NHS FT", "--kind", "nhs_trust"],
        ["org", "add", "MIND-N", "North Mind", "--kind", "vcse"],
        ["team", "add", "CMHT-N", "North CMHT", "--org", "NMH", "--speciality", "mental-health",
         "--supervisor", "Sam Okafor", "--briefed", "--role-agreed", "--peer-supervision"],
        ["applicant", "add", "Ada", "Lovelace", "ada@example.com", "--pathway", "adult-community-mental-health",
         "--org", "MIND-N", "--applied-on", "2026-03-02"],
    ):  # fmt: skip
        assert main(args) == 0, args


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def programme(
    request: pytest.FixtureRequest, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp(f"bad-cli-{request.param}")
    with pytest.MonkeyPatch.context() as monkeypatch:
        if request.param == "sqlite":
            shutil.copy(sqlite_template, folder / "peerpath.db")
            url = f"sqlite:///{folder / 'peerpath.db'}"
            _setup(url, folder, monkeypatch)
            yield url
            from peerpath import app

            app._engine(url).dispose()
            return
        admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        name = f"peerpath_badcli_{uuid.uuid4().hex[:10]}"
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as exc:  # noqa: BLE001 - any failure means unreachable
            admin.dispose()
            _postgres_unavailable(str(exc).splitlines()[0])
        url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        try:
            engine = make_engine(url)
            upgrade(engine)
            engine.dispose()
            _setup(url, folder, monkeypatch)
            yield url
        finally:
            from peerpath import app

            app._engine(url).dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def row_counts(url: str) -> dict[str, int]:
    """Rows in every table (through the CLI's own cached engine for this URL)."""
    from peerpath import app

    engine = app._engine(url)
    with engine.connect() as conn:
        names = inspect(conn).get_table_names()
        counts = " UNION ALL ".join(f"SELECT '{n}', COUNT(*) FROM \"{n}\"" for n in names)
        return {name: int(n) for name, n in conn.execute(text(counts))}


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """Input files a coordinator might get wrong."""
    header = "first_name,last_name,email,pathway,employer,applied_on\n"
    (tmp_path / "latin1.csv").write_bytes(
        (header + "Zoë,Brontë,zoe@example.com,hiv,NMH,\n").encode("latin-1")
    )
    (tmp_path / "bad-rows.csv").write_text(
        header
        + "Bo,B,bo@example.com,hiv,NMH,1999-12-31\n"
        + '"Cy\r\nBcc: x@example.com",C,cy@example.com,hiv,NMH,\n'
        "Di,D,di@example.com,astrology,NOPE,\n" + "Ed,E,ed@example.com\n"
    )
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "a-folder.csv").mkdir()
    (tmp_path / "latin1.yaml").write_bytes("rules: []\n# Brontë\n".encode("latin-1"))
    (tmp_path / "broken.yaml").write_text("rules:\n  - name: [unclosed\n")
    (tmp_path / "control.yaml").write_text("rules: []\n# \x1f\n")
    (tmp_path / "a-folder.yaml").mkdir()
    (tmp_path / "a-file").write_text("not a folder")
    # Hostile files (issue 14): binary, deeply nested, huge integers, non-finite numbers
    (tmp_path / "binary.csv").write_bytes(b"first_name,last_name\x00\x01\xff\n" * 10)
    (tmp_path / "binary.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00")
    (tmp_path / "deep.yaml").write_text("readiness: " + "[" * 5000 + "]" * 5000 + "\n")
    (tmp_path / "deep-block.yaml").write_text(
        "".join("  " * n + "a:\n" for n in range(200)) + "  " * 200 + "b: 1\n"
    )
    (tmp_path / "bigint.yaml").write_text("readiness: " + "9" * 5000 + "\n")
    (tmp_path / "nan.yaml").write_text("readiness: .nan\n")
    (tmp_path / "inf.yaml").write_text("readiness: .inf\n")
    (tmp_path / "rules-deep.yaml").write_text("rules: " + "[" * 5000 + "]" * 5000 + "\n")
    (tmp_path / "rules-bigint.yaml").write_text("rules:\n  - name: x\n    after_days: " + "9" * 5000 + "\n")
    (tmp_path / "rules-nan.yaml").write_text("rules:\n  - name: x\n    after_days: .nan\n")
    for name, body in {"pw-deep": "id: " + "[" * 5000, "pw-bigint": "id: local\nversion: " + "9" * 5000,
                       "pw-binary": "\x00\x01"}.items():  # fmt: skip
        (tmp_path / name).mkdir()
        (tmp_path / name / "local.yaml").write_text(body)
    return tmp_path


@pytest.fixture
def cli(programme: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], files: Path):
    monkeypatch.chdir(files)  # no stray .env file; relative paths name the files above
    monkeypatch.setenv("PEERPATH_DATABASE_URL", programme)
    monkeypatch.setenv("PEERPATH_ACTOR", ACTOR)
    for variable in ("ORGANISATION", "RULES_DIR", "PATHWAYS_DIR", *(f"SMTP_{v}" for v in SMTP)):
        monkeypatch.delenv(f"PEERPATH_{variable}", raising=False)

    def run(args: list[str], env: dict[str, str]) -> tuple[int | str, str, str]:
        with monkeypatch.context() as patched:
            for key, value in env.items():
                patched.setenv(key, value)
            capsys.readouterr()
            try:
                code: int | str = main(args)
            except BaseException as exc:  # noqa: BLE001 - a traceback is exactly what is under test
                code = f"raised {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            out, err = capsys.readouterr()
        return code, out, err

    return run


# The table


@dataclass(frozen=True)
class Case:
    args: list[str]
    message: str  # found in the `error:` line
    env: dict[str, str] = field(default_factory=dict)
    bug: str | None = None  # a known product bug: the case is xfail(strict=True) on `on`
    on: tuple[str, ...] = ("sqlite", "postgres")
    id: str | None = None


W = "J-000001"  # the one journey (applied)
HUGE_INT = "99999999999999999999"
CASES = [
    # Wrong types
    Case(["trigger", W, "shortlist", "--expect-version", "abc"], "Invalid value for '--expect-version'"),
    Case(["outbox", "--limit", "many"], "Invalid value for '--limit'"),
    Case(["escalation", "resolve", "one", "--note", "done"], "Invalid value for 'escalation_id'"),
    Case(["book", W, "interview", "--at", "2026-12-01T10:00", "--minutes", "ten"], "Invalid value for '--minutes'"),
    Case(["serve", "--port", "http"], "Invalid value for '--port'"),
    Case(["book", W, "interview", "--at", "next tuesday"], "is not a date and time"),
    Case(["book", W, "interview", "--at", "2026-12-01T10:00", "--minutes", "-5"], "between 5 and 480 minutes"),
    # Unknown commands and options
    Case(["journeys", "--colour"], "No such option: --colour"),
    Case(["trigger", W, "shortlist", "--force"], "No such option: --force"),
    Case(["--as"], "Option '--as' requires an argument"),
    Case(["teleport", W], "No such command 'teleport'"),
    Case(["sensitive", "delete", W], "No such command 'delete'"),
    # Huge strings
    Case(["applicant", "add", HUGE, "Lovelace", "ada2@example.com", "--pathway", "hiv", "--org", "NMH"],
         "first name is longer than 100 characters", id="applicant-huge-first-name"),
    Case(["org", "add", "X" * 40, "Too long a code"], "must be 1-32 letters", id="org-huge-code"),
    Case(["org", "add", "NEW", HUGE], "organisation name is longer than 200 characters", id="org-huge-name"),
    Case(["trigger", W, "reject", "--reason", HUGE], "reason is longer than 500 characters", id="trigger-huge-reason"),
    Case(["sensitive", "add", W, "dbs_disclosure", HUGE], "a special-category note has 1 to 5000 characters",
         id="sensitive-huge-note"),
    Case(["show", HUGE], "unknown journey", id="show-huge-ref"),
    Case(["--as", HUGE + "@NMH", "journeys"], "actor name is longer than 200 characters", id="as-huge-name"),
    # Unicode
    Case(["org", "add", "ÄÖÜ", "Umlaut Trust"], "must be 1-32 letters"),
    Case(["trigger", W, "✓"], "unknown trigger '✓'"),
    Case(["check", W, "dbs", "✓"], "unknown check status '✓'"),
    Case(["journeys", "--state", "🙂"], "unknown state '🙂'"),
    Case(["sensitive", "add", W, "lived_experiencé_note", "x"], "unknown special-category kind"),
    Case(["applicant", "add", "Zoë", "Brontë", "zoë@", "--pathway", "hiv", "--org", "NMH"], "is not a valid address"),
    # CR/LF in names and free text
    Case(["applicant", "add", "Ada\r\nBcc: x@example.com", "L", "ada2@example.com", "--pathway", "hiv", "--org", "NMH"],
         "first name contains a line break or control character"),
    Case(["org", "add", "NEW", "North\nMind"], "organisation name contains a line break"),
    Case(["org", "contact", "NMH", "hr", "Rae\nHart", "rae@example.org"], "contact name contains a line break"),
    Case(["org", "contact", "NMH", "hr", "Rae Hart", "rae@example.org\r\nBcc: x@example.com"],
         "contact email contains a line break"),
    Case(["team", "add", "T1", "Te\r\nam", "--org", "NMH", "--speciality", "mental-health"],
         "team name contains a line break"),
    Case(["team", "ready", "CMHT-N", "--supervisor-email", "a@example.org\nBcc: x@example.com"],
         "supervisor email contains a line break"),
    Case(["--as", "Nadia\nForged@NMH", "journeys"], "actor name contains a line break"),
    Case(["trigger", W, "pause", "--reason", "a\r\nb"], "reason contains a line break"),
    Case(["book", W, "interview", "--at", "2026-12-01T10:00", "--location", "Room 1\r\nBcc: x"],
         "location contains a line break"),
    Case(["applicant", "add", "Ada\u2028Bcc", "L", "ada2@example.com", "--pathway", "hiv", "--org", "NMH"],
         "line break", id="applicant-name-with-u2028"),
    # Dates out of range
    Case(["applicant", "add", "Bo", "B", "bo@example.com", "--pathway", "hiv", "--org", "NMH", "--applied-on",
          "1999-12-31"], "applied on 1999-12-31 is out of range"),
    Case(["applicant", "add", "Bo", "B", "bo@example.com", "--pathway", "hiv", "--org", "NMH", "--applied-on",
          "2099-12-31"], "applied on 2099-12-31 is in the future"),
    Case(["sweep", "--as-of", "2101-01-01"], "as-of date 2101-01-01 is out of range"),
    Case(["retention", "--as-of", "0001-01-01"], "as-of date 0001-01-01 is out of range"),
    Case(["retention", "--as-of", "2026-02-30"], "as-of date '2026-02-30' is not a date"),
    Case(["check", W, "dbs", "waiting", "--on", "2101-01-01"], "date 2101-01-01 is out of range"),
    Case(["trigger", W, "clear", "--start-date", "1900-01-01"], "start date 1900-01-01 is out of range"),
    Case(["supervision", W, "peer", "--due", "1999-12-31"], "due date 1999-12-31 is out of range"),
    Case(["org", "closure", "NMH", "2026-12-24", "9999-12-31"], "closure date 9999-12-31 is out of range"),
    Case(["book", W, "interview", "--at", "0001-01-01T00:00"], "out of range", id="book-at-year-1"),
    Case(["book", W, "interview", "--at", "9999-12-31T23:59"], "out of range", id="book-at-year-9999"),
    # Unknown references
    Case(["show", "J-000999"], "unknown journey 'J-000999'"),
    Case(["trigger", "J-000999", "shortlist"], "unknown journey 'J-000999'"),
    Case(["sensitive", "show", "J-000999"], "unknown journey 'J-000999'"),
    Case(["erase", "C-000999"], "unknown candidate 'C-000999'"),
    Case(["erase", W], "unknown candidate 'J-000001'"),
    Case(["team", "ready", "NOPE", "--briefed"], "unknown team 'NOPE'"),
    Case(["org", "contact", "NOPE", "hr", "Rae Hart", "rae@example.org"], "unknown organisation 'NOPE'"),
    Case(["applicant", "add", "Bo", "B", "bo@example.com", "--pathway", "astrology", "--org", "NMH"],
         "unknown pathway 'astrology'"),
    Case(["applicant", "add", "Bo", "B", "bo@example.com", "--pathway", "hiv", "--org", "NOPE"],
         "unknown organisation 'NOPE'"),
    Case(["trigger", W, "shortlist", "--team", "NOPE"], "unknown team 'NOPE'"),
    Case(["outbox", "retry", "999"], "unknown outbox message 999"),
    Case(["escalation", "resolve", "999", "--note", "done"], "unknown escalation 999"),
    Case(["--as", "Sam@NMH", "trigger", W, "shortlist"], f"{W} is not a journey that NMH employs or hosts"),
    Case(["show", "J-999999999999"], "unknown journey", id="show-12-digit-ref"),
    Case(["erase", "C-999999999999"], "unknown candidate", id="erase-12-digit-ref"),
    Case(["escalation", "resolve", HUGE_INT, "--note", "done"], "unknown escalation", id="resolve-20-digit-id"),
    Case(["outbox", "retry", HUGE_INT], "unknown outbox message", id="retry-20-digit-id"),
    # Missing files, folders instead of files, files that are not UTF-8, CSV or YAML
    Case(["import-applicants", "missing.csv"], "CSV file missing.csv: cannot read: No such file or directory"),
    Case(["import-applicants", "a-folder.csv"], "CSV file a-folder.csv: cannot read: Is a directory"),
    Case(["import-applicants", "latin1.csv"], "CSV file latin1.csv: not UTF-8 text"),
    Case(["import-applicants", "empty.csv"], "empty.csv: 1 bad row(s); nothing imported"),
    Case(["import-applicants", "bad-rows.csv"], "bad-rows.csv: 4 bad row(s); nothing imported"),
    Case(["import-applicants", "."], "CSV file .: cannot read: Is a directory"),
    Case(["rules", "check", "missing.yaml"], "missing.yaml: cannot read: No such file or directory"),
    Case(["rules", "check", "a-folder.yaml"], "a-folder.yaml: cannot read: Is a directory"),
    Case(["rules", "check", "latin1.yaml"], "latin1.yaml: not UTF-8 text"),
    Case(["rules", "check", "broken.yaml"], "broken.yaml:2: not valid YAML"),
    Case(["rules", "check", "control.yaml"], "control.yaml", id="rules-check-control-character"),
    Case(["outbox", "send", "--to-sink", "a-file"], "a-file", id="outbox-send-to-a-file"),
    # Hostile input (issue 14): every file bounded before it is read, every value before it is used
    Case(["import-applicants", "/dev/zero"], "CSV file /dev/zero: larger than 50 MB: not read", id="import-dev-zero"),
    Case(["import-applicants", "binary.csv"], "binary.csv: not a text file", id="import-binary"),
    Case(["rules", "check", "/dev/zero"], "zero: larger than 1 MB: not read", id="rules-dev-zero"),
    Case(["rules", "check", "binary.yaml"], "binary.yaml: not a text file", id="rules-binary"),
    Case(["rules", "check", "rules-deep.yaml"], "nested more than 32 levels deep", id="rules-deep"),
    Case(["rules", "check", "deep-block.yaml"], "nested more than 32 levels deep", id="rules-deep-block"),
    Case(["rules", "check", "rules-bigint.yaml"], "an integer with 5000 digits", id="rules-5000-digits"),
    Case(["rules", "check", "rules-nan.yaml"], "'.nan' is not a finite number", id="rules-nan"),
    Case(["report", "grow", "--criteria", "/dev/zero"], "criteria file /dev/zero: larger than", id="grow-dev-zero"),
    Case(["report", "grow", "--criteria", "binary.yaml"], "binary.yaml: not a text file", id="grow-binary"),
    Case(["report", "grow", "--criteria", "deep.yaml"], "nested more than 32 levels deep", id="grow-deep"),
    Case(["report", "grow", "--criteria", "bigint.yaml"], "an integer with 5000 digits", id="grow-5000-digits"),
    Case(["report", "grow", "--criteria", "nan.yaml"], "not a finite number", id="grow-criteria-nan"),
    Case(["report", "grow", "--criteria", "inf.yaml"], "not a finite number", id="grow-criteria-inf"),
    Case(["report", "grow", "--criteria", "missing.yaml"], "cannot read", id="grow-criteria-missing"),
    Case(["report", "grow", "--weight", "readiness=nan"], "criterion readiness: 'nan'", id="grow-weight-nan"),
    Case(["report", "grow", "--weight", "readiness=1e309"], "criterion readiness: '1e309'", id="grow-weight-1e309"),
    Case(["report", "grow", "--weight", "readiness=-inf"], "criterion readiness: '-inf'", id="grow-weight-minus-inf"),
    Case(["report", "grow", "--weight", "psws_per_supervisor=" + "9" * 5000], "not a valid value",
         id="grow-weight-5000-digits"),
    Case(["pathways"], "cannot read pathway file: nested more than 32", env={"PEERPATH_PATHWAYS_DIR": "pw-deep"},
         id="env-pathway-deep"),
    Case(["pathways"], "an integer with 5000 digits", env={"PEERPATH_PATHWAYS_DIR": "pw-bigint"},
         id="env-pathway-5000-digits"),
    Case(["pathways"], "not a text file", env={"PEERPATH_PATHWAYS_DIR": "pw-binary"}, id="env-pathway-binary"),
    Case(["retention", "--as-of", "2099-01-01"], "is in the future: purging early is refused", id="retention-future"),
    Case(["book", W, "interview", "--at", "2026-01-05T10:00+00:00"], "is in the past", id="book-in-the-past"),
    Case(["report", "backtest", "--database-url", "sqlite:///other.db"], "No such option: --database-url",
         id="backtest-no-database-url"),
    Case(["--as", "Sam@NMH", "report", "backtest", "--on-database"], "only the programme lead",
         id="backtest-partner"),
    # Identities: ASCII codes, validated once, nothing ambiguous
    Case(["--as", "x@MIND-N@NMH", "journeys"], "is ambiguous", id="as-two-orgs"),
    Case(["--as", "x@poſv", "journeys"], "(ASCII only)", id="as-unicode-long-s"),
    Case(["--as", "x@NMH\n", "journeys"], "has spaces or a line break around it", id="as-org-line-break"),
    Case(["--as", "x@\tNMH", "journeys"], "has spaces or a line break around it", id="as-org-tab"),
    Case(["journeys", "--org", "poſv"], "(ASCII only)", id="org-option-unicode"),
    Case(["journeys"], "invalid setting PEERPATH_ORGANISATION", env={"PEERPATH_ORGANISATION": "NMH\nX"},
         id="env-organisation-newline"),
    Case(["journeys"], "has spaces or a line break", env={"PEERPATH_ORGANISATION": " nmh"},
         id="env-organisation-leading-space"),
    Case(["journeys"], "(ASCII only)", env={"PEERPATH_ORGANISATION": "poſv"}, id="env-organisation-unicode"),
    # Erasure: a partner erases its own record only; another's reads like an unknown one
    Case(["--as", "Sam@NMH", "erase", "C-000001"], "NMH cannot erase C-000001: not a candidate that NMH recorded",
         id="erase-another-organisations-record"),
    Case(["--as", "Sam@NMH", "erase", "C-000999"], "NMH cannot erase C-000999: not a candidate that NMH recorded",
         id="erase-unknown-as-partner"),
    Case(["--as", "Sam@MIND-N", "erase", "C-000001", "--everywhere"], "only the programme lead",
         id="erase-everywhere-partner"),
    # Settings from the environment
    Case(["journeys"], "invalid database URL 'nonsense'", env={"PEERPATH_DATABASE_URL": "nonsense"}),
    Case(["journeys"], "unsupported database 'mysql'", env={"PEERPATH_DATABASE_URL": "mysql://x@localhost/db"}),
    Case(["sweep"], "rules directory", env={"PEERPATH_RULES_DIR": "no-such-folder"}),
    Case(["pathways"], "pathway directory", env={"PEERPATH_PATHWAYS_DIR": "no-such-folder"}),
    Case(["pathways"], "cannot read pathway file", env={"PEERPATH_PATHWAYS_DIR": "."}),
    Case(["journeys"], "actor name contains a line break", env={"PEERPATH_ACTOR": "Nadia\r\nForged"}),
    Case(["journeys"], "organisation 'no such org' must be 1-32", env={"PEERPATH_ACTOR": "Nadia@no such org"}),
    Case(["journeys"], "smtp", env={"PEERPATH_SMTP_PORT": "99999999"}, id="env-smtp-port"),
    Case(["retention", "--dry-run"], "retention", env={"PEERPATH_RETENTION_UNSUCCESSFUL_DAYS": "abc"},
         id="env-retention-days"),
]  # fmt: skip


def _id(number: int, case: Case) -> str:
    if case.id:
        return case.id
    words = [*(f"{k.removeprefix('PEERPATH_').lower()}" for k in case.env), *(a for a in case.args if a != W)]
    return f"{number:02d}-" + "-".join(w[:16] for w in words)[:50].replace("\n", "\\n").replace("\r", "\\r")


PARAMS = [pytest.param(case, id=_id(n, case)) for n, case in enumerate(CASES, 1)]
assert len({p.id for p in PARAMS}) == len(PARAMS), "case ids must be unique"


@pytest.mark.parametrize("case", PARAMS)
def test_a_bad_command_line_is_one_error_line_exit_2_and_changes_nothing(
    request: pytest.FixtureRequest, cli, programme: str, case: Case
) -> None:
    backend = "sqlite" if programme.startswith("sqlite") else "postgres"
    if case.bug and backend in case.on:
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"product bug: {case.bug}"))
    before = row_counts(programme)
    code, out, err = cli(case.args, case.env)
    assert "Traceback" not in err and not str(code).startswith("raised"), (code, err[-2000:])
    assert code == 2, (code, out[-500:], err[-500:])
    lines = err.splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    if case.args[0] == "import-applicants":  # each bad row first, on its own line: `FILE: line N: reason`
        name = Path(case.args[1]).name
        assert all(re.match(rf"^{re.escape(name)}: line \d+: \S", line) for line in lines[:-1]), lines
    else:
        assert len(lines) == 1, err
    assert case.message in errors[0], (case.message, errors[0])
    assert out.strip() == "", out[-500:]  # (import-applicants' transient progress bar leaves a newline)
    assert row_counts(programme) == before


def test_bad_rows_are_each_named_with_their_line(cli, programme: str) -> None:
    code, _, err = cli(["import-applicants", "bad-rows.csv"], {})
    assert code == 2
    assert [line.split(":")[1].strip() for line in err.splitlines()[:-1]] == [
        "line 2",
        "line 4",
        "line 5",
        "line 6",
    ]


def test_the_programme_is_intact_after_every_bad_command(cli, programme: str) -> None:
    """The table above ran against this same database (on this worker): the set-up is still there, and
    nothing of what the bad commands tried was half-written (closures, notes, contacts, organisations)."""
    counts = row_counts(programme)
    assert (counts["organisations"], counts["teams"], counts["contacts"]) == (2, 1, 0)
    assert counts["special_category_data"] == 0 and counts["organisation_closures"] == 0
    code, out, err = cli(["show", W, "--json"], {})
    assert code == 0 and '"state": "applied"' in out, err

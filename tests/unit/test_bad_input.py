"""Bad input everywhere, driven by hypothesis: CSV imports, rule files, pathway files, flow parameters
and service arguments. Each is refused with one clear line (or accepted), never another exception,
and a refusal writes nothing.

- CSV (SQLite): random bytes decoded, random text, and generated files with huge strings, unicode,
  CR/LF inside quoted fields, dates out of range, unknown pathways and employers, wrong column
  counts and broken quoting -> ImportRejected listing line numbers, or one PeerpathError line; the
  database unchanged.
- Rule files -> RulesError `FILE[:LINE]: reason` on one line, or a RuleSet.
- Pathway files -> InvalidInput `FILE: reason` on one line, or a Pathway.
- Flow parameter models -> pydantic ValidationError, or a model.
- Service calls (SQLite) with random arguments -> PeerpathError on one line and the database
  unchanged, or success that stores only printable one-line text (a special-category note may run
  over several lines).

A product bug found later is pinned as a strict xfail that says what is wrong and where.
"""

from __future__ import annotations

import csv
import io
import os
import re
import unicodedata
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from sqlalchemy import inspect, text

from flows import parameters
from lifecycle import service
from lifecycle.errors import InvalidInput, PeerpathError
from lifecycle.importing import COLUMNS, MAX_BYTES, MAX_ROWS, ImportRejected, import_applicants
from lifecycle.pathways import BUILTIN_DIR, PathwayRegistry, builtin_registry, load_library, load_pathway
from lifecycle.persistence.database import make_engine
from lifecycle.persistence.privacy import erase, record_special_category
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.states import (
    CheckKind,
    CheckStatus,
    ContactRole,
    DbsLevel,
    OrgKind,
    Party,
    State,
    Trigger,
    Workforce,
)
from notifications.render import template_names
from rules.ruleset import DEFAULT_RULES, RulesError, load_rules
from rules.sweep import resolve_escalation
from tests.factories import ACTOR, at, journey_in, programme

# More examples for a deeper search: PEERPATH_BAD_INPUT_EXAMPLES=1000 pytest tests/unit/test_bad_input.py
EXAMPLES = int(os.environ.get("PEERPATH_BAD_INPUT_EXAMPLES", "40"))
FAST = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # no .hypothesis directory in the repo
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
PATHWAY_IDS = builtin_registry().ids()
LINE_BREAKS = ("\r", "\n", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


# What counts as a clear refusal


def one_line(message: str) -> str:
    assert message.strip(), "an empty error message"
    assert message.splitlines() == [message], f"not one line: {message!r}"
    assert "Traceback" not in message
    return message


def printable_line(value: str) -> bool:
    return not any(
        unicodedata.category(ch).startswith("C") or unicodedata.category(ch) in ("Zl", "Zp") for ch in value
    )


# Nasty values


SAMPLES = [
    "", " ", "Ada", "O'Brien", "Zoë", "李小龍", "🙂🙃", "A,B", 'Say "hi"', "\t", "\x00", "J-000001", "C-000001",
    "NMH", "nmh", "MIND-N", "hiv", "dbs", "cleared", "waiting", "2026-03-02", "null", "-1",
]  # fmt: skip
characters = st.characters(exclude_categories=("Cs",))
nasty_text = st.one_of(
    st.text(characters, max_size=30),
    st.sampled_from(SAMPLES),
    st.tuples(
        st.text(characters, max_size=8), st.sampled_from(LINE_BREAKS), st.text(characters, max_size=8)
    ).map("".join),
    st.integers(min_value=101, max_value=20_000).map(lambda n: "x" * n),  # longer than any field allows
)
any_date = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31))
service_date = any_date
date_text = st.one_of(
    any_date.map(date.isoformat),
    st.sampled_from(["2026-02-30", "2026-13-01", "1999-12-31", "2101-01-01", "26-3-2", "tomorrow", "", "0"]),
)


# Databases


def fresh_uow(tmp_path: Path, sqlite_template: Path) -> UnitOfWork:
    import shutil

    path = tmp_path / "peerpath.db"
    shutil.copy(sqlite_template, path)
    return UnitOfWork(make_engine(f"sqlite:///{path}"), builtin_registry())


def dump(uow: UnitOfWork) -> dict[str, list[tuple[str, ...]]]:
    with uow.engine.connect() as conn:
        return {
            table: sorted(
                tuple(str(v) for v in row) for row in conn.execute(text(f'SELECT * FROM "{table}"'))
            )
            for table in inspect(uow.engine).get_table_names()
        }


def stored_strings(uow: UnitOfWork) -> list[tuple[str, str]]:
    found = []
    with uow.engine.connect() as conn:
        for table in inspect(uow.engine).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                found += [(f"{table}.{k}", v) for k, v in row._mapping.items() if isinstance(v, str)]
    return found


JOURNEY_STATES = (State.APPLIED, State.CHECKS, State.CLEARED, State.TRAINING, State.PROBATION)


@pytest.fixture(scope="module")
def templates(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """SQLite files made once: the programme; and the programme with a journey in each JOURNEY_STATES."""
    import shutil

    folder = tmp_path_factory.mktemp("bad-input-templates")
    made = {}
    for name in ("programme", "journeys"):
        path = folder / f"{name}.db"
        shutil.copy(sqlite_template, path)
        engine = make_engine(f"sqlite:///{path}")
        uow = UnitOfWork(engine, builtin_registry())
        programme(uow)
        if name == "journeys":
            for n, state in enumerate(JOURNEY_STATES, 1):
                assert journey_in(uow, state, n) == f"J-{n:06d}"
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        made[name] = path
    return made


@pytest.fixture
def db(request: pytest.FixtureRequest, templates: dict[str, Path], tmp_path: Path) -> Iterator[UnitOfWork]:
    """A copy of the programme (with the journeys, for tests that ask for `journeys` too)."""
    import shutil

    path = tmp_path / "peerpath.db"
    shutil.copy(templates["journeys" if "journeys" in request.fixturenames else "programme"], path)
    uow = UnitOfWork(make_engine(f"sqlite:///{path}"), builtin_registry())
    yield uow
    uow.engine.dispose()


# 1. CSV imports


def csv_text(header: list[str], rows: list[list[str]], terminator: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=terminator)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


FIELD = {
    "first_name": st.one_of(st.just("Ada"), nasty_text),
    "last_name": st.one_of(st.just("Lovelace"), nasty_text),
    "email": st.one_of(
        st.integers(0, 30).map(lambda n: f"p{n}@example.com"), nasty_text, st.just("no-at-sign")
    ),
    "pathway": st.one_of(st.sampled_from(PATHWAY_IDS), st.just("astrology"), nasty_text),
    "employer": st.one_of(st.sampled_from(["NMH", "MIND-N", "mind-n", "NOWHERE"]), nasty_text),
    "applied_on": st.one_of(st.just(""), st.just("2026-03-02"), date_text),
}
header_name = st.one_of(
    st.sampled_from(COLUMNS), st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
)


@st.composite
def csv_files(draw: st.DrawFn) -> str:
    header = draw(
        st.one_of(
            st.just(list(COLUMNS)),
            st.permutations(COLUMNS).map(list),
            st.lists(header_name, max_size=8),
        )
    )
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        row = [draw(FIELD[h]) if h in FIELD else draw(nasty_text) for h in header]
        shape = draw(st.sampled_from(["right", "right", "short", "long"]))
        if shape == "short" and row:
            row = row[: draw(st.integers(0, len(row) - 1))]
        elif shape == "long":
            row += draw(st.lists(nasty_text, min_size=1, max_size=3))
        rows.append(row)
    content = csv_text(header, rows, draw(st.sampled_from(["\n", "\r\n"])))
    if draw(st.booleans()):  # broken quoting or a raw line somewhere
        lines = content.split("\n")
        at_line = draw(st.integers(0, len(lines)))
        lines.insert(
            at_line, draw(st.sampled_from(['"unclosed,quote', 'a"b,c', ",,,,,", '"a""b",x,y,z,w,v', "\x00"]))
        )
        content = "\n".join(lines)
    return draw(st.sampled_from(["", "\ufeff"])) + content


random_content = st.one_of(
    csv_files(),
    st.text(max_size=300),
    st.binary(max_size=300).map(lambda b: b.decode("utf-8", "replace")),
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
    st.binary(max_size=300).map(lambda b: b.decode("utf-8", "surrogateescape")),
)


def check_import(uow: UnitOfWork, content: str, actor: service.Actor = ACTOR) -> list[str] | PeerpathError:
    before = dump(uow)
    try:
        refs = import_applicants(uow, actor, content)
    except ImportRejected as rejected:
        one_line(str(rejected))
        assert rejected.bad_rows and str(rejected) == f"{len(rejected.bad_rows)} bad row(s); nothing imported"
        lines = content.count("\n") + content.count("\r") + 2
        for bad in rejected.bad_rows:
            assert 1 <= bad.line <= lines, bad
            one_line(str(bad))
        assert dump(uow) == before, "a rejected file wrote something"
        return rejected
    except PeerpathError as refused:
        one_line(str(refused))
        assert dump(uow) == before, "a refused file wrote something"
        return refused
    assert len(refs) == len(set(refs))
    for table, value in stored_strings(uow):
        assert printable_line(value), (table, value)
    return refs


@FAST
@given(content=random_content)
def test_any_csv_is_imported_whole_or_refused_in_lines_and_nothing_written(
    db: UnitOfWork, content: str
) -> None:
    note(repr(content[:500]))
    check_import(db, content)


HEADER = ",".join(COLUMNS) + "\n"
GOOD = "Ada,Lovelace,ada@example.com,hiv,NMH,2026-03-02\n"


@pytest.mark.parametrize(
    ("content", "lines", "reason"),
    [
        (
            HEADER + GOOD + "Bo,B,bo@example.com,hiv,NMH,1999-12-31\n",
            [3],
            "applied on 1999-12-31 is out of range",
        ),
        (
            HEADER + GOOD + "Bo,B,bo@example.com,hiv,NMH,9999-12-31\n",
            [3],
            "applied on 9999-12-31 is out of range",
        ),
        (HEADER + GOOD + "Bo,B,bo@example.com,hiv,NMH,2026-02-30\n", [3], "is not a date"),
        (HEADER + GOOD + "Bo,B,bo@example.com,astrology,NMH,\n", [3], "unknown pathway 'astrology'"),
        (HEADER + GOOD + "Bo,B,bo@example.com,hiv,NOWHERE,\n", [3], "unknown employer 'NOWHERE'"),
        (HEADER + GOOD + "Bo,B,bo@example.com,hiv\n", [3], "wrong number of fields"),
        (HEADER + GOOD + "Bo,B,bo@example.com,hiv,NMH,,extra\n", [3], "wrong number of fields"),
        (
            HEADER + GOOD + '"Bo\r\nBcc: x@example.com",B,bo@example.com,hiv,NMH,\n',
            [4],
            "line break or control",
        ),
        (HEADER + GOOD + '"Bo\nB",B,bo@example.com,hiv,NMH,\n', [4], "line break or control"),
        (HEADER + GOOD + "Bo\x00,B,bo@example.com,hiv,NMH,\n", [3], "line break or control"),
        (HEADER + GOOD + ("B" * 101) + ",B,bo@example.com,hiv,NMH,\n", [3], "longer than 100 characters"),
        (
            HEADER + GOOD + ("B" * 200_000) + ",B,bo@example.com,hiv,NMH,\n",
            [3],
            "field larger than field limit",
        ),
        (HEADER + GOOD + '"Bo,B,bo@example.com,hiv,NMH,\n', [3], "unexpected end of data"),
        (
            HEADER + GOOD + "Zoë,李,zoë@example.com,hiv,NMH,\n" + "Bo,B,bo@,hiv,NMH,\n",
            [4],
            "not a valid address",
        ),
        (HEADER + GOOD + GOOD, [3], "ada@example.com applies to hiv again (line 2)"),
        ("first_name,last_name,email\n" + GOOD, [1], "missing column(s) pathway, employer"),
        (HEADER.strip() + ",shoe_size\n" + GOOD, [1], "unknown column(s) shoe_size"),
        ("", [1], "missing column(s)"),
        ("\ufeff", [1], "missing column(s)"),
        ("\x00\x01\x02", [1], "missing column(s)"),
    ],
    ids=lambda v: repr(v)[:40] if isinstance(v, str) else None,
)
def test_each_kind_of_bad_row_names_its_line(
    db: UnitOfWork, content: str, lines: list[int], reason: str
) -> None:
    rejected = check_import(db, content)
    assert isinstance(rejected, ImportRejected), rejected
    assert [b.line for b in rejected.bad_rows] == lines
    assert reason in rejected.bad_rows[0].reason


def test_a_partner_cannot_import_for_another_employer(db: UnitOfWork) -> None:
    rejected = check_import(
        db, HEADER + GOOD + "Bo,B,bo@example.com,hiv,MIND-N,\n", service.Actor("x", "MIND-N")
    )
    assert isinstance(rejected, ImportRejected)
    assert [(b.line, b.reason) for b in rejected.bad_rows] == [
        (2, "MIND-N cannot register applicants for NMH")
    ]


def test_huge_files_are_refused_before_parsing(db: UnitOfWork) -> None:
    rejected = check_import(db, HEADER + "x" * MAX_BYTES)
    assert isinstance(rejected, ImportRejected) and "larger than 50 MB" in rejected.bad_rows[0].reason
    rows = "".join(f"A,B,p{i}@example.com,hiv,NMH,\n" for i in range(MAX_ROWS + 1))
    rejected = check_import(db, HEADER + rows)
    assert (
        isinstance(rejected, ImportRejected) and f"more than {MAX_ROWS} rows" in rejected.bad_rows[-1].reason
    )


def test_a_future_application_date_refuses_the_whole_file(db: UnitOfWork) -> None:
    future = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    refused = check_import(db, HEADER + GOOD + f"Bo,B,bo@example.com,hiv,NMH,{future}\n")
    # A row error with its line, like every other bad row (not one error for the whole file).
    assert isinstance(refused, ImportRejected)
    assert [b.line for b in refused.bad_rows] == [3] and "is in the future" in str(refused.bad_rows[0])


def test_a_good_file_still_imports(db: UnitOfWork) -> None:
    assert check_import(db, HEADER + GOOD + "Zoë,李,zoe@example.com,hiv,MIND-N,\n") == [
        "J-000001",
        "J-000002",
    ]


def test_a_header_with_a_line_break_is_reported_on_one_line(db: UnitOfWork) -> None:
    rejected = check_import(db, HEADER.strip() + ',"evil\nerror: forged"\n' + GOOD.strip() + ",1\n")
    assert isinstance(rejected, ImportRejected)


def test_a_header_naming_a_column_twice_is_refused(db: UnitOfWork) -> None:
    content = HEADER.strip() + ",email\n" + GOOD.strip() + ",other@example.com\n"
    assert isinstance(check_import(db, content), ImportRejected)


@pytest.mark.parametrize("separator", ["\u2028", "\u2029"])
def test_unicode_line_separators_in_names_are_refused(db: UnitOfWork, separator: str) -> None:
    refused = check_import(db, HEADER + f"Ada{separator}Bcc,Lovelace,ada@example.com,hiv,NMH,\n")
    assert isinstance(refused, ImportRejected)


# 2. Rule files


RULE_KEYS = ("rules", "overrides", "name", "reason", "applies_to", "clock", "days", "steps", "day", "action",
             "to", "template", "repeat", "every", "times", "enabled", "before_days", "rule", "organisation",
             "pathway", "states", "checks", "check_status", "waiting_on", "pausable")  # fmt: skip
safe_key = st.one_of(
    st.sampled_from(RULE_KEYS),
    st.text(st.characters(exclude_categories=("Cs", "Cc", "Zl", "Zp")), max_size=8),
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), nasty_text, any_date,
    st.sampled_from(["remind", "escalate", "candidate", "coordinator", "check-start", "checks", "dbs", "working",
                     "calendar", "applied", "entered_state", "NMH", "hiv", "shortlisting-delay"]),
)  # fmt: skip
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(safe_key, inner, max_size=5),
    max_leaves=25,
)
DEFAULT_DOC = yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> Any:
    """`base` with one to three values replaced, keys added or keys removed somewhere inside."""
    import copy

    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        node, path = doc, []
        while isinstance(node, dict | list) and node and draw(st.integers(0, 3)):
            key = draw(st.sampled_from(list(node) if isinstance(node, dict) else list(range(len(node)))))
            path.append(key)
            parent, node = node, node[key]
        if not path:
            continue
        change = draw(st.sampled_from(["replace", "replace", "add", "remove"]))
        if change == "replace":
            parent[path[-1]] = draw(documents)
        elif change == "add" and isinstance(parent, dict):
            parent[draw(safe_key)] = draw(documents)
        elif isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent.pop(path[-1])
    return doc


def small_rule_file(rules: Any) -> dict[str, Any]:
    return {"rules": [dict(r, name=f"x-{r['name']}") for r in rules[:2]], "overrides": []}


rule_documents = st.one_of(
    documents,
    mutated(small_rule_file(DEFAULT_DOC["rules"])),
    mutated({"overrides": [{"rule": "shortlisting-delay", "organisation": "NMH", "days": "calendar",
                            "steps": [{"day": 1, "action": "remind", "to": "coordinator", "template": "shortlisting-due"}]}]}),
)  # fmt: skip


def yaml_text(doc: Any, flow: bool) -> str:
    return yaml.safe_dump(doc, default_flow_style=flow, allow_unicode=True, sort_keys=False)


rule_file_texts = st.one_of(
    st.builds(yaml_text, rule_documents, st.booleans()),
    st.text(max_size=200),
    st.sampled_from(["rules: [", "rules:\n  - name: 'unclosed\n", "\t- x", "!!python/object:os.system {}", "--- a\n--- b\n",
                     "rules: &a [*a]", "? [a]\n: b\n", "rules: !!binary aGVsbG8=", "%YAML 9.9\n---\n"]),
)  # fmt: skip

RULES_ERROR = re.compile(r"^(?P<file>[^:\n]+?)(:(?P<line>\d+))?: (?P<reason>\S.*)$")


YAML_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def check_rule_file(tmp_path: Path, content: str | bytes, name: str = "mine.yaml") -> RulesError | None:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    try:
        load_rules([DEFAULT_RULES, path], templates=template_names(), pathways=builtin_registry())
    except RulesError as error:
        match = RULES_ERROR.match(one_line(str(error)))
        assert match, str(error)
        assert match["file"] in (name, DEFAULT_RULES.name)
        if match["line"]:
            text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
            text_lines = len(YAML_LINE_BREAK.split(text))  # YAML's own line breaks, as an editor shows them
            assert 1 <= int(match["line"]) <= text_lines, (str(error), text_lines)
        return error
    return None


@FAST
@given(content=st.one_of(rule_file_texts, st.binary(max_size=100)))
def test_any_rule_file_loads_or_fails_with_one_file_line_reason(
    tmp_path_factory, content: str | bytes
) -> None:  # type: ignore[no-untyped-def]
    note(repr(content[:500]))
    check_rule_file(tmp_path_factory.mktemp("rules"), content)


def test_rule_file_mistakes_name_their_file_and_line(tmp_path: Path) -> None:
    assert str(check_rule_file(tmp_path, b"\xff\xfe rules")) == "mine.yaml: not UTF-8 text"
    assert str(check_rule_file(tmp_path, "rules:\n  - name: [\n")).startswith("mine.yaml:3: not valid YAML")
    assert (
        str(check_rule_file(tmp_path, "- a\n"))
        == "mine.yaml:1: a rule file is a mapping with `rules:` and/or `overrides:`"
    )
    error = check_rule_file(tmp_path, "overrides:\n  - {rule: nope, organisation: NMH}\n")
    assert str(error) == "mine.yaml:2: override of unknown rule 'nope'"
    assert check_rule_file(tmp_path, "") is None and check_rule_file(tmp_path, "rules: []\n") is None
    (tmp_path / "folder.yaml").mkdir()
    with pytest.raises(RulesError, match=r"^folder.yaml: cannot read: "):
        load_rules([tmp_path / "folder.yaml"])


def test_a_rule_file_key_with_a_line_break_is_reported_on_one_line(tmp_path: Path) -> None:
    check_rule_file(tmp_path, '"evil\\nerror: forged": 1\n')


@pytest.mark.parametrize("what", ["rules", "pathway"])
def test_a_deeply_nested_file_is_refused_in_one_line(tmp_path: Path, what: str) -> None:
    if what == "rules":
        check_rule_file(tmp_path, "[" * 2000)
    else:
        check_pathway_file(tmp_path, "[" * 2000)


@pytest.mark.parametrize(
    "character", ["\x00", "\x1f", "\ufffe"], ids=["nul", "unit-separator", "non-character"]
)
def test_a_control_character_in_a_rule_file_is_reported_on_one_line(tmp_path: Path, character: str) -> None:
    check_rule_file(tmp_path, f"rules: []\n# {character}\n")


# 3. Pathway files


HIV = yaml.safe_load((BUILTIN_DIR / "hiv.yaml").read_text(encoding="utf-8"))
LIBRARY = load_library(BUILTIN_DIR)
pathway_texts = st.one_of(
    st.builds(yaml_text, st.one_of(documents, mutated(dict(HIV, id="local-hiv"))), st.booleans()),
    st.text(max_size=200),
    st.binary(max_size=100),
)


def check_pathway_file(tmp_path: Path, content: str | bytes) -> InvalidInput | None:
    path = tmp_path / "local.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    try:
        pathway = load_pathway(path, LIBRARY)
    except InvalidInput as error:
        assert re.match(r"^local\.yaml(:\d+)?: ", one_line(str(error))), str(error)
        return error
    # Whatever loads is usable: its modules resolve and the registry accepts it beside the built-ins.
    assert pathway.resolved_modules is not None
    try:
        PathwayRegistry.from_directories(BUILTIN_DIR, tmp_path)
    except InvalidInput as error:
        one_line(str(error))
    return None


@FAST
@given(content=pathway_texts)
def test_any_pathway_file_loads_or_fails_with_one_line(tmp_path_factory, content: str | bytes) -> None:  # type: ignore[no-untyped-def]
    note(repr(content[:500]))
    check_pathway_file(tmp_path_factory.mktemp("pathway"), content)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": 0}, "local.yaml: version: Input should be greater than or equal to 1"),
        (
            {"probation": {"months": 6, "reviews": []}},
            "local.yaml: probation: Value error, probation needs exactly one final review",
        ),
        ({"training": {"include": ["nope"]}}, "local.yaml: training.include: unknown module set 'nope'"),
        (
            {"checks": {"dbs": {"level": "basic", "workforce": "martian"}}},
            "local.yaml: checks.dbs.workforce: Input should be",
        ),
        ({"speciality": "Not A Slug"}, "local.yaml: speciality: String should match pattern"),
    ],
)
def test_pathway_mistakes_are_one_line(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    error = check_pathway_file(tmp_path, yaml_text(dict(HIV, **change), False))
    assert error is not None and re.match(r"^local\.yaml:\d+: ", str(error)), error
    assert re.sub(r"^local\.yaml:\d+: ", "local.yaml: ", str(error)).startswith(message)


@pytest.mark.parametrize("where", ["top", "supervision"])
def test_a_pathway_key_with_a_line_break_is_reported_on_one_line(tmp_path: Path, where: str) -> None:
    doc = (
        dict(HIV, **{"evil\nerror: forged": 1})
        if where == "top"
        else dict(HIV, supervision={**HIV["supervision"], "evil\nkind": {"every_days": 3}})
    )
    check_pathway_file(tmp_path, yaml_text(doc, False))


def test_a_pathway_version_the_database_cannot_hold_is_refused(tmp_path: Path, sqlite_template: Path) -> None:
    folder = tmp_path / "pathways"
    folder.mkdir()
    (folder / "big.yaml").write_text(yaml_text(dict(HIV, id="hiv-big", version=10**30), False))
    try:
        registry = PathwayRegistry.from_directories(BUILTIN_DIR, folder)
    except InvalidInput:
        return  # refused at load: fixed
    uow = fresh_uow(tmp_path, sqlite_template)
    uow.pathways = registry
    service.add_organisation(uow, "NMH", "North", "nhs_trust")
    with pytest.raises(PeerpathError):
        service.register_applicant(
            uow, ACTOR, service.Applicant.clean("A", "B", "a@example.com", "hiv-big", "NMH")
        )


# 4. Flow parameters


FORMS = sorted(
    (
        m
        for m in vars(parameters).values()
        if isinstance(m, type) and issubclass(m, parameters.Form) and m is not parameters.Form
    ),
    key=lambda m: m.__name__,
)
json_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80), st.floats(), nasty_text, date_text,
        any_date, st.datetimes(), st.sampled_from(["*", "NMH", "J-000001", "j1", "hiv", "dbs", "cleared", "pause"]),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip


@st.composite
def form_input(draw: st.DrawFn, model: type[BaseModel]) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)  # not even a mapping
    fields = list(model.model_fields)
    keys = draw(st.lists(st.sampled_from(fields), unique=True)) + draw(
        st.lists(st.text(max_size=6), max_size=2)
    )
    return {k: draw(json_values) for k in keys}


@pytest.mark.parametrize("model", FORMS, ids=lambda m: m.__name__)
@settings(max_examples=max(10, EXAMPLES * 3 // 4), deadline=None, database=None)
@given(data=st.data())
def test_flow_parameters_validate_or_raise_validation_error_only(
    model: type[BaseModel], data: st.DataObject
) -> None:
    raw = data.draw(form_input(model))
    try:
        form = model.model_validate(raw)
    except ValidationError as error:
        assert error.errors()
        return
    assert isinstance(form, model)
    # A form that validated round-trips through JSON, as Prefect stores parameters.
    assert model.model_validate_json(form.model_dump_json()) == form


def test_there_is_a_form_for_every_action() -> None:
    assert {m.__name__ for m in FORMS} >= {
        "RegisterApplicant",
        "RecordCheck",
        "ApplyTrigger",
        "SweepOptions",
        "ImportApplicants",
    }


# 5. Service calls with random arguments


ACTORS = (
    ACTOR,
    service.Actor("Jordan (NMH HR)", "NMH"),
    service.Actor("Casey (MIND-N)", "MIND-N"),
    service.Actor("Nobody", "NOWHERE"),
)


@pytest.fixture
def journeys(db: UnitOfWork) -> dict[State, str]:
    """A journey in each of JOURNEY_STATES (each its own candidate), in `db`."""
    return {state: f"J-{n:06d}" for n, state in enumerate(JOURNEY_STATES, 1)}


def mostly(valid: st.SearchStrategy[Any], bad: st.SearchStrategy[Any] = nasty_text) -> st.SearchStrategy[Any]:
    """Usually a valid value, so that calls get past validation into the business rules; sometimes not."""
    return st.integers(0, 4).flatmap(lambda n: bad if n == 0 else valid)


def refs_strategy(refs: list[str]) -> st.SearchStrategy[str]:
    unknown = st.one_of(
        st.sampled_from(["J-000999", "J-", "j1", "C-000001", "J-0000001", "J-999999999999"]), nasty_text
    )
    return mostly(st.sampled_from(refs), unknown)


def enum_text(enum: Any) -> st.SearchStrategy[str]:
    return mostly(st.sampled_from([m.value for m in enum]))


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def service_calls(refs: list[str]) -> st.SearchStrategy[tuple[str, Any]]:
    """(description, call) pairs: each call takes the unit of work and does one service action."""
    ref = refs_strategy(refs)
    day = mostly(service_date, date_text)  # strings go through parse_date (range-checked)
    actor = st.sampled_from(ACTORS)
    name = mostly(st.sampled_from(["Ada Lovelace", "Zoë Ó Briain", "李小龍", "Sam"]))
    code = mostly(st.sampled_from(["NEW", "NEW-ORG", "T1", "x_1"]))
    reason = maybe(mostly(st.sampled_from(["post filled", "moved away", "candidate asked", "🙂"])))

    def call(label: str, fn: Any, /, **kwargs: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[str, Any]]:
        return st.fixed_dictionaries(kwargs).map(
            lambda kw: (f"{label}({kw!r})"[:2000], lambda uow: fn(uow, **kw))
        )

    return st.one_of(
        call("register", lambda uow, actor, first, last, email, pathway, employer, applied_on: service.register_applicant(
            uow, actor, service.Applicant.clean(first, last, email, pathway, employer, applied_on)),
            actor=actor, first=FIELD["first_name"], last=FIELD["last_name"], email=FIELD["email"],
            pathway=FIELD["pathway"], employer=FIELD["employer"], applied_on=maybe(day)),
        call("trigger", lambda uow, actor, ref, trigger, **kw: service.apply_trigger(uow, actor, ref, trigger, **kw),
             actor=actor, ref=ref, trigger=enum_text(Trigger), reason=reason, start_date=maybe(day),
             team=maybe(st.one_of(st.sampled_from(["CMHT-N", "CMHT-S"]), nasty_text)),
             expected_version=maybe(st.integers(-(2**70), 2**70))),
        call("check", lambda uow, actor, ref, kind, status, **kw: service.record_check(uow, actor, ref, kind, status, **kw),
             actor=actor, ref=ref, kind=enum_text(CheckKind), status=enum_text(CheckStatus),
             waiting_on=maybe(enum_text(Party)), on=maybe(service_date), expires_on=maybe(service_date),
             approver=maybe(name), dbs_level=maybe(enum_text(DbsLevel)), dbs_workforce=maybe(enum_text(Workforce)),
             update_service=maybe(st.booleans())),
        call("training", lambda uow, actor, ref, module, completed_on: service.record_training(
            uow, actor, ref, module, completed_on=completed_on),
             actor=actor, ref=ref, module=mostly(st.sampled_from(["fire_safety", "safeguarding_adults", "peer_role_boundaries"])),
             completed_on=maybe(service_date)),
        call("supervision", lambda uow, actor, ref, kind, due_on, held_on: service.record_supervision(
            uow, actor, ref, kind, due_on=due_on, held_on=held_on),
             actor=actor, ref=ref, kind=enum_text(service.SupervisionKind), due_on=service_date, held_on=maybe(service_date)),
        call("review", lambda uow, actor, ref, name, outcome, held_on: service.record_review(
            uow, actor, ref, name, outcome, held_on=held_on),
             actor=actor, ref=ref, name=mostly(st.sampled_from(["first", "second", "final"])),
             outcome=enum_text(service.ReviewOutcome), held_on=maybe(service_date)),
        call("organisation", lambda uow, actor, code, name, kind: service.add_organisation(uow, code, name, kind, actor=actor),
             actor=actor, code=code, name=name, kind=enum_text(OrgKind)),
        call("contact", lambda uow, actor, org, role, name, email: service.add_contact(uow, org, role, name, email, actor=actor),
             actor=actor, org=st.one_of(st.sampled_from(["NMH", "MIND-N"]), nasty_text), role=enum_text(ContactRole),
             name=name, email=FIELD["email"]),
        call("team", lambda uow, actor, code, name, host, speciality, supervisor, email: service.add_team(
            uow, code, name, host, speciality, supervisor_name=supervisor, supervisor_email=email, actor=actor),
             actor=actor, code=code, name=name, host=mostly(st.sampled_from(["NMH", "MIND-N"])),
             speciality=mostly(st.sampled_from(["mental-health", "hiv"])), supervisor=maybe(name),
             email=maybe(FIELD["email"])),
        call("team-ready", lambda uow, actor, code, supervisor, email: service.update_team_readiness(
            uow, code, supervisor_name=supervisor, supervisor_email=email, actor=actor),
             actor=actor, code=mostly(st.sampled_from(["CMHT-S", "CMHT-N"])), supervisor=maybe(name),
             email=maybe(FIELD["email"])),
        call("special", lambda uow, actor, ref, kind, content: record_special_category(uow, actor, ref, kind, content),
             actor=actor, ref=ref, kind=mostly(st.sampled_from(["dbs_disclosure", "lived_experience_note"])),
             content=mostly(st.sampled_from(["SENTINEL-DBS-x", "a note"]))),
        call("erase", lambda uow, actor, candidate: erase(uow, actor, candidate),
             actor=actor, candidate=mostly(st.sampled_from(["C-000001", "C-000002", "C-000003"]))),
        call("resolve", lambda uow, actor, escalation, note, on: resolve_escalation(
            uow, escalation, actor.name, note, on, scope=actor.scope),
             actor=actor, escalation=st.integers(-5, 2**31 - 1), note=name, on=service_date),
    )  # fmt: skip


def check_service_call(uow: UnitOfWork, description: str, action: Any) -> None:
    before = dump(uow)
    note(description)
    label = description.split("(", 1)[0]
    try:
        action(uow)
    except PeerpathError as refused:
        event(f"{label}: refused ({type(refused).__name__})")
        one_line(str(refused))
        assert dump(uow) == before, f"a refused call wrote something: {refused}"
        return
    event(f"{label}: done")
    for table, value in stored_strings(uow):
        # a special-category note may run over several lines (it is kept, never sent)
        kept = (
            value.replace("\n", "").replace("\t", "") if table == "special_category_data.content" else value
        )
        assert printable_line(kept), (table, value)


@settings(max_examples=EXAMPLES * 3, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_any_service_call_succeeds_or_is_refused_in_one_line_and_writes_nothing(
    db: UnitOfWork, journeys: dict[State, str], data: st.DataObject
) -> None:
    description, action = data.draw(service_calls(list(journeys.values())))
    check_service_call(db, description, action)


def actor_of(form: Any) -> service.Actor:
    """A copy of flows/common.py actor_of(), so that this module never imports Prefect."""
    organisation = str(form.acting_for).strip().upper()
    return service.Actor(str(form.acting_as), None if organisation == "*" else organisation)


# Dates reach the service from the CLI (kept in range there) and from the Prefect forms (plain `date`
# fields): the service itself keeps them within 2000-2100.


DATE_CALLS = {
    "check-on": lambda uow, refs, d: service.record_check(
        uow, ACTOR, refs[State.CHECKS], "dbs", "waiting", on=d
    ),
    "check-expires": lambda uow, refs, d: service.record_check(
        uow, ACTOR, refs[State.CHECKS], "right_to_work", "cleared", expires_on=d
    ),
    "training": lambda uow, refs, d: service.record_training(
        uow, ACTOR, refs[State.TRAINING], "fire_safety", completed_on=d
    ),
    "supervision-due": lambda uow, refs, d: service.record_supervision(
        uow, ACTOR, refs[State.PROBATION], "peer", due_on=d
    ),
    "review-extend": lambda uow, refs, d: service.record_review(
        uow, ACTOR, refs[State.PROBATION], "final", "extend", held_on=d
    ),
}


@pytest.mark.parametrize("call", sorted(DATE_CALLS))
def test_service_dates_out_of_range_are_refused(
    db: UnitOfWork, journeys: dict[State, str], call: str
) -> None:
    accepted = []
    for day in (date(1, 1, 1), date(1999, 12, 31), date(2101, 1, 1)):
        before = dump(db)
        try:
            DATE_CALLS[call](db, journeys, day)
        except InvalidInput as refused:
            assert "out of range" in one_line(str(refused))
            assert dump(db) == before
        else:
            accepted.append(day)
    assert accepted == []


@pytest.mark.parametrize("call", ["training", "review-extend"])
def test_service_dates_near_the_end_of_time_are_refused_in_one_line(
    db: UnitOfWork, journeys: dict[State, str], call: str
) -> None:
    before = dump(db)
    with pytest.raises(PeerpathError):
        DATE_CALLS[call](db, journeys, date(9999, 12, 31))
    assert dump(db) == before


def test_an_actor_name_with_a_line_break_is_refused(db: UnitOfWork, journeys: dict[State, str]) -> None:
    form = parameters.ApplyTrigger(
        journey=journeys[State.APPLIED], trigger="shortlist", acting_as="Nadia\r\nForged: x", acting_for="*"
    )
    before = dump(db)
    with pytest.raises(InvalidInput):
        service.apply_trigger(db, actor_of(form), form.journey, form.trigger)
    assert dump(db) == before


@pytest.mark.parametrize("name", ["Ada\u2028Bcc", "Ada\u2029Bcc"])  # at the ends, strip() removes them
def test_the_service_refuses_unicode_line_separators(db: UnitOfWork, name: str) -> None:
    with pytest.raises(InvalidInput):
        service.register_applicant(
            db, ACTOR, service.Applicant.clean(name, "L", "ada@example.com", "hiv", "NMH")
        )


def test_flow_form_values_reach_the_service_as_one_line_refusals(
    db: UnitOfWork, journeys: dict[State, str]
) -> None:
    """Forms that validate, passed on as the flows pass them: refused in one line, or done."""
    forms = [
        parameters.RecordCheck(journey=journeys[State.APPLIED], check="dbs", status="cleared", acting_as="a", acting_for="*"),
        parameters.RecordCheck(journey=journeys[State.CHECKS], check="references", status="waived", acting_as="a", acting_for="NMH"),
        parameters.ApplyTrigger(journey=journeys[State.CHECKS], trigger="clear", start_date=date(2026, 1, 1), acting_as="a", acting_for="*"),
        parameters.ApplyTrigger(journey="J-999999", trigger="offer", acting_as="a", acting_for="MIND-N"),
        parameters.RecordReview(journey=journeys[State.PROBATION], review="second", outcome="pass", held_on=date(2000, 1, 1), acting_as="a", acting_for="*"),
        parameters.RecordTraining(journey=journeys[State.TRAINING], module="astrology", acting_as="a", acting_for="*"),
    ]  # fmt: skip
    calls = [
        lambda f: service.record_check(db, actor_of(f), f.journey, f.check, f.status, approver=f.approver),
        lambda f: service.record_check(db, actor_of(f), f.journey, f.check, f.status, approver=f.approver),
        lambda f: service.apply_trigger(
            db, actor_of(f), f.journey, f.trigger, reason=f.reason, start_date=f.start_date
        ),
        lambda f: service.apply_trigger(
            db, actor_of(f), f.journey, f.trigger, reason=f.reason, start_date=f.start_date
        ),
        lambda f: service.record_review(db, actor_of(f), f.journey, f.review, f.outcome, held_on=f.held_on),
        lambda f: service.record_training(db, actor_of(f), f.journey, f.module, completed_on=f.completed_on),
    ]
    before = dump(db)
    for form, call in zip(forms, calls, strict=True):
        with pytest.raises(PeerpathError) as refused:
            call(form)
        one_line(str(refused.value))
    assert dump(db) == before


def test_the_strategies_reach_past_validation(db: UnitOfWork, journeys: dict[State, str]) -> None:
    """Sanity: well-formed calls from the same building blocks succeed (the property is not all refusals)."""
    refs = journeys
    service.record_check(db, ACTOR, refs[State.CHECKS], "dbs", "waiting", on=date(2026, 3, 20))
    service.record_training(db, ACTOR, refs[State.TRAINING], "fire_safety", completed_on=date(2026, 4, 1))
    service.apply_trigger(db, ACTOR, refs[State.APPLIED], "reject", reason="Zoë: not this time 🙂", at=at(3))
    record_special_category(db, service.Actor("hr", "NMH"), refs[State.CHECKS], "dbs_disclosure", "李 x")
    for table, value in stored_strings(db):
        assert printable_line(value), (table, value)

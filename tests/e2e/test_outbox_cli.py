"""`peerpath outbox` end to end, in process, on SQLite and PostgreSQL: demo, sweep, send, list, retry.

Messages go to a real SMTP server (the `smtp` fixture) or to the built-in mail sink (`--to-sink`),
and every .eml written is read back: one per sent message, and no special-category words in any.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from lifecycle.pathways import builtin_registry
from lifecycle.persistence.database import make_engine
from lifecycle.persistence.uow import UnitOfWork
from lifecycle.states import State
from peerpath.app import run_dispatch
from peerpath.cli import main
from peerpath.settings import Settings
from tests.factories import journey_in, programme
from tests.smtp_server import (
    RecordingSmtpServer,
    smtp_fixture,  # noqa: F401 - registers the `smtp` fixture
)

SPECIAL_CATEGORY_WORDS = (
    "lived experience",
    "diagnosis",
    "disclosure",
    "conviction",
    "occupational health outcome",
)
SMTP_VARIABLES = ("HOST", "PORT", "SECURITY", "USERNAME", "PASSWORD", "TIMEOUT")


@pytest.fixture
def cli(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    monkeypatch.chdir(tmp_path)  # no stray .env file gets read
    monkeypatch.setenv("PEERPATH_DATABASE_URL", database_url)
    monkeypatch.setenv("PEERPATH_ACTOR", "Nadia (coordinator)")
    for name in SMTP_VARIABLES:
        monkeypatch.delenv(f"PEERPATH_SMTP_{name}", raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def outbox(cli, status: str | None = None) -> list[dict[str, object]]:
    args = ["outbox", "--json", "--limit", "10000"] + (["--status", status] if status else [])
    code, out, err = cli(*args)
    assert code == 0, err
    return json.loads(out)


def small_programme(cli) -> None:
    """Two applicants at an organisation with a coordinator; the sweep queues a message for each."""
    assert cli("org", "add", "MIND-N", "North Mind", "--kind", "vcse")[0] == 0
    assert cli("org", "contact", "MIND-N", "coordinator", "Casey Coord", "casey@mind-n.example.org")[0] == 0
    for first, email in (("Ada", "ada@example.com"), ("Bo", "bo@example.com")):
        code, _, err = cli(
            "applicant",
            "add",
            first,
            "Lovelace",
            email,
            "--pathway",
            "adult-community-mental-health",
            "--org",
            "MIND-N",
        )
        assert code == 0, err
    code, _, err = cli("sweep")
    assert code == 0, err
    assert len(outbox(cli, "pending")) == 2


def read_eml(path: Path) -> EmailMessage:
    return message_from_bytes(path.read_bytes(), policy=policy.default)  # type: ignore[return-value]


def everything_readable(message: EmailMessage) -> str:
    """Headers and every decoded part (quoted-printable and base64 undone), lower-cased, one line."""
    texts = [f"{name}: {value}" for name, value in message.items()]
    for part in message.walk():
        if part.is_multipart():
            continue
        content = part.get_content()
        texts.append(content.decode("utf-8", "replace") if isinstance(content, bytes) else content)
    return " ".join(" ".join(texts).lower().split())


def special_category_words(text: str) -> list[str]:
    return [word for word in SPECIAL_CATEGORY_WORDS if word in text]


def without_module_titles(text: str) -> str:
    """The text less the pathways' training module titles (see test_training_module_titles_...)."""
    titles = {" ".join(m.title.lower().split()) for p in builtin_registry().all() for m in p.resolved_modules}
    for title in sorted(titles, key=len, reverse=True):
        text = text.replace(title, "[module]")
    return text


def test_demo_sweep_send_list_and_retry(cli, smtp: RecordingSmtpServer, tmp_path: Path) -> None:
    code, out, err = cli("demo")
    assert code == 0 and out.startswith("demo loaded:"), err
    code, out, err = cli("sweep")
    assert code == 0, err
    queued = outbox(cli)
    assert queued and {m["status"] for m in queued} == {"pending"} and {m["attempts"] for m in queued} == {0}
    assert len({m["message_id"] for m in queued}) == len(queued)

    # No SMTP server configured: one line naming the setting, exit 2, nothing lost.
    code, out, err = cli("outbox", "send")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and "PEERPATH_SMTP_HOST" in err
    assert "Traceback" not in err
    assert outbox(cli) == queued

    # A real server that refuses the first recipient for good: given up at once, the coordinator told.
    # (Through run_dispatch with explicit settings: `outbox send` via PEERPATH_SMTP_HOST is broken, see
    # test_outbox_send_through_the_configured_smtp_server below.)
    first = min(queued, key=lambda m: int(str(m["id"])))
    smtp.refuse(str(first["recipient_email"]), 550)
    result = run_dispatch(Settings(), limit=1, smtp=smtp.settings())
    assert (result.sent, result.retried, result.dead) == (0, 0, 1)
    assert result.errors[0].startswith(f"message {first['id']} to {first['recipient_email']}: 550")
    (dead,) = outbox(cli, "dead")
    assert dead["id"] == first["id"] and dead["message_id"] == first["message_id"] and dead["attempts"] == 1
    assert str(dead["last_error"]).startswith("550")
    (letter,) = [m for m in outbox(cli, "pending") if m["template"] == "dead-letter"]
    assert letter["recipient_role"] == "coordinator" and letter["journey"] == first["journey"]
    code, out, _ = cli("escalations", "--open", "--json")
    assert any(
        e["rule"] == "dead-letter" and e["subject"] == f"message:{first['id']}" for e in json.loads(out)
    )
    assert sum(smtp.deliveries.values()) == 0

    # Retry the dead message: queued again, same Message-ID, attempts reset.
    code, out, err = cli("outbox", "retry", str(first["id"]))
    assert code == 0 and out.strip() == f"message {first['id']}: queued for the next dispatch", err
    assert outbox(cli, "dead") == []
    (again,) = [m for m in outbox(cli, "pending") if m["id"] == first["id"]]
    assert again["attempts"] == 0 and again["message_id"] == first["message_id"]

    # Everything to the mail sink: one .eml per message sent, and the counts printed.
    waiting = outbox(cli, "pending")
    sink = tmp_path / "mail"
    code, out, err = cli("outbox", "send", "--to-sink", str(sink))
    assert code == 0 and err == "", err
    match = re.fullmatch(
        r"sent (\d+), retrying later 0, given up 0 into (.+)/ \(one \.eml file per message\)\n", out
    )
    assert match, out
    assert int(match.group(1)) == len(waiting) == len(queued) + 1  # the queue, and the dead letter
    assert match.group(2) == str(sink)

    sent = outbox(cli, "sent")
    assert len(sent) == len(waiting) and outbox(cli, "pending") == [] and outbox(cli, "dead") == []
    assert all(m["attempts"] == 1 and m["sent_at"] for m in sent)
    emls = sorted(sink.glob("*.eml"))
    assert len(emls) == len(sent)
    assert not list(sink.glob(".*.tmp"))
    messages = {path: read_eml(path) for path in emls}
    written_ids = Counter(str(m["Message-ID"]).strip() for m in messages.values())
    assert written_ids == Counter({str(m["message_id"]): 1 for m in sent})
    assert written_ids[str(first["message_id"])] == 1  # the retried message kept its Message-ID
    recipients = Counter(str(m["To"].addresses[0].addr_spec) for m in messages.values())
    assert recipients == Counter(str(m["recipient_email"]) for m in sent)

    # Nothing special-category in any email, beyond the training module titles (pinned as a product
    # bug by test_training_module_titles_put_special_category_words_in_emails).
    for path, message in messages.items():
        found = special_category_words(without_module_titles(everything_readable(message)))
        assert found == [], f"{path.name} ({message['Subject']}) mentions {found}"

    # Sending again: nothing is due.
    code, out, _ = cli("outbox", "send", "--to-sink", str(sink))
    assert code == 0 and out.startswith("sent 0, retrying later 0, given up 0")
    assert len(list(sink.glob("*.eml"))) == len(sent)

    # Listing as a table works too.
    code, out, err = cli("outbox", "--status", "sent", "--limit", "5")
    assert code == 0 and "Outbox (5 shown)" in out, err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["outbox", "--status", "nonsense"],
            "unknown outbox status 'nonsense' (known: pending, sending, sent, dead)",
        ),
        (["outbox", "retry", "999999"], "unknown outbox message 999999"),
        (["outbox", "retry", "one"], "Invalid value for 'message_id'"),
    ],
)
def test_outbox_mistakes_print_one_line_and_exit_2(cli, args: list[str], message: str) -> None:
    code, out, err = cli(*args)
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err
    assert "Traceback" not in err


def test_a_sent_message_cannot_be_retried(cli, tmp_path: Path) -> None:
    small_programme(cli)
    assert cli("outbox", "send", "--to-sink", str(tmp_path / "mail"), "--limit", "1")[0] == 0
    (sent,) = outbox(cli, "sent")
    code, out, err = cli("outbox", "retry", str(sent["id"]))
    assert code == 2 and err == f"error: message {sent['id']} is sent: nothing to retry\n"
    assert outbox(cli, "sent") == [sent]


def test_outbox_send_through_the_configured_smtp_server(
    cli, smtp: RecordingSmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_programme(cli)
    queued = outbox(cli)
    first = min(queued, key=lambda m: int(str(m["id"])))
    smtp.refuse(str(first["recipient_email"]), 550)
    monkeypatch.setenv("PEERPATH_SMTP_HOST", smtp.host)
    monkeypatch.setenv("PEERPATH_SMTP_PORT", str(smtp.port))
    monkeypatch.setenv("PEERPATH_SMTP_SECURITY", "none")
    monkeypatch.setenv("PEERPATH_MAIL_FROM", "noreply@peerpath.example.org")

    code, out, err = cli("outbox", "send", "--limit", "1")
    assert code == 0, err
    assert out == "sent 0, retrying later 0, given up 1\n"
    assert err.startswith("  refused: 1 × 550 5.1.1")  # one line per kind of failure, with the server's words
    assert f"  gave up: message {first['id']} to {first['recipient_email']}: 550" in err

    smtp.heal()
    code, out, err = cli("outbox", "send")
    assert code == 0 and err == "", err
    assert out == f"sent {len(queued)}, retrying later 0, given up 0\n"  # the rest, and the dead letter
    sent = outbox(cli, "sent")
    assert smtp.deliveries == Counter({str(m["message_id"]): 1 for m in sent})
    assert {mail_from for mail_from, _ in smtp.envelopes} == {"noreply@peerpath.example.org"}


def test_training_module_titles_put_special_category_words_in_emails(
    cli, database_url: str, tmp_path: Path
) -> None:
    engine = make_engine(database_url)
    try:
        uow = UnitOfWork(engine, builtin_registry())
        programme(uow)
        journey_in(uow, State.INDUCTION)  # started 2026-03-22; pre-placement modules due 42 days on
    finally:
        engine.dispose()
    code, out, err = cli("sweep", "--as-of", "2026-04-27")
    assert code == 0, err
    sink = tmp_path / "mail"
    code, out, err = cli("outbox", "send", "--to-sink", str(sink))
    assert code == 0 and out.startswith("sent "), err
    emls = sorted(sink.glob("*.eml"))
    assert any("training" in str(read_eml(path)["Subject"]).lower() for path in emls)
    found = {path.name: special_category_words(everything_readable(read_eml(path))) for path in emls}
    assert {name: words for name, words in found.items() if words} == {}


def test_outbox_send_names_each_kind_of_failure_and_exits_non_zero_when_nothing_could_be_sent(
    cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from notifications.sink import free_port

    small_programme(cli)
    queued = outbox(cli)
    monkeypatch.setenv("PEERPATH_SMTP_SECURITY", "none")
    monkeypatch.setenv("PEERPATH_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("PEERPATH_SMTP_PORT", str(free_port()))  # nobody listening
    code, out, err = cli("outbox", "send")
    assert code == 1, (out, err)
    assert out == "sent 0, retrying later 0, given up 0\n"
    lines = err.splitlines()
    assert lines[0].startswith("  connection: 1 × SMTPConnectError: ") and "Connect call failed" in lines[0]
    assert lines[1].startswith("  mail relay incident 1 since ") and "connection:" in lines[1]
    assert lines[-1] == "error: nothing could be sent; the messages stay queued"
    # At once again: the relay is not tried before the incident's back-off; still exit 1, still queued.
    code, out, err = cli("outbox", "send")
    assert code == 1 and "next try" in err and "connection: 1 ×" not in err
    assert {m["status"] for m in outbox(cli)} == {"pending"} and {m["attempts"] for m in outbox(cli)} == {0}
    assert len(outbox(cli)) == len(queued)


def test_outbox_settings_reach_the_transport_and_a_missing_ca_file_is_a_configuration_error(
    cli, smtp: RecordingSmtpServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    small_programme(cli)
    monkeypatch.setenv("PEERPATH_SMTP_HOST", smtp.host)
    monkeypatch.setenv("PEERPATH_SMTP_PORT", str(smtp.port))
    monkeypatch.setenv("PEERPATH_SMTP_SECURITY", "starttls")
    monkeypatch.setenv("PEERPATH_SMTP_CA_FILE", str(tmp_path / "no-such-ca.pem"))
    monkeypatch.setenv("PEERPATH_SMTP_VALIDATE_CERTS", "false")
    monkeypatch.setenv("PEERPATH_SMTP_TLS_SERVER_NAME", "relay.example.org")
    settings = Settings()
    from peerpath.app import smtp_settings

    smtp_config = smtp_settings(settings)
    assert smtp_config is not None and smtp_config.validate_certs is False
    assert (
        smtp_config.ca_file == tmp_path / "no-such-ca.pem"
        and smtp_config.tls_server_name == "relay.example.org"
    )
    code, _, err = cli("outbox", "send")
    assert code == 1 and err.startswith("  configuration: 1 × PEERPATH_SMTP_CA_FILE "), err
    assert "is not a file" in err


def test_retry_all_dead_requeues_every_dead_message_once(
    cli, smtp: RecordingSmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_programme(cli)
    queued = outbox(cli)
    for m in queued:
        smtp.refuse(str(m["recipient_email"]), 550)
    monkeypatch.setenv("PEERPATH_SMTP_HOST", smtp.host)
    monkeypatch.setenv("PEERPATH_SMTP_PORT", str(smtp.port))
    monkeypatch.setenv("PEERPATH_SMTP_SECURITY", "none")
    code, out, err = cli("outbox", "send")
    assert code == 0 and out == f"sent 0, retrying later 0, given up {len(queued)}\n", (
        out,
        err,
    )  # refused: an answer
    smtp.heal()
    assert cli("outbox", "retry")[0] == 2  # neither an id nor --all-dead
    assert cli("outbox", "retry", "1", "--all-dead")[0] == 2
    assert cli("outbox", "retry", "--since", "2026-01-01")[0] == 2
    code, out, err = cli("outbox", "retry", "--all-dead", "--since", "2100-01-01")
    assert (code, out) == (0, "0 dead messages queued for the next dispatch\n"), err
    code, out, err = cli("outbox", "retry", "--all-dead")
    assert (code, out) == (0, f"{len(queued)} dead messages queued for the next dispatch\n"), err
    code, out, err = cli("outbox", "send")
    assert code == 0 and out.startswith(f"sent {2 * len(queued)},"), (out, err)  # and the dead letters
    assert all(smtp.count(str(m["message_id"])) == 1 for m in queued)

"""Building the email: pure (outbox row + rendering in, an RFC 5322 message out)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.charset import QP, Charset
from email.encoders import encode_base64
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import SMTP
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any

from lifecycle.errors import InvalidInput
from lifecycle.validation import breaks_a_line
from notifications.context import MessageContext
from notifications.invites import invite
from notifications.render import Rendered, render


@dataclass(frozen=True)
class Sender:
    """Who a message is from: the organisation's name on a shared address, replies to its coordinator."""

    name: str
    address: str
    reply_to: str | None = None


@dataclass(frozen=True)
class OutgoingMessage:
    message_id: str
    template: str
    recipient_name: str
    recipient_email: str
    context: dict[str, object]
    invite: dict[str, object] | None = None


# The classic MIME classes: the same message as EmailMessage with the SMTP policy builds, in a
# quarter of the time (that policy parses every header it is given again; dispatch builds hundreds
# of messages a second). Bodies are quoted-printable UTF-8, as readable in the raw file as before.
UTF8_QP = Charset("utf-8")
UTF8_QP.body_encoding = QP


def _header(value: str, what: str) -> str:
    """Nothing that could end a header line reaches one (names and addresses are checked when they
    are recorded too; this is the last door)."""
    if any(breaks_a_line(ch) for ch in value):
        raise InvalidInput(
            f"cannot put {what} in a message header: it contains a line break or control character"
        )
    return value


def _address(name: str, email: str) -> str:
    """`Name <local@domain>` in ASCII: the domain in IDNA, a non-ASCII name as RFC 2047 words short
    enough to fold (a long name in one word makes a line some servers refuse)."""
    local, at, domain = _header(email, "an address").rpartition("@")
    if not (at and local and domain) or parseaddr(email)[1] != email or not local.isascii():
        raise InvalidInput(
            f"cannot address a message to {name!r} <{email}>: not an address this message can carry"
        )
    try:
        ascii_email = f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        raise InvalidInput(
            f"cannot address a message to {name!r} <{email}>: the domain is not valid"
        ) from None
    name = _header(name, "a name")
    if name.isascii():
        return formataddr((name, ascii_email))
    return f"{Header(name, 'utf-8').encode()} <{ascii_email}>"


def _invitation(message: OutgoingMessage, sender: Sender, now: datetime, context: MessageContext) -> bytes:
    assert message.invite is not None and context.starts_at is not None
    return invite(
        uid_seed=str(message.invite["uid_seed"]),
        summary=str(message.invite["summary"]),
        starts_at=context.starts_at,
        duration=timedelta(minutes=int(message.invite["minutes"])),  # type: ignore[call-overload]
        organiser_email=_organiser(sender, message.recipient_email),
        attendee_email=message.recipient_email,
        location=context.location,
        sequence=int(message.invite["sequence"]),  # type: ignore[call-overload]
        dtstamp=now,
        method=_method(message),
    )


def _organiser(sender: Sender, attendee: str) -> str:
    """The coordinator organises, unless the invitation is to the coordinator: nobody is invited to
    their own meeting (calendars then show it as theirs, with no Accept/Decline); then the sending address."""
    organiser = sender.reply_to or sender.address
    return sender.address if organiser.lower() == attendee.lower() else organiser


def _method(message: OutgoingMessage) -> str:
    """REQUEST for an invitation or an update, CANCEL for a cancelled booking."""
    return str((message.invite or {}).get("method", "REQUEST"))


def _needs_smtputf8(*emails: str | None) -> bool:
    """An address whose local part is not ASCII can only travel as SMTPUTF8 (RFC 6531)."""
    return any(e and not e.rpartition("@")[0].isascii() for e in emails)


def _text(value: str) -> Header | str:
    return value if value.isascii() else Header(value, "utf-8")


def build(message: OutgoingMessage, sender: Sender, now: datetime) -> Message:
    context = MessageContext.model_validate(message.context)
    rendered = render(message.template, context)
    if _needs_smtputf8(sender.address, message.recipient_email, sender.reply_to):
        return _build_smtputf8(message, sender, now, context, rendered)
    if not message.message_id.isascii():
        raise InvalidInput("cannot use a message id that is not ASCII")
    body = MIMEMultipart("alternative")
    # MIMEText takes a Charset as well as a name (it hands it to set_payload); typeshed says str only.
    body.attach(MIMEText(rendered.text, "plain", UTF8_QP))  # type: ignore[arg-type]
    body.attach(MIMEText(rendered.html, "html", UTF8_QP))  # type: ignore[arg-type]
    email: Message = body
    if message.invite and context.starts_at:
        # The calendar is the last alternative (text/calendar; method=REQUEST or CANCEL), as Outlook,
        # Gmail and Apple Mail expect to offer Accept/Decline; not an attachment beside the alternatives.
        calendar = MIMEBase("text", "calendar", method=_method(message), charset="utf-8")
        calendar.set_payload(_invitation(message, sender, now, context))
        encode_base64(calendar)
        body.attach(calendar)
    _set_headers(email, message, sender, now, _address, _text(_header(rendered.subject, "the subject")))
    return email


def _set_headers(
    email: Message[Any, Any],  # a classic Message (str or Header values) or an EmailMessage (Address)
    message: OutgoingMessage,
    sender: Sender,
    now: datetime,
    address: Callable[[str, str], object],
    subject: object,
) -> None:
    email["From"] = address(sender.name, sender.address)
    email["To"] = address(message.recipient_name, message.recipient_email)
    if sender.reply_to:
        email["Reply-To"] = address(sender.name, sender.reply_to)
    email["Subject"] = subject
    email["Date"] = format_datetime(now)
    email["Message-ID"] = _header(message.message_id, "the message id")
    email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies to robots


def _build_smtputf8(
    message: OutgoingMessage, sender: Sender, now: datetime, context: MessageContext, rendered: Rendered
) -> EmailMessage:
    """The rare message to or from a non-ASCII local part: EmailMessage with the SMTP policy, which
    aiosmtplib sends with SMTPUTF8 (the classic classes cannot carry such an address)."""

    def address(name: str, email: str) -> Address:
        local, _, domain = _header(email, "an address").rpartition("@")
        try:
            return Address(display_name=_header(name, "a name"), username=local, domain=domain)
        except (ValueError, IndexError) as exc:
            raise InvalidInput(f"cannot address a message to {name!r} <{email}>: {exc}") from None

    email = EmailMessage(policy=SMTP)
    _set_headers(email, message, sender, now, address, _header(rendered.subject, "the subject"))
    email.set_content(rendered.text)
    email.add_alternative(rendered.html, subtype="html")
    if message.invite and context.starts_at:
        email.add_alternative(
            _invitation(message, sender, now, context), maintype="text", subtype="calendar",
            params={"method": _method(message)},
        )  # fmt: skip
    return email

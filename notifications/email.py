"""Building the email: pure (outbox row + rendering in, an RFC 5322 message out)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from lifecycle.errors import InvalidInput
from notifications.context import MessageContext
from notifications.invites import invite
from notifications.render import render


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


def _address(name: str, email: str) -> Address:
    try:
        local, _, domain = email.rpartition("@")
        return Address(display_name=name, username=local, domain=domain)
    except (ValueError, IndexError) as exc:  # headerregistry refuses CR/LF and other header-breaking text
        raise InvalidInput(f"cannot address a message to {name!r} <{email}>: {exc}") from None


def build(message: OutgoingMessage, sender: Sender, now: datetime) -> EmailMessage:
    context = MessageContext.model_validate(message.context)
    rendered = render(message.template, context)
    email = EmailMessage(policy=SMTP)
    email["From"] = _address(sender.name, sender.address)
    email["To"] = _address(message.recipient_name, message.recipient_email)
    if sender.reply_to:
        email["Reply-To"] = _address(sender.name, sender.reply_to)
    email["Subject"] = rendered.subject
    email["Date"] = format_datetime(now)
    email["Message-ID"] = message.message_id
    email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies to robots
    email.set_content(rendered.text)
    email.add_alternative(rendered.html, subtype="html")
    if message.invite and context.starts_at:
        ics = invite(
            uid_seed=str(message.invite["uid_seed"]),
            summary=str(message.invite["summary"]),
            starts_at=context.starts_at,
            duration=timedelta(minutes=int(message.invite["minutes"])),  # type: ignore[call-overload]
            organiser_email=sender.reply_to or sender.address,
            attendee_email=message.recipient_email,
            location=context.location,
            sequence=int(message.invite["sequence"]),  # type: ignore[call-overload]
            dtstamp=now,
        )
        email.add_attachment(
            ics, maintype="text", subtype="calendar", filename="invite.ics", params={"method": "REQUEST"}
        )
    return email

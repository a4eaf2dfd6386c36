"""The transactional outbox: one row per message, written in the same transaction as its cause."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, DateTime, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lifecycle.persistence.models import Base


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(300), unique=True)
    message_id: Mapped[str] = mapped_column(
        String(200), unique=True
    )  # fixed at creation, kept across retries
    journey_id: Mapped[int | None] = mapped_column(ForeignKey("journeys.id"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id")
    )  # the sending organisation
    template: Mapped[str] = mapped_column(String(64))
    recipient_role: Mapped[str] = mapped_column(String(32))
    recipient_name: Mapped[str] = mapped_column(String(200))
    recipient_email: Mapped[str] = mapped_column(String(320))
    context: Mapped[dict[str, object]] = mapped_column(
        JSON, default=dict
    )  # minimal: no special-category data
    status: Mapped[OutboxStatus] = mapped_column(
        Enum(
            OutboxStatus,
            name="outbox_status",
            native_enum=False,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    invite: Mapped[dict[str, object] | None] = mapped_column(JSON)  # uid_seed, sequence, minutes, summary
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # when a dispatcher took it
    # The lease: which claim holds the row (a fresh token per claim) and until when, on the
    # database's clock; renewed while the batch is out. An outcome is recorded only by the holder.
    lease_owner: Mapped[str | None] = mapped_column(String(32))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The first temporary failure since it was queued (or retried by hand): the retry horizon runs from it.
    first_failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)


class MailIncident(Base):
    """An outage of the relay (it cannot be reached, refuses the session, TLS or authentication
    fails): one row per outage, however many messages it delays; closed when a message goes out."""

    __tablename__ = "mail_incidents"
    __table_args__ = (Index("ix_mail_incidents_open", "closed_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # connection, TLS, authentication, configuration
    detail: Mapped[str] = mapped_column(String(300))  # the server's (or the library's) words, latest
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    failed_runs: Mapped[int] = mapped_column(Integer, default=1)
    retry_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # no dispatch tries before this
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def failed_again(self, kind: str, detail: str, now: datetime) -> None:
        """Another run met the same outage: its latest words, and one more failed run."""
        self.failed_runs += 1
        self.kind, self.detail, self.last_failed_at = kind, detail, now

"""SQLAlchemy 2 typed models: the only place (with its siblings) where lifecycle speaks SQL."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from lifecycle.states import (
    CLOSED,
    CheckKind,
    CheckStatus,
    ContactRole,
    DbsLevel,
    OrgKind,
    Party,
    ReviewOutcome,
    State,
    SupervisionKind,
    Workforce,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _enum(cls: type, name: str) -> Enum:
    # Stored as plain strings (no native ENUM type): adding a value needs no ALTER TYPE.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        length=32,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


# The closed states, as the partial unique index on open journeys names them.
OPEN_JOURNEY = text("state NOT IN ({})".format(", ".join(f"'{s.value}'" for s in CLOSED)))


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Organisation(Base):
    __tablename__ = "organisations"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[OrgKind] = mapped_column(_enum(OrgKind, "org_kind"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    contacts: Mapped[list[Contact]] = relationship(
        back_populates="organisation", cascade="all, delete-orphan"
    )


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("organisation_id", "role", "email"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    role: Mapped[ContactRole] = mapped_column(_enum(ContactRole, "contact_role"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    organisation: Mapped[Organisation] = relationship(back_populates="contacts")


class Team(Base):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    host_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    speciality: Mapped[str] = mapped_column(String(64))
    # The readiness checklist: all four must be in place before a PSW is placed here.
    supervisor_name: Mapped[str | None] = mapped_column(String(200))
    supervisor_email: Mapped[str | None] = mapped_column(String(320))
    team_briefed: Mapped[bool] = mapped_column(Boolean, default=False)
    role_description_agreed: Mapped[bool] = mapped_column(Boolean, default=False)
    peer_supervision_arranged: Mapped[bool] = mapped_column(Boolean, default=False)
    # How many PSWs in post (probation or embedded) the team's supervisor can supervise.
    supervised_places: Mapped[int] = mapped_column(Integer, default=4, server_default="4")
    host_organisation: Mapped[Organisation] = relationship()


class Candidate(Base):
    """Minimal personal data: a name to address the candidate by and an email to reach them.

    One record per organisation that recorded the person: a person known to two organisations is two
    candidates, each with the name spelling and contact details that organisation typed, so neither
    sees (nor erases) what the other recorded."""

    __tablename__ = "candidates"
    __table_args__ = (UniqueConstraint("organisation_id", "email", name="uq_candidates_organisation_email"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    organisation: Mapped[Organisation] = relationship()

    @property
    def ref(self) -> str:
        return f"C-{self.id:06d}"


class Journey(Base):
    __tablename__ = "journeys"
    __table_args__ = (
        Index("ix_journeys_state_employer", "state", "employer_organisation_id"),
        Index("ix_journeys_candidate", "candidate_id"),
        # At most one open application per person, organisation and pathway (a candidate belongs to
        # one organisation): two registrations racing for the same person, one wins.
        Index(
            "uq_journeys_open_application",
            "candidate_id",
            "pathway_id",
            unique=True,
            sqlite_where=OPEN_JOURNEY,
            postgresql_where=OPEN_JOURNEY,
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id"))
    pathway_id: Mapped[str] = mapped_column(String(64))
    pathway_version: Mapped[int] = mapped_column(Integer)
    employer_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    host_team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    state: Mapped[State] = mapped_column(_enum(State, "journey_state"))
    paused_from: Mapped[State | None] = mapped_column(_enum(State, "journey_state"))
    state_since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    applied_on: Mapped[date] = mapped_column(Date)
    start_date: Mapped[date | None] = mapped_column(Date)
    placed_on: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    __mapper_args__ = {"version_id_col": version}

    candidate: Mapped[Candidate] = relationship()
    employer: Mapped[Organisation] = relationship()
    host_team: Mapped[Team | None] = relationship()
    checks: Mapped[list[Check]] = relationship(back_populates="journey", cascade="all, delete-orphan")
    training: Mapped[list[TrainingRecord]] = relationship(
        back_populates="journey", cascade="all, delete-orphan"
    )
    supervision: Mapped[list[SupervisionSession]] = relationship(
        back_populates="journey", cascade="all, delete-orphan"
    )
    reviews: Mapped[list[ProbationReview]] = relationship(
        back_populates="journey", cascade="all, delete-orphan"
    )

    @property
    def ref(self) -> str:
        return f"J-{self.id:06d}"


class Check(Base):
    __tablename__ = "checks"
    __table_args__ = (UniqueConstraint("journey_id", "kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    journey_id: Mapped[int] = mapped_column(ForeignKey("journeys.id"))
    kind: Mapped[CheckKind] = mapped_column(_enum(CheckKind, "check_kind"))
    status: Mapped[CheckStatus] = mapped_column(_enum(CheckStatus, "check_status"))
    waiting_on: Mapped[Party | None] = mapped_column(_enum(Party, "party"))
    requested_on: Mapped[date | None] = mapped_column(Date)
    waiting_since: Mapped[date | None] = mapped_column(Date)  # when the current party got the ball
    completed_on: Mapped[date | None] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)
    approver: Mapped[str | None] = mapped_column(String(200))
    dbs_level: Mapped[DbsLevel | None] = mapped_column(_enum(DbsLevel, "dbs_level"))
    dbs_workforce: Mapped[Workforce | None] = mapped_column(_enum(Workforce, "workforce"))
    update_service: Mapped[bool | None] = mapped_column(Boolean)
    journey: Mapped[Journey] = relationship(back_populates="checks")


class TrainingRecord(Base):
    __tablename__ = "training_records"
    __table_args__ = (UniqueConstraint("journey_id", "module"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    journey_id: Mapped[int] = mapped_column(ForeignKey("journeys.id"))
    module: Mapped[str] = mapped_column(String(64))
    due_on: Mapped[date | None] = mapped_column(Date)
    completed_on: Mapped[date | None] = mapped_column(Date)
    refresher_due_on: Mapped[date | None] = mapped_column(Date)
    journey: Mapped[Journey] = relationship(back_populates="training")


class SupervisionSession(Base):
    __tablename__ = "supervision_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    journey_id: Mapped[int] = mapped_column(ForeignKey("journeys.id"), index=True)
    kind: Mapped[SupervisionKind] = mapped_column(_enum(SupervisionKind, "supervision_kind"))
    due_on: Mapped[date] = mapped_column(Date)
    held_on: Mapped[date | None] = mapped_column(Date)
    missed: Mapped[bool] = mapped_column(Boolean, default=False)
    journey: Mapped[Journey] = relationship(back_populates="supervision")


class ProbationReview(Base):
    __tablename__ = "probation_reviews"
    __table_args__ = (UniqueConstraint("journey_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    journey_id: Mapped[int] = mapped_column(ForeignKey("journeys.id"))
    name: Mapped[str] = mapped_column(String(16))
    due_on: Mapped[date] = mapped_column(Date)
    held_on: Mapped[date | None] = mapped_column(Date)
    outcome: Mapped[ReviewOutcome | None] = mapped_column(_enum(ReviewOutcome, "review_outcome"))
    # A review may be skipped only by a named approver (the reason is on the event).
    skipped_by: Mapped[str | None] = mapped_column(String(200))
    # The host's supervisor recommends the final outcome; the employer records it.
    recommended_outcome: Mapped[ReviewOutcome | None] = mapped_column(_enum(ReviewOutcome, "review_outcome"))
    recommended_by: Mapped[str | None] = mapped_column(String(200))
    journey: Mapped[Journey] = relationship(back_populates="reviews")


class Event(Base):
    """Append-only log: every transition and every recorded fact, with who and when.

    `detail` holds only non-sensitive facts (check kind and status, module id, dates). Free-text
    reasons are kept apart, in `FreeTextReason`; `reason` is no longer written (migration 0006 moved
    what it held) and stays only so the append-only triggers keep their shape.
    """

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_journey", "journey_id", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    journey_id: Mapped[int] = mapped_column(ForeignKey("journeys.id"))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))  # registered | transition | check | training | ...
    trigger: Mapped[str | None] = mapped_column(String(32))
    from_state: Mapped[State | None] = mapped_column(_enum(State, "journey_state"))
    to_state: Mapped[State | None] = mapped_column(_enum(State, "journey_state"))
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    journey: Mapped[Journey] = relationship()


class OrganisationEvent(Base):
    """Append-only log of changes to an organisation's own records: contacts, closure days, teams'
    readiness and capacity, each with the previous and the new values."""

    __tablename__ = "organisation_events"
    __table_args__ = (Index("ix_organisation_events_org", "organisation_id", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(
        String(32)
    )  # contact_added | contact_removed | closure_added | team ...
    detail: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    organisation: Mapped[Organisation] = relationship()


class PathwayDefinition(Base):
    """The full definition of every pathway version a journey has used, stored the first time it is
    used: journeys are read against these, on any machine, whatever pathway files it has."""

    __tablename__ = "pathway_definitions"
    pathway_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition: Mapped[dict[str, object]] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(String(64))
    stored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SpecialCategoryKind(StrEnum):
    LIVED_EXPERIENCE_NOTE = "lived_experience_note"  # health data (UK GDPR Article 9)
    OCCUPATIONAL_HEALTH_OUTCOME = "occupational_health_outcome"  # health data (Article 9)
    DBS_DISCLOSURE = "dbs_disclosure"  # criminal record data (Article 10)


class SpecialCategoryRecord(Base):
    """SPECIAL-CATEGORY AND CRIMINAL RECORD DATA. Kept apart from everything else, shown only to the
    employing organisation, never logged, never in an email, artifact, digest or report, and purged
    by the retention rules. Nothing outside lifecycle/persistence/privacy.py reads `content`."""

    __tablename__ = "special_category_data"
    __table_args__ = (Index("ix_special_category_journey", "journey_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    journey_id: Mapped[int] = mapped_column(ForeignKey("journeys.id"))
    kind: Mapped[SpecialCategoryKind] = mapped_column(_enum(SpecialCategoryKind, "special_category_kind"))
    content: Mapped[str] = mapped_column(Text)
    recorded_on: Mapped[date] = mapped_column(Date)
    recorded_by: Mapped[str] = mapped_column(String(200))


class FreeTextReason(Base):
    """POSSIBLY SPECIAL-CATEGORY: the free text typed as the reason for a pause, a withdrawal, a
    leaving or a rejection ("wellbeing: relapse" lands here). Kept apart like the special-category
    notes: shown only to the employing organisation (and the programme lead), never in an email,
    artifact, digest, report or log, and removed by erasure and retention."""

    __tablename__ = "free_text_reasons"
    __table_args__ = (Index("ix_free_text_reasons_journey", "journey_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    journey_id: Mapped[int] = mapped_column(ForeignKey("journeys.id"))
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), unique=True)
    content: Mapped[str] = mapped_column(Text)

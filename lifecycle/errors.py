"""Domain errors. Every refusal a user can cause is one of these, with a one-line message."""


class PeerpathError(Exception):
    """Base of every error a user can cause; its message is one readable line."""


class NotFound(PeerpathError):
    """An unknown journey, organisation, team, pathway or other reference."""


class InvalidInput(PeerpathError):
    """Input that can never be valid (bad date, unknown check kind, header-breaking text...)."""


class TransitionRefused(PeerpathError):
    """A trigger that is not allowed from the journey's state, or whose guards are not met."""

    def __init__(self, journey_ref: str, trigger: str, reasons: list[str]):
        self.journey_ref = journey_ref
        self.trigger = trigger
        self.reasons = reasons
        super().__init__(f"cannot {trigger.replace('_', ' ')} {journey_ref}: {'; '.join(reasons)}")


class ConflictError(PeerpathError):
    """Someone else changed the journey between our read and our write."""


class NotPermitted(PeerpathError):
    """An action or a look-up outside the acting organisation's own journeys, teams or contacts."""

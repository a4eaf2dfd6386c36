"""What narrows a night's work: the fingerprint a journey's schedule was computed under, and the
previous completed sweep of the same scope."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from lifecycle.pathways import PathwayRegistry
from rules.persistence import SweepRun
from rules.ruleset import RuleSet

# A change whose transaction began before the previous sweep started but committed after that sweep
# read the journey, or was stamped by a machine whose clock runs behind, still counts as "changed
# since": journeys changed this long before the previous sweep began are evaluated again.
CHANGE_MARGIN = timedelta(hours=1)


def fingerprint(ruleset: RuleSet, pathways: PathwayRegistry) -> str:
    """What a journey's schedule was computed under: the rules and overrides, every pathway version,
    the bank holidays and the evaluator's own code. A schedule under another fingerprint is ignored."""
    import holidays

    from lifecycle import clock
    from lifecycle import pathways as pathway_code
    from rules import calendar, evaluator, persistence
    from rules import ruleset as ruleset_code

    doc = {
        "rules": [r.model_dump(mode="json") for r in ruleset.rules],
        "overrides": [o.model_dump(mode="json") for o in ruleset.overrides],
        "pathways": [p.model_dump(mode="json") for p in pathways.all()],
        "holidays": holidays.__version__,
        "code": [
            Path(m.__file__).read_text(encoding="utf-8")
            for m in (evaluator, calendar, persistence, ruleset_code, pathway_code, clock)
            if m.__file__
        ],
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


def previous_run(session: Session, scope: str, as_of: date) -> tuple[date, datetime] | None:
    """The latest completed sweep before `as_of` that covered this scope: (its date, when it started
    less CHANGE_MARGIN)."""
    scopes = {"*", scope}
    row = session.execute(
        select(SweepRun.as_of, SweepRun.started_at)
        .where(SweepRun.scope.in_(scopes), SweepRun.completed_at.is_not(None), SweepRun.as_of < as_of)
        .order_by(SweepRun.as_of.desc(), SweepRun.started_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    started = row[1] if row[1].tzinfo else row[1].replace(tzinfo=UTC)
    return row[0], started - CHANGE_MARGIN

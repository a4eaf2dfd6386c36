"""Where to grow: rank clinical areas (specialities) and host teams for the next PSW placements.

The framework asks which clinical areas benefit most; this makes it a ranking anyone can check.
Four criteria, each scored 0..1 and weighted (weights and thresholds are configuration):
- readiness: a team's readiness checklist (named supervisor, team briefed, role description agreed,
  peer supervision arranged); for a speciality, the share of its teams that are ready;
- supervision: free supervised places (a named supervisor supports `psws_per_supervisor` PSWs)
  times the share of due supervision actually held there (a team that misses sessions scores less;
  one with no supervision due yet, no PSW placed, counts at a neutral half);
- pipeline: PSWs of the speciality between clearance and placement, who will need a team soon,
  relative to the busiest speciality;
- retention: the share still employed 6 months after starting (the team's own when it has at least
  `min_sample` such PSWs, else its speciality's, else the programme's; none yet: a neutral 0.5).
With `require_ready` (the default) a team that cannot take a placement today (the `place` guard
would refuse it) ranks after every team that can, with what it lacks as its reasons.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, fields
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from insight.history import first_entry, load_journeys, load_moves, require_organisation
from insight.reports import Report, ratio, supervision
from lifecycle.clock import london_today
from lifecycle.errors import InvalidInput
from lifecycle.pathways import PathwayRegistry, add_months
from lifecycle.persistence.models import Organisation, Team
from lifecycle.states import State

# A team (or speciality) where no supervision has fallen due yet (no PSW placed) has not shown it
# holds supervision: its free places count at a neutral half, so it never outranks a team whose
# record is known merely by being empty.
UNPROVEN = 0.5
CRITERIA = ("readiness", "supervision", "pipeline", "retention")
NEAR_PLACEMENT = (State.CLEARED, State.INDUCTION, State.TRAINING)
RECRUITING = (State.APPLIED, State.SHORTLISTED, State.INTERVIEW_SCHEDULED, State.INTERVIEWED, State.OFFERED,
              State.CHECKS)  # fmt: skip
IN_POST = (State.PROBATION, State.EMBEDDED)


@dataclass(frozen=True)
class Criteria:
    readiness: float = 2.0
    supervision: float = 1.0
    pipeline: float = 1.0
    retention: float = 1.0
    psws_per_supervisor: int = 4
    min_sample: int = 3
    require_ready: bool = True

    def weights(self) -> dict[str, float]:
        return {c: float(getattr(self, c)) for c in CRITERIA}

    @classmethod
    def parse(cls, settings: dict[str, Any] | None = None, weights: list[str] | None = None) -> Criteria:
        """From a mapping (a YAML file's) and `name=value` overrides; one clear line when wrong."""
        known = {f.name: f.type for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in (settings or {}).items():
            values[_known(key, known)] = value
        for item in weights or []:
            name, eq, value = item.partition("=")
            if not eq:
                raise InvalidInput(f"criterion {item!r}: expected name=value, e.g. readiness=2")
            values[_known(name.strip(), known)] = value.strip()
        out: dict[str, Any] = {}
        for key, value in values.items():
            try:
                if key == "require_ready":
                    out[key] = (
                        value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
                    )
                elif key in ("psws_per_supervisor", "min_sample"):
                    out[key] = int(value)
                    if out[key] < 1:
                        raise ValueError
                else:
                    out[key] = float(value)
                    if not math.isfinite(out[key]) or out[key] < 0:  # nan, inf, 1e309: no score
                        raise ValueError
            except (TypeError, ValueError):
                raise InvalidInput(f"criterion {key}: {value!r} is not a valid value") from None
        criteria = cls(**out)
        if not any(criteria.weights().values()):
            raise InvalidInput("at least one criterion needs a weight above 0")
        return criteria

    @classmethod
    def from_file(cls, path: Path, weights: list[str] | None = None) -> Criteria:
        import yaml

        from lifecycle.bounded import BoundedYamlError, FileRefused, load_yaml, read_text
        from lifecycle.validation import escape_line

        try:
            raw = load_yaml(read_text(path, "criteria file")) or {}  # bounded: size, binary, depth, digits
        except FileRefused:
            raise
        except BoundedYamlError as exc:
            raise InvalidInput(f"criteria file {escape_line(str(path))}:{exc.line}: {exc.problem}") from None
        except RecursionError:
            raise InvalidInput(f"criteria file {escape_line(str(path))}: nested too deeply") from None
        except yaml.YAMLError as exc:
            problem = escape_line(str(exc).splitlines()[0]) if str(exc) else "not valid YAML"
            raise InvalidInput(f"cannot read criteria file {escape_line(str(path))}: {problem}") from None
        if not isinstance(raw, dict):
            raise InvalidInput(f"{path}: the criteria file must be a mapping, e.g. `readiness: 2`")
        return cls.parse(raw, weights)


def _known(key: str, known: dict[str, Any]) -> str:
    if key not in known:
        raise InvalidInput(f"unknown criterion {key!r} (known: {', '.join(known)})")
    return key


def grow(
    session: Session,
    registry: PathwayRegistry,
    *,
    org: str | None = None,
    as_of: date | None = None,
    criteria: Criteria = Criteria(),  # noqa: B008 - frozen
) -> Report:
    org = require_organisation(session, org)
    day = as_of or london_today()
    journeys = load_journeys(session, registry, org)
    moves = load_moves(session, org, before=day + timedelta(days=1))
    teams = _teams(session, org)
    # Who is where: PSWs in post per team; near-placement and recruiting pipeline per speciality.
    in_post: Counter[str] = Counter()
    near: Counter[str] = Counter()
    recruiting: Counter[str] = Counter()
    retained: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for jid, j in journeys.items():
        stage = j.stage
        if stage in IN_POST and j.team:
            in_post[j.team] += 1
        if stage in NEAR_PLACEMENT:
            near[j.speciality] += 1
        if stage in RECRUITING:
            recruiting[j.speciality] += 1
        mv = moves.get(jid, [])
        start = first_entry(mv, State.INDUCTION)
        if start is None or add_months(start, 6) > day:
            continue
        left = next((m.day for m in mv if m.to_state is State.LEFT and m.day >= start), None)
        kept = "kept" if not left or left > add_months(start, 6) else "left"
        for key in (("programme", "all"), ("speciality", j.speciality), ("team", j.team or "")):
            retained[key][kept] += 1
            retained[key]["n"] += 1
    compliance = {
        r["group"]: r["compliance"] for r in supervision(session, registry, org=org, as_of=day).rows
        if r["dimension"] == "team"
    }  # fmt: skip
    busiest = max(near.values(), default=0)
    weights = criteria.weights()

    def retention_of(team: str | None, speciality: str) -> tuple[float, str]:
        for key, label in ((("team", team or ""), "this team"), (("speciality", speciality), speciality),
                           (("programme", "all"), "the programme")):  # fmt: skip
            c = retained.get(key)
            if c and c["n"] >= (criteria.min_sample if key[0] != "programme" else 1):
                rate = c["kept"] / c["n"]
                return (
                    rate,
                    f"{rate:.0%} of {label}'s PSWs still in post 6 months after starting (n={c['n']})",
                )
        return 0.5, "no PSW has reached 6 months yet: retention scored neutral"

    def pipeline_of(speciality: str) -> tuple[float, str]:
        n = near[speciality]
        text = f"{n} PSW(s) in the {speciality} pipeline from clearance to training will need a team"
        if recruiting[speciality]:
            text += f" ({recruiting[speciality]} more in recruitment)"
        return (n / busiest if busiest else 0.0), text

    team_rows = []
    for t in teams:
        missing = t["missing"]
        capacity = criteria.psws_per_supervisor if t["supervisor"] else 0
        free = max(capacity - in_post[t["code"]], 0)
        held = compliance.get(t["code"])
        scores = {
            "readiness": (4 - len(missing)) / 4,
            "supervision": (free / capacity if capacity else 0.0) * (held if held is not None else UNPROVEN),
            "pipeline": pipeline_of(t["speciality"])[0],
            "retention": retention_of(t["code"], t["speciality"])[0],
        }
        reasons = [
            "ready: all four readiness items in place" if not missing else "not ready: " + ", ".join(missing),
            (f"{free} of {capacity} supervised places free ({in_post[t['code']]} PSW(s) in post)" if capacity
             else "no named supervisor: no supervised places")
            + (f"; {held:.0%} of due supervision held" if held is not None
               else "; no supervision due there yet: scored neutral" if capacity else ""),
            pipeline_of(t["speciality"])[1],
            retention_of(t["code"], t["speciality"])[1],
        ]  # fmt: skip
        placeable = not missing and free > 0
        team_rows.append(
            _row("team", t["code"], t["speciality"], t["host"], scores, weights, reasons, placeable, free)
        )
    spec_rows = []
    for speciality in sorted({t["speciality"] for t in teams} | set(near) | set(recruiting)):
        mine = [t for t in teams if t["speciality"] == speciality]
        ready = [t for t in mine if not t["missing"]]
        capacity = sum(criteria.psws_per_supervisor for t in ready if t["supervisor"])
        free = sum(
            max(criteria.psws_per_supervisor - in_post[t["code"]], 0) for t in ready if t["supervisor"]
        )
        held = [compliance[t["code"]] for t in ready if compliance.get(t["code"]) is not None]
        held_share = sum(held) / len(held) if held else None
        scores = {
            "readiness": len(ready) / len(mine) if mine else 0.0,
            "supervision": (free / capacity if capacity else 0.0)
            * (held_share if held_share is not None else UNPROVEN),
            "pipeline": pipeline_of(speciality)[0],
            "retention": retention_of(None, speciality)[0],
        }
        reasons = [
            f"{len(ready)} of {len(mine)} team(s) ready" if mine else "no host team yet",
            f"{free} supervised place(s) free in ready teams" + (f"; {held_share:.0%} of due supervision held" if held_share is not None
                                                                 else "; no supervision due there yet: scored neutral" if capacity else ""),
            pipeline_of(speciality)[1],
            retention_of(None, speciality)[1],
        ]  # fmt: skip
        spec_rows.append(
            _row("speciality", speciality, speciality, None, scores, weights, reasons, free > 0, free)
        )
    rows = _rank(spec_rows, criteria) + _rank(team_rows, criteria)
    summary = {
        "top_speciality": spec_rows and _rank(spec_rows, criteria)[0]["group"],
        "top_team": team_rows and _rank(team_rows, criteria)[0]["group"],
        "teams_ready": sum(1 for t in teams if not t["missing"]),
        "teams": len(teams),
        "free_supervised_places": sum(
            r["free_places"] for r in team_rows if not r["reasons"].startswith("not ready")
        ),
        "weights": weights,
        "psws_per_supervisor": criteria.psws_per_supervisor,
    }
    notes = [
        "score: the weighted mean of the criterion scores (0..1); weights: " + ", ".join(f"{k} {v:g}" for k, v in weights.items()),
        f"a named supervisor supports {criteria.psws_per_supervisor} PSWs; pipeline: cleared, induction and training",
        "placeable now: ready and with a free supervised place" + (" (ranked first)" if criteria.require_ready else ""),
    ]  # fmt: skip
    return Report("grow", "Where to grow: next placements", day, org, rows, summary, notes=notes)


def _row(dimension: str, group: str, speciality: str, host: str | None, scores: dict[str, float],
         weights: dict[str, float], reasons: list[str], placeable: bool, free: int) -> dict[str, Any]:  # fmt: skip
    score = sum(weights[c] * scores[c] for c in CRITERIA) / sum(weights.values())
    return {
        "dimension": dimension, "group": group, "speciality": speciality, "host": host, "rank": 0,
        "score": round(score, 3), **{c: round(scores[c], 3) for c in CRITERIA}, "placeable_now": placeable,
        "free_places": free, "reasons": "; ".join(reasons),
    }  # fmt: skip


def _rank(rows: list[dict[str, Any]], criteria: Criteria) -> list[dict[str, Any]]:
    ordered = sorted(
        rows, key=lambda r: (-(r["placeable_now"] if criteria.require_ready else 0), -r["score"], r["group"])
    )
    for n, r in enumerate(ordered, 1):
        r["rank"] = n
    return ordered


def _teams(session: Session, org: str | None) -> list[dict[str, Any]]:
    """Teams (hosted by `org`, or all) with their readiness; the supervisor's name is never read out."""
    host = aliased(Organisation)
    stmt = select(Team.code, Team.speciality, host.code, Team.supervisor_name.is_not(None), Team.team_briefed,
                  Team.role_description_agreed, Team.peer_supervision_arranged).join(
        host, Team.host_organisation_id == host.id).order_by(Team.code)  # fmt: skip
    if org:
        stmt = stmt.where(host.code == org)
    teams = []
    for code, speciality, host_code, supervisor, briefed, role, peer in session.execute(stmt):
        missing = [m for m, ok in (("no named supervisor", supervisor), ("team not briefed", briefed),
                                   ("role description not agreed", role), ("peer supervision not arranged", peer)) if not ok]  # fmt: skip
        teams.append({"code": code, "speciality": speciality, "host": host_code, "supervisor": bool(supervisor),
                      "missing": missing})  # fmt: skip
    return teams


__all__ = ["CRITERIA", "Criteria", "grow", "ratio"]

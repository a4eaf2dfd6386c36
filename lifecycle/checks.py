"""What a check may wait on, and whether a recorded DBS check meets the pathway's requirement.

Both are data read by the service layer (refusing an impossible record), by the guards (refusing to
clear a journey on a check that does not match the role) and by the rules' coverage test.
"""

from __future__ import annotations

from lifecycle.pathways import DbsSpec, Pathway
from lifecycle.states import CheckKind, DbsLevel, Party, Workforce

P = Party
# Who a check can be waiting on. The employer's HR and the coordinator can hold any check (a
# document to verify, a decision to make); the others only the checks that are theirs to answer.
WAITING_PARTIES: dict[CheckKind, frozenset[Party]] = {
    CheckKind.IDENTITY: frozenset({P.CANDIDATE, P.EMPLOYER_HR, P.COORDINATOR}),
    CheckKind.RIGHT_TO_WORK: frozenset({P.CANDIDATE, P.EMPLOYER_HR, P.COORDINATOR}),
    CheckKind.REGISTRATION: frozenset({P.CANDIDATE, P.EMPLOYER_HR, P.COORDINATOR}),
    CheckKind.REFERENCES: frozenset({P.REFEREE, P.CANDIDATE, P.EMPLOYER_HR, P.COORDINATOR}),
    CheckKind.DBS: frozenset({P.DBS, P.CANDIDATE, P.EMPLOYER_HR, P.COORDINATOR}),
    CheckKind.WORK_HEALTH: frozenset({P.OCCUPATIONAL_HEALTH, P.CANDIDATE, P.EMPLOYER_HR, P.COORDINATOR}),
}

# Who a check waits on once it is requested, unless the coordinator says otherwise.
DEFAULT_WAITING_ON: dict[CheckKind, Party] = {
    CheckKind.IDENTITY: P.CANDIDATE,
    CheckKind.RIGHT_TO_WORK: P.CANDIDATE,
    CheckKind.REGISTRATION: P.CANDIDATE,
    CheckKind.REFERENCES: P.REFEREE,
    CheckKind.DBS: P.DBS,
    CheckKind.WORK_HEALTH: P.OCCUPATIONAL_HEALTH,
}


def waiting_refusal(kind: CheckKind, party: Party) -> str | None:
    """Why `kind` cannot wait on `party`, or None when it can."""
    allowed = WAITING_PARTIES[kind]
    if party in allowed:
        return None
    names = ", ".join(p.label for p in Party if p in allowed)
    return f"the {kind.label} check cannot wait on {party.label} (it can wait on: {names})"


# A DBS level is a base level and the barred lists it includes.
_BASE = {
    DbsLevel.BASIC: 0,
    DbsLevel.STANDARD: 1,
    DbsLevel.ENHANCED: 2,
    DbsLevel.ENHANCED_ADULTS_BARRED: 2,
    DbsLevel.ENHANCED_CHILDREN_BARRED: 2,
    DbsLevel.ENHANCED_BOTH_BARRED: 2,
}
_LISTS: dict[DbsLevel, frozenset[str]] = {
    DbsLevel.ENHANCED_ADULTS_BARRED: frozenset({"adults"}),
    DbsLevel.ENHANCED_CHILDREN_BARRED: frozenset({"children"}),
    DbsLevel.ENHANCED_BOTH_BARRED: frozenset({"adults", "children"}),
}
DBS_LEVEL_LABELS = {
    DbsLevel.BASIC: "basic",
    DbsLevel.STANDARD: "standard",
    DbsLevel.ENHANCED: "enhanced",
    DbsLevel.ENHANCED_ADULTS_BARRED: "enhanced with the adults' barred list",
    DbsLevel.ENHANCED_CHILDREN_BARRED: "enhanced with the children's barred list",
    DbsLevel.ENHANCED_BOTH_BARRED: "enhanced with both barred lists",
}
WORKFORCE_LABELS = {
    Workforce.ADULT: "the adult workforce",
    Workforce.CHILD: "the child workforce",
    Workforce.ADULT_AND_CHILD: "the adult and child workforces",
    Workforce.OTHER: "the other workforce",
}
_COVERS: dict[Workforce, frozenset[Workforce]] = {
    Workforce.ADULT: frozenset({Workforce.ADULT}),
    Workforce.CHILD: frozenset({Workforce.CHILD}),
    Workforce.ADULT_AND_CHILD: frozenset({Workforce.ADULT, Workforce.CHILD, Workforce.ADULT_AND_CHILD}),
    Workforce.OTHER: frozenset({Workforce.OTHER}),
}


def barred_lists(level: DbsLevel) -> frozenset[str]:
    return _LISTS.get(level, frozenset())


def level_meets(recorded: DbsLevel, required: DbsLevel) -> bool:
    """A recorded level meets a required one when its base level is at least as high and it
    includes every barred list the requirement names."""
    return _BASE[recorded] >= _BASE[required] and barred_lists(required) <= barred_lists(recorded)


def workforce_meets(recorded: Workforce, required: Workforce) -> bool:
    return required in _COVERS[recorded]


def dbs_refusals(pathway: Pathway, level: DbsLevel | None, workforce: Workforce | None) -> list[str]:
    """Every way a recorded DBS level and workforce fall short of the pathway's requirement."""
    spec: DbsSpec = pathway.checks.dbs
    reasons = []
    if level is not None and not level_meets(level, spec.level):
        reasons.append(
            f"DBS {DBS_LEVEL_LABELS[level]} recorded, {pathway.id} needs {DBS_LEVEL_LABELS[spec.level]}"
        )
    if workforce is not None and not workforce_meets(workforce, spec.workforce):
        reasons.append(
            f"DBS for {WORKFORCE_LABELS[workforce]} recorded, {pathway.id} needs "
            f"{WORKFORCE_LABELS[spec.workforce]}"
        )
    if level is not None and workforce is not None:
        lists = barred_lists(level)
        if "adults" in lists and Workforce.ADULT not in _COVERS[workforce]:
            reasons.append("an adults' barred list check needs the adult workforce")
        if "children" in lists and Workforce.CHILD not in _COVERS[workforce]:
            reasons.append("a children's barred list check needs the child workforce")
    return reasons

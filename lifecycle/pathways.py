"""Pathways: per-speciality configuration, as versioned YAML files validated by pydantic.

A pathway says which checks are required and blocking, the DBS level and workforce, the training
modules with due offsets and refresher intervals, probation length and review points, and the
supervision cadence. A journey pins the pathway id and version it started on.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lifecycle.errors import InvalidInput, NotFound
from lifecycle.states import CheckKind, DbsLevel, SupervisionKind, Workforce
from lifecycle.validation import escape_line

BUILTIN_DIR = Path(__file__).parent / "pathways"
MODULE_LIBRARY = "_modules.yaml"

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
# A journey stores its pathway's version in a 32-bit integer column (journeys.pathway_version).
MAX_VERSION = 2**31 - 1


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrainingStage(StrEnum):
    INDUCTION = "induction"  # must be complete to finish induction
    BEFORE_PLACEMENT = "before_placement"  # must be complete before placement in a team
    PROBATION = "probation"  # completed during probation (e.g. the Care Certificate)


class Module(Strict):
    id: Slug
    title: str = Field(min_length=1, max_length=200)
    stage: TrainingStage
    due_days: int = Field(ge=0, le=730, description="days after the start date")
    refresher_months: int | None = Field(default=None, ge=1, le=120)


class CheckSpec(Strict):
    required: bool = True
    blocking: bool | None = None  # defaults to `required`

    @property
    def is_blocking(self) -> bool:
        return self.required if self.blocking is None else self.blocking


class ReferencesSpec(CheckSpec):
    years_covered: int = Field(default=3, ge=1, le=10)
    minimum: int = Field(default=2, ge=1, le=5)


class DbsSpec(CheckSpec):
    level: DbsLevel
    workforce: Workforce
    recheck_months: int | None = Field(default=36, ge=1, le=120)
    update_service_days: int = Field(default=30, ge=1, le=30)

    @model_validator(mode="after")
    def _workforce_matches_barred_lists(self) -> DbsSpec:
        child_list = self.level in (DbsLevel.ENHANCED_CHILDREN_BARRED, DbsLevel.ENHANCED_BOTH_BARRED)
        adult_list = self.level in (DbsLevel.ENHANCED_ADULTS_BARRED, DbsLevel.ENHANCED_BOTH_BARRED)
        if child_list and self.workforce not in (Workforce.CHILD, Workforce.ADULT_AND_CHILD):
            raise ValueError("a children's barred list check needs the child workforce")
        if adult_list and self.workforce not in (Workforce.ADULT, Workforce.ADULT_AND_CHILD):
            raise ValueError("an adults' barred list check needs the adult workforce")
        return self

    @property
    def adult_first_available(self) -> bool:
        """DBS Adult First exists only for enhanced checks with the adults' barred list."""
        return self.level in (DbsLevel.ENHANCED_ADULTS_BARRED, DbsLevel.ENHANCED_BOTH_BARRED)


def adult_first_refusal(level: DbsLevel) -> str:
    return f"DBS Adult First needs an enhanced check with the adults' barred list (this pathway: {level})"


class Checks(Strict):
    identity: CheckSpec = CheckSpec()
    right_to_work: CheckSpec = CheckSpec()
    registration: CheckSpec = CheckSpec(required=False)
    references: ReferencesSpec = ReferencesSpec()
    dbs: DbsSpec
    work_health: CheckSpec = CheckSpec()

    def spec(self, kind: CheckKind) -> CheckSpec:
        return getattr(self, kind.value)  # type: ignore[no-any-return]


class TrainingPlan(Strict):
    include: tuple[Slug, ...] = ()
    modules: tuple[Module, ...] = ()


class ReviewPoint(Strict):
    name: Literal["first", "second", "final"]
    week: int = Field(ge=1, le=104)
    optional: bool = False


class Probation(Strict):
    months: int = Field(ge=1, le=24)
    reviews: tuple[ReviewPoint, ...]

    @model_validator(mode="after")
    def _final_review_inside_probation(self) -> Probation:
        names = [r.name for r in self.reviews]
        if names.count("final") != 1:
            raise ValueError("probation needs exactly one final review")
        if len(set(names)) != len(names):
            raise ValueError("review names must be unique")
        final = next(r for r in self.reviews if r.name == "final")
        if final.week * 7 > self.months * 30:
            raise ValueError("the final review must fall before the end of probation")
        if any(r.week > final.week for r in self.reviews):
            raise ValueError("no review may come after the final review")
        return self

    def end_date(self, placed_on: date) -> date:
        return add_months(placed_on, self.months)


class Cadence(Strict):
    every_days: int = Field(ge=1, le=365)


class Pathway(Strict):
    id: Slug
    version: int = Field(ge=1, le=MAX_VERSION)
    title: str = Field(min_length=1, max_length=200)
    speciality: Slug
    checks: Checks
    training: TrainingPlan
    probation: Probation
    supervision: dict[SupervisionKind, Cadence]

    # Filled by the loader from the module library: the pathway's full list of modules.
    resolved_modules: tuple[Module, ...] = ()

    @property
    def key(self) -> tuple[str, int]:
        return (self.id, self.version)

    def modules_for(self, stage: TrainingStage) -> tuple[Module, ...]:
        return tuple(m for m in self.resolved_modules if m.stage is stage)

    def module(self, module_id: str) -> Module:
        for m in self.resolved_modules:
            if m.id == module_id:
                return m
        raise NotFound(f"pathway {self.id} v{self.version} has no training module {module_id!r}")

    def blocking_checks(self) -> tuple[CheckKind, ...]:
        return tuple(k for k in CheckKind if self.checks.spec(k).is_blocking)


class ModuleLibrary(Strict):
    sets: dict[Slug, tuple[Module, ...]]


def add_months(day: date, months: int) -> date:
    """The same day `months` later (earlier if negative), or the last day of a shorter month.
    Beyond the years a date can hold: OverflowError, as `day + timedelta(...)` raises."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    if not date.min.year <= year <= date.max.year:
        raise OverflowError(f"{day} plus {months} months is out of range")
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")  # every month has 28 days


def review_due(placed_on: date, point: ReviewPoint) -> date:
    return placed_on + timedelta(weeks=point.week)


def describe_validation_error(source: str, error: ValidationError) -> str:
    """One readable line for the first problem pydantic found (and how many more there are)."""
    errors = error.errors()
    first = errors[0]
    # The location holds keys as written in the file (an unknown key, a supervision kind): escaped.
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return escape_line(f"{source}: {where}: {first['msg']}{more}")


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int:
    """The 1-based line of the deepest YAML node a pydantic error location reaches."""
    if node is None:
        return 1
    line = node.start_mark.line + 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if getattr(k, "value", None) == str(part)), None)
            if child is None:  # the key itself may be the problem (an unknown key, a bad enum key)
                key = next((k for k, _ in node.value if getattr(k, "value", None) == str(part)), None)
                return key.start_mark.line + 1 if key is not None else line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        if child is None:
            return line
        node, line = child, child.start_mark.line + 1
    return line


def validation_problems(path: Path, text: str, error: ValidationError) -> list[str]:
    """Every problem pydantic found, each as `file:line: field: reason`."""
    try:
        from lifecycle.bounded import compose_yaml

        root = compose_yaml(text)
    except (yaml.YAMLError, RecursionError):
        root = None
    problems = []
    for err in error.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        problems.append(
            escape_line(f"{path.name}:{_line_of(root, tuple(err['loc']))}: {where}: {err['msg']}")
        )
    return problems


class PathwayErrors(InvalidInput):
    """Every problem found in a folder of pathway files, each `file:line: field: reason`."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def _read_text(path: Path) -> str:
    from lifecycle.bounded import FileRefused, read_text

    try:
        return read_text(path, "pathway file")  # bounded: size, binary, UTF-8
    except FileRefused as exc:
        raise InvalidInput(f"{escape_line(path.name)}: cannot read pathway file: {exc.reason}") from None


def _parse_yaml(path: Path, text: str) -> object:
    from lifecycle.bounded import BoundedYamlError, load_yaml

    try:
        return load_yaml(text)
    except BoundedYamlError as exc:  # nesting, a 5,000-digit integer, NaN or inf
        raise InvalidInput(
            f"{escape_line(path.name)}: cannot read pathway file: {exc.problem} (line {exc.line})"
        ) from None
    except RecursionError:  # e.g. thousands of `[`: PyYAML composes nested collections recursively
        raise InvalidInput(f"{escape_line(path.name)}: cannot read pathway file: nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidInput(
            f"{escape_line(path.name)}{line}: cannot read pathway file: {escape_line(problem)}"
        ) from exc


def _read_yaml(path: Path) -> object:
    return _parse_yaml(path, _read_text(path))


def load_pathway(path: Path, library: ModuleLibrary) -> Pathway:
    pathway, problems = _load_pathway(path, library)
    if problems:
        raise InvalidInput(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    assert pathway is not None
    return pathway


def _load_pathway(path: Path, library: ModuleLibrary) -> tuple[Pathway | None, list[str]]:
    """A pathway file, or every problem with it."""
    try:
        text = _read_text(path)
        raw = _parse_yaml(path, text)
    except InvalidInput as exc:
        return None, [str(exc)]
    if not isinstance(raw, dict):
        return None, [f"{escape_line(path.name)}:1: a pathway file must be a mapping"]
    try:
        pathway = Pathway.model_validate(raw)
    except ValidationError as exc:
        return None, validation_problems(path, text, exc)
    modules: dict[str, Module] = {}
    problems = []
    for index, set_name in enumerate(pathway.training.include):
        if set_name not in library.sets:
            line = _line_of(yaml.compose(text, Loader=yaml.SafeLoader), ("training", "include", index))
            problems.append(
                f"{escape_line(path.name)}:{line}: training.include: unknown module set {set_name!r}"
            )
            continue
        modules.update((m.id, m) for m in library.sets[set_name])
    if problems:
        return None, problems
    modules.update((m.id, m) for m in pathway.training.modules)  # a pathway may override
    return pathway.model_copy(update={"resolved_modules": tuple(modules.values())}), []


def load_library(directory: Path) -> ModuleLibrary:
    path = directory / MODULE_LIBRARY
    if not path.exists():
        return ModuleLibrary(sets={})
    text = _read_text(path)
    try:
        return ModuleLibrary.model_validate(_parse_yaml(path, text))
    except ValidationError as exc:
        raise PathwayErrors(validation_problems(path, text, exc)) from exc


def definition_digest(pathway: Pathway) -> str:
    """A digest of a pathway version's full definition: the same file gives the same digest."""
    canonical = json.dumps(pathway.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_directory(directory: Path) -> tuple[list[tuple[Path, Pathway]], list[str]]:
    """Every pathway in a folder (with the built-in module sets) and the file it came from, and
    every problem found in the folder."""
    if not directory.is_dir():
        return [], [f"pathway directory {escape_line(str(directory))} does not exist"]
    problems: list[str] = []
    try:
        extra = load_library(directory) if directory != BUILTIN_DIR else ModuleLibrary(sets={})
    except PathwayErrors as exc:
        problems.extend(exc.problems)
        extra = ModuleLibrary(sets={})
    except InvalidInput as exc:
        problems.append(str(exc))
        extra = ModuleLibrary(sets={})
    merged = ModuleLibrary(sets={**load_library(BUILTIN_DIR).sets, **extra.sets})
    found: list[tuple[Path, Pathway]] = []
    for path in sorted(directory.glob("*.yaml")):
        if path.name == MODULE_LIBRARY:
            continue
        pathway, errors = _load_pathway(path, merged)
        problems.extend(errors)
        if pathway is not None:
            found.append((path, pathway))
    return found, problems


def duplicate_problems(found: list[tuple[Path, Pathway]]) -> list[str]:
    seen: dict[tuple[str, int], Path] = {}
    problems = []
    for path, pathway in found:
        first = seen.setdefault(pathway.key, path)
        if first is not path:
            where = "the built-in pathways" if first.parent == BUILTIN_DIR else escape_line(first.name)
            problems.append(
                f"{escape_line(path.name)}:1: pathway {pathway.id} version {pathway.version} "
                f"is also defined in {where}"
            )
    return problems


class PathwayRegistry:
    """Every known pathway version, by id; the newest version is used for new applicants."""

    def __init__(self, pathways: Iterable[Pathway]):
        self._by_key: dict[tuple[str, int], Pathway] = {}
        for p in pathways:
            if p.key in self._by_key:
                raise InvalidInput(f"pathway {p.id} version {p.version} is defined twice")
            self._by_key[p.key] = p

    @classmethod
    def from_directories(cls, *directories: Path) -> PathwayRegistry:
        """Every pathway in the folders; every problem in them at once (PathwayErrors)."""
        found: list[tuple[Path, Pathway]] = []
        problems: list[str] = []
        for directory in directories:
            pathways, errors = check_directory(directory)
            found.extend(pathways)
            problems.extend(errors)
        problems.extend(duplicate_problems(found))
        if problems:
            raise PathwayErrors(problems)
        return cls(p for _, p in found)

    def with_pinned(self, pinned: Iterable[Pathway]) -> PathwayRegistry:
        """These versions, with the stored definitions of versions journeys use in their place: a
        journey keeps the definition it started on, whatever a machine's pathway files say."""
        merged = dict(self._by_key)
        merged.update((p.key, p) for p in pinned)
        return PathwayRegistry(merged.values())

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def get(self, pathway_id: str, version: int | None = None) -> Pathway:
        if version is None:
            versions = [v for (pid, v) in self._by_key if pid == pathway_id]
            if not versions:
                raise NotFound(f"unknown pathway {pathway_id!r} (known: {', '.join(self.ids())})")
            version = max(versions)
        try:
            return self._by_key[(pathway_id, version)]
        except KeyError:
            raise NotFound(f"unknown pathway {pathway_id!r} version {version}") from None

    def ids(self) -> list[str]:
        return sorted({pid for pid, _ in self._by_key})

    def latest(self) -> list[Pathway]:
        return [self.get(pid) for pid in self.ids()]

    def all(self) -> list[Pathway]:
        return [self._by_key[k] for k in sorted(self._by_key)]


@functools.cache
def builtin_registry() -> PathwayRegistry:
    return PathwayRegistry.from_directories(BUILTIN_DIR)

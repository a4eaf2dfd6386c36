"""Loading rule files (with file:line errors), checking them, and resolving overrides."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from lifecycle.bounded import BoundedYamlError, FileRefused, compose_yaml, load_yaml, read_text
from lifecycle.errors import InvalidInput
from lifecycle.pathways import PathwayRegistry
from lifecycle.validation import escape_line
from rules.model import Override, Rule, RuleFile

DEFAULT_RULES = Path(__file__).parent / "default.yaml"


class RulesError(InvalidInput):
    """A rule file problem, as `file:line: reason`."""

    def __init__(self, path: Path | str, line: int | None, reason: str):
        self.path, self.line, self.reason = str(path), line, reason
        name = escape_line(Path(path).name)
        where = f"{name}:{line}" if line else name
        super().__init__(f"{where}: {reason}")


def _node_at(node: yaml.Node | None, loc: Iterable[Any]) -> yaml.Node | None:
    """The YAML node at a pydantic error location, for its line number."""
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), node)
            if node is None:
                return None
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
    return node


def _line(root: yaml.Node | None, loc: Iterable[Any]) -> int | None:
    node = _node_at(root, loc)
    return node.start_mark.line + 1 if node is not None else None


def parse_rule_file(path: Path) -> tuple[RuleFile, yaml.Node | None]:
    try:
        text = read_text(path, "rule file")  # bounded: size, binary, UTF-8
    except FileRefused as exc:
        raise RulesError(path, None, exc.reason) from None
    try:
        root = compose_yaml(text)
        raw = load_yaml(text)
    except BoundedYamlError as exc:  # nesting, a 5,000-digit integer, NaN or inf
        raise RulesError(path, exc.line, f"not valid YAML: {exc.problem}") from None
    except RecursionError:  # e.g. thousands of `[`: PyYAML composes nested collections recursively
        raise RulesError(path, None, "nested too deeply") from None
    except yaml.reader.ReaderError as exc:  # a character YAML allows nowhere, e.g. \x1f or \x00
        # Its str() is two lines ('unacceptable character #x001f: ...' then '  in "<unicode string>",
        # position N'): keep the first, and turn the position into a line number.
        line = text.count("\n", 0, exc.position) + 1
        problem = str(exc).splitlines()[0]
        raise RulesError(path, line, f"not valid YAML: {escape_line(problem)}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        context = getattr(exc, "context_mark", None)
        if mark is not None and context is not None and mark.line >= len(text.splitlines()):
            mark = context  # e.g. an unclosed quote: point where it opens, not past the end of the file
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RulesError(
            path, mark.line + 1 if mark else None, f"not valid YAML: {escape_line(problem)}"
        ) from None
    if raw is None:
        return RuleFile(), root
    if not isinstance(raw, dict):
        raise RulesError(path, 1, "a rule file is a mapping with `rules:` and/or `overrides:`")
    try:
        return RuleFile.model_validate(raw), root
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])  # keys as written in the file: escaped below
        message = first["msg"].removeprefix("Value error, ")
        raise RulesError(path, _line(root, first["loc"]), escape_line(f"{where}: {message}")) from None


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    overrides: tuple[Override, ...] = ()
    sources: tuple[str, ...] = field(default=(), compare=False)

    _resolved: dict[tuple[str, str], tuple[Rule, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    _by_state: dict[tuple[str, str, object], tuple[Rule, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def for_state(self, organisation: str, pathway: str, state: object) -> tuple[Rule, ...]:
        """The rules in force that can apply in a journey state (the sweep's hot path); cached."""
        key = (organisation, pathway, state)
        rules = self._by_state.get(key)
        if rules is None:
            rules = self._by_state[key] = tuple(
                r
                for r in self.for_journey(organisation, pathway)
                if r.enabled and (not r.applies_to.states or state in r.applies_to.states)
            )
        return rules

    def for_journey(self, organisation: str, pathway: str) -> tuple[Rule, ...]:
        """The rules in force for one (organisation, pathway), overrides applied; cached per pair."""
        key = (organisation, pathway)
        rules = self._resolved.get(key)
        if rules is None:
            rules = self._resolved[key] = _resolve(self, organisation, pathway)
        return rules

    def reason(self, organisation: str, pathway: str, rule: str) -> str:
        """Why a rule exists, as in force for one (organisation, pathway): an override may carry its own."""
        return next(r.reason for r in self.for_journey(organisation, pathway) if r.name == rule)

    def applied_overrides(self, organisation: str | None, pathway: str | None) -> list[Override]:
        return sorted(
            (o for o in self.overrides if _override_applies(o, organisation, pathway)),
            key=lambda o: o.specificity,
        )


def _override_applies(o: Override, organisation: str | None, pathway: str | None) -> bool:
    return (o.organisation is None or o.organisation == organisation) and (
        o.pathway is None or o.pathway == pathway
    )


def _resolve(ruleset: RuleSet, organisation: str, pathway: str) -> tuple[Rule, ...]:
    """Overrides apply from least to most specific: pathway, then organisation, then both."""
    overrides = ruleset.applied_overrides(organisation, pathway)
    resolved = []
    for rule in ruleset.rules:
        for o in overrides:
            if o.rule == rule.name:
                rule = _override(rule, o)
        resolved.append(rule)
    return tuple(resolved)


def _override(rule: Rule, override: Override) -> Rule:
    """The rule with the override's changes, validated as a whole (e.g. before_days needs a countdown clock)."""
    changes = {
        k: v
        for k in ("steps", "repeat", "days", "before_days", "enabled", "reason")
        if (v := getattr(override, k)) is not None
    }
    return Rule.model_validate(
        {
            **rule.model_dump(),
            **{k: (v.model_dump() if hasattr(v, "model_dump") else v) for k, v in changes.items()},
        }
    )


def load_rules(
    paths: Iterable[Path],
    *,
    templates: Collection[str] | None = None,
    pathways: PathwayRegistry | None = None,
) -> RuleSet:
    """Load and cross-check rule files; the first problem raises RulesError(file, line, reason)."""
    rules: list[Rule] = []
    overrides: list[Override] = []
    seen: dict[str, Path] = {}
    sources = []
    parsed = []
    for path in paths:
        rule_file, root = parse_rule_file(path)
        parsed.append((path, rule_file, root))
        sources.append(str(path))
        for index, rule in enumerate(rule_file.rules):
            if rule.name in seen:
                raise RulesError(
                    path,
                    _line(root, ("rules", index, "name")),
                    f"duplicate rule name {rule.name!r} (first in {seen[rule.name].name})",
                )
            seen[rule.name] = path
            _check_references(
                path, root, ("rules", index), rule.steps, rule.applies_to.pathways, templates, pathways
            )
            rules.append(rule)
    for path, rule_file, root in parsed:
        for index, override in enumerate(rule_file.overrides):
            loc = ("overrides", index)
            if override.rule not in seen:
                raise RulesError(
                    path, _line(root, (*loc, "rule")), f"override of unknown rule {override.rule!r}"
                )
            _check_references(
                path,
                root,
                loc,
                override.steps or (),
                (override.pathway,) if override.pathway else (),
                templates,
                pathways,
                pathway_loc=(*loc, "pathway"),
            )
            base = next(r for r in rules if r.name == override.rule)
            try:
                _override(base, override)
            except ValidationError as exc:
                message = exc.errors()[0]["msg"].removeprefix("Value error, ")
                raise RulesError(path, _line(root, loc), f"override of {override.rule}: {message}") from None
            overrides.append(override)
    return RuleSet(tuple(rules), tuple(overrides), tuple(sources))


def _check_references(path, root, loc, steps, pathway_ids, templates, pathways, pathway_loc=None) -> None:  # type: ignore[no-untyped-def]
    if templates is not None:
        for i, step in enumerate(steps):
            if step.template not in templates:
                raise RulesError(
                    path, _line(root, (*loc, "steps", i, "template")), f"unknown template {step.template!r}"
                )
    if pathways is not None:
        known = set(pathways.ids())
        for i, pid in enumerate(pathway_ids):
            if pid not in known:
                where = pathway_loc or (*loc, "applies_to", "pathways", i)
                raise RulesError(path, _line(root, where), f"unknown pathway {pid!r}")


def rule_paths(extra_dir: Path | None) -> list[Path]:
    paths = [DEFAULT_RULES]
    if extra_dir is not None:
        if not extra_dir.is_dir():
            raise InvalidInput(f"rules directory {extra_dir} does not exist")
        paths += sorted(extra_dir.glob("*.yaml"))
    return paths

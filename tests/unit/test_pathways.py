"""Pathway configuration: the built-in pathways load, and a bad pathway file is refused in one line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from lifecycle.errors import InvalidInput, NotFound
from lifecycle.pathways import BUILTIN_DIR, PathwayRegistry, TrainingStage, builtin_registry
from lifecycle.states import CheckKind, DbsLevel, Workforce

REQUIRED_PATHWAYS = {
    "adult-community-mental-health": "mental-health",
    "perinatal-mental-health": "perinatal",
    "type-1-diabetes": "diabetes",
    "hiv": "hiv",
    "learning-disability-autism": "learning-disability-autism",
}


def builtin_yaml(name: str = "adult-community-mental-health") -> dict[str, Any]:
    data = yaml.safe_load((BUILTIN_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def write(directory: Path, filename: str, data: dict[str, Any] | str) -> Path:
    path = directory / filename
    path.write_text(
        data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False), encoding="utf-8"
    )
    return path


def custom(**changes: Any) -> dict[str, Any]:
    """A valid pathway with an id of its own, based on the adult community mental health file."""
    data = builtin_yaml()
    data.update(id="custom-pathway", title="Custom pathway")
    data.update(changes)
    return data


def refused(tmp_path: Path) -> str:
    """The refusal, one line, with its `file:line:` shortened to `file:` (line numbers are tested
    on their own, below)."""
    with pytest.raises(InvalidInput) as error:
        PathwayRegistry.from_directories(BUILTIN_DIR, tmp_path)
    message = str(error.value)
    assert "\n" not in message, message
    assert re.match(r"^[\w.-]+\.yaml:\d+: ", message), message
    return re.sub(r"^([\w.-]+\.yaml):\d+: ", r"\1: ", message)


# Built-in pathways


def test_every_builtin_pathway_file_loads() -> None:
    registry = builtin_registry()
    files = sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml") if not p.name.startswith("_"))
    assert sorted(p.id for p in registry.all()) == files
    assert registry.ids() == files
    for pathway in registry.all():
        assert pathway.version >= 1
        assert pathway.title
        assert pathway.resolved_modules, pathway.id
        assert len({m.id for m in pathway.resolved_modules}) == len(pathway.resolved_modules)
        for stage in TrainingStage:
            assert pathway.modules_for(stage), (pathway.id, stage)
        assert [r.name for r in pathway.probation.reviews].count("final") == 1
        # Identity, right to work, references, DBS and work health are blocking on every pathway.
        assert set(pathway.blocking_checks()) >= {
            CheckKind.IDENTITY,
            CheckKind.RIGHT_TO_WORK,
            CheckKind.REFERENCES,
            CheckKind.DBS,
            CheckKind.WORK_HEALTH,
        }


def test_required_specialities_present() -> None:
    registry = builtin_registry()
    for pathway_id, speciality in REQUIRED_PATHWAYS.items():
        assert registry.get(pathway_id).speciality == speciality


def test_builtin_dbs_levels() -> None:
    registry = builtin_registry()
    assert registry.get("adult-community-mental-health").checks.dbs.level is DbsLevel.ENHANCED_ADULTS_BARRED
    assert registry.get("type-1-diabetes").checks.dbs.level is DbsLevel.ENHANCED
    assert not registry.get("type-1-diabetes").checks.dbs.adult_first_available
    perinatal = registry.get("perinatal-mental-health").checks.dbs
    assert (perinatal.level, perinatal.workforce) == (
        DbsLevel.ENHANCED_BOTH_BARRED,
        Workforce.ADULT_AND_CHILD,
    )


def test_included_module_sets_are_resolved_and_pathway_modules_added() -> None:
    pathway = builtin_registry().get("adult-community-mental-health")
    ids = [m.id for m in pathway.resolved_modules]
    assert "fire_safety" in ids  # core_skills
    assert "care_certificate" in ids  # care_certificate
    assert "peer_support_foundation" in ids  # peer_support
    assert "suicide_prevention" in ids  # the pathway's own
    assert pathway.module("suicide_prevention").refresher_months == 36
    with pytest.raises(NotFound, match="has no training module 'juggling'"):
        pathway.module("juggling")


def test_unknown_pathway_is_not_found() -> None:
    with pytest.raises(
        NotFound, match=r"unknown pathway 'astrology' \(known: adult-community-mental-health, "
    ):
        builtin_registry().get("astrology")
    with pytest.raises(NotFound, match="unknown pathway 'hiv' version 99"):
        builtin_registry().get("hiv", 99)


# Refused pathway files


def test_unknown_top_level_key_is_rejected(tmp_path: Path) -> None:
    write(tmp_path, "custom.yaml", custom(colour="blue"))
    message = refused(tmp_path)
    assert message.startswith("custom.yaml: ")
    assert "colour" in message
    assert "Extra inputs are not permitted" in message


def test_unknown_nested_key_is_rejected(tmp_path: Path) -> None:
    data = custom()
    data["checks"]["dbs"]["barred_list"] = "adults"
    write(tmp_path, "nested.yaml", data)
    message = refused(tmp_path)
    assert message.startswith("nested.yaml: checks.dbs.barred_list: ")


def test_unknown_key_in_a_module_is_rejected(tmp_path: Path) -> None:
    data = custom()
    data["training"]["modules"][0]["mandatory"] = True
    write(tmp_path, "module.yaml", data)
    message = refused(tmp_path)
    assert message.startswith("module.yaml: training.modules.0.mandatory: ")


def test_misspelt_key_is_rejected_not_ignored(tmp_path: Path) -> None:
    data = custom()
    data["probation"]["review"] = data["probation"].pop("reviews")
    write(tmp_path, "typo.yaml", data)
    message = refused(tmp_path)
    assert message.startswith("typo.yaml: ")
    # Both problems listed, each with its line, still one line.
    assert "probation.reviews: Field required" in message
    assert re.search(r"typo\.yaml:\d+: probation\.review: Extra inputs are not permitted", message)


@pytest.mark.parametrize(
    ("level", "workforce"),
    [
        ("enhanced_children_barred", "adult"),
        ("enhanced_adults_barred", "child"),
        ("enhanced_both_barred", "adult"),
        ("enhanced_both_barred", "other"),
    ],
)
def test_dbs_level_workforce_mismatch_rejected(tmp_path: Path, level: str, workforce: str) -> None:
    data = custom()
    data["checks"]["dbs"].update(level=level, workforce=workforce)
    write(tmp_path, "dbs.yaml", data)
    message = refused(tmp_path)
    assert message.startswith("dbs.yaml: checks.dbs: ")
    assert "barred list check needs the" in message


@pytest.mark.parametrize(
    ("level", "workforce"),
    [
        ("enhanced", "adult"),
        ("enhanced_children_barred", "child"),
        ("enhanced_both_barred", "adult_and_child"),
    ],
)
def test_dbs_level_workforce_match_accepted(tmp_path: Path, level: str, workforce: str) -> None:
    data = custom()
    data["checks"]["dbs"].update(level=level, workforce=workforce)
    write(tmp_path, "dbs.yaml", data)
    pathway = PathwayRegistry.from_directories(BUILTIN_DIR, tmp_path).get("custom-pathway")
    assert pathway.checks.dbs.level == level


def test_final_review_after_probation_end_rejected(tmp_path: Path) -> None:
    data = custom()
    data["probation"] = {
        "months": 3,
        "reviews": [{"name": "first", "week": 4}, {"name": "final", "week": 24}],
    }
    write(tmp_path, "late.yaml", data)
    message = refused(tmp_path)
    assert message.startswith("late.yaml: probation: ")
    assert "the final review must fall before the end of probation" in message


def test_probation_without_a_final_review_rejected(tmp_path: Path) -> None:
    data = custom()
    data["probation"] = {"months": 6, "reviews": [{"name": "first", "week": 4}]}
    write(tmp_path, "nofinal.yaml", data)
    assert "probation needs exactly one final review" in refused(tmp_path)


def test_review_after_the_final_rejected(tmp_path: Path) -> None:
    data = custom()
    data["probation"] = {
        "months": 6,
        "reviews": [{"name": "final", "week": 12}, {"name": "second", "week": 20}],
    }
    write(tmp_path, "after.yaml", data)
    assert "no review may come after the final review" in refused(tmp_path)


def test_unknown_module_set_rejected(tmp_path: Path) -> None:
    data = custom()
    data["training"]["include"] = ["core_skills", "basket_weaving"]
    write(tmp_path, "include.yaml", data)
    assert refused(tmp_path) == "include.yaml: training.include: unknown module set 'basket_weaving'"


def test_module_set_from_the_extra_directory_library(tmp_path: Path) -> None:
    write(
        tmp_path,
        "_modules.yaml",
        {
            "sets": {
                "local": [
                    {"id": "local_welcome", "title": "Local welcome", "stage": "induction", "due_days": 3}
                ]
            }
        },
    )
    data = custom()
    data["training"]["include"] = ["core_skills", "local"]
    write(tmp_path, "local.yaml", data)
    pathway = PathwayRegistry.from_directories(BUILTIN_DIR, tmp_path).get("custom-pathway")
    assert "local_welcome" in {m.id for m in pathway.resolved_modules}
    assert "fire_safety" in {m.id for m in pathway.resolved_modules}


def test_duplicate_id_and_version_rejected(tmp_path: Path) -> None:
    write(tmp_path, "copy.yaml", builtin_yaml("hiv"))
    assert refused(tmp_path) == "copy.yaml: pathway hiv version 1 is also defined in the built-in pathways"


def test_not_a_mapping_and_broken_yaml_rejected(tmp_path: Path) -> None:
    write(tmp_path, "list.yaml", "- just\n- a list\n")
    assert refused(tmp_path) == "list.yaml: a pathway file must be a mapping"
    (tmp_path / "list.yaml").unlink()
    write(tmp_path, "broken.yaml", "id: [unclosed\n")
    assert refused(tmp_path).startswith("broken.yaml: cannot read pathway file: ")
    # (`refused` checked that the message names the line, as for every problem in a pathway file)


def test_missing_directory_rejected(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        PathwayRegistry.from_directories(BUILTIN_DIR, tmp_path / "nowhere")


# Versions


def test_a_second_version_becomes_the_latest_and_the_old_stays_retrievable(tmp_path: Path) -> None:
    data = builtin_yaml("adult-community-mental-health")
    data.update(version=2, title="Adult community mental health (2027)")
    data["probation"]["months"] = 9
    write(tmp_path, "adult-community-mental-health-v2.yaml", data)
    registry = PathwayRegistry.from_directories(BUILTIN_DIR, tmp_path)

    latest = registry.get("adult-community-mental-health")
    assert (latest.version, latest.probation.months) == (2, 9)
    old = registry.get("adult-community-mental-health", 1)
    assert (old.version, old.probation.months) == (1, 6)
    assert old == builtin_registry().get("adult-community-mental-health")

    assert registry.ids() == builtin_registry().ids()  # still one pathway id
    assert latest in registry.latest() and old not in registry.latest()
    keys = [p.key for p in registry.all()]
    assert ("adult-community-mental-health", 1) in keys and ("adult-community-mental-health", 2) in keys
    assert keys == sorted(keys)

"""flows/deployments.py (`peerpath serve`, one machine) and deployments/prefect.yaml (a work pool,
many machines) declare the same deployments: same flows, names, entrypoints, limits, schedules.

`prefect` and `flows` are imported inside the tests: tests/flows/conftest.py sets PREFECT_HOME
and the telemetry switches first.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PREFECT_YAML = ROOT / "deployments" / "prefect.yaml"
LONDON = "Europe/London"

# (flow name, deployment name, entrypoint) -> (concurrency limit, (cron, timezone, active)...): what must hold in both places.
Key = tuple[str, str, str]
Spec = tuple[
    int | None, tuple[tuple[str, str, bool, str], ...]
]  # (cron, timezone, active, parameters as JSON)


def _entrypoint(flow: Any) -> str:
    return f"{flow.fn.__module__.replace('.', '/')}.py:{flow.fn.__name__}"


def _flow_at(entrypoint: str) -> Any:
    path, _, name = entrypoint.partition(":")
    assert path.endswith(".py") and (ROOT / path).is_file(), f"{entrypoint}: no such file"
    return getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), name)


def python_deployments() -> dict[Key, Spec]:
    from flows.deployments import DEPLOYMENTS

    found: dict[Key, Spec] = {}
    for flow, name, schedule, limit in DEPLOYMENTS:
        key = (flow.name, name, _entrypoint(flow))
        assert key not in found, f"{key} declared twice in flows/deployments.py"
        crons = (
            () if schedule is None
            else ((schedule.cron, schedule.timezone, schedule.active, json.dumps(schedule.parameters, sort_keys=True)),)
        )  # fmt: skip
        found[key] = (limit, crons)
    return found


def yaml_document() -> dict[str, Any]:
    document = yaml.safe_load(PREFECT_YAML.read_text())  # resolves the &anchors and <<: merge keys
    assert isinstance(document, dict)
    return document


def yaml_deployments() -> dict[Key, Spec]:
    from prefect import Flow

    found: dict[Key, Spec] = {}
    for entry in yaml_document()["deployments"]:
        flow = _flow_at(entry["entrypoint"])
        assert isinstance(flow, Flow), f"{entry['entrypoint']} is not a Prefect flow"
        key = (flow.name, entry["name"], entry["entrypoint"])
        assert key not in found, f"{key} declared twice in prefect.yaml"
        crons = tuple(
            (
                s["cron"],
                s.get("timezone"),
                s.get("active", True),
                json.dumps(s.get("parameters", {}), sort_keys=True),
            )
            for s in entry.get("schedules") or []
        )
        assert all(
            set(s) <= {"cron", "timezone", "active", "day_or", "parameters"}
            for s in entry.get("schedules") or []
        ), entry
        found[key] = (entry.get("concurrency_limit"), crons)
    return found


def test_the_yaml_merge_keys_give_every_deployment_the_work_pool_and_tags() -> None:
    for entry in yaml_document()["deployments"]:
        assert "<<" not in entry, "merge key not resolved"
        assert entry["work_pool"]["name"] == "peerpath", entry
        assert "peerpath" in entry["tags"], entry


def test_both_files_declare_the_same_deployments() -> None:
    python, yml = python_deployments(), yaml_deployments()
    assert sorted(python) == sorted(yml), (
        f"only in flows/deployments.py: {sorted(set(python) - set(yml))}; "
        f"only in prefect.yaml: {sorted(set(yml) - set(python))}"
    )
    assert len(python) == 17


def test_both_files_declare_the_same_concurrency_limits_and_schedules() -> None:
    python, yml = python_deployments(), yaml_deployments()
    for key in python:
        assert python[key] == yml.get(key), (
            f"{key}: flows/deployments.py {python[key]} vs prefect.yaml {yml.get(key)}"
        )


def test_the_nightly_sweep_runs_one_at_a_time_at_half_past_two_london_time() -> None:
    nightly = ("nightly-sweep", "nightly", "flows/sweep.py:nightly_sweep")
    for declared in (python_deployments(), yaml_deployments()):
        assert declared[nightly] == (1, (("30 2 * * *", LONDON, True, '{"options": {"acting_for": "*"}}'),))
        # the scale-out alternative has the same schedule, inactive until an operator swaps them, and runs alone
        assert declared[("sweep-by-organisation", "nightly", "flows/sweep.py:sweep_by_organisation")] == (
            1,
            (("30 2 * * *", LONDON, False, '{"acting_for": "*"}'),),
        )


def test_the_yaml_descriptions_match_the_flows_docstrings() -> None:
    for entry in yaml_document()["deployments"]:
        if "description" in entry:
            flow = _flow_at(entry["entrypoint"])
            assert entry["description"] == (flow.__doc__ or "").strip().splitlines()[0]


def _hours(field: str) -> set[int] | None:
    """The hours a cron hour field fires in; None for every hour (`*`, `*/1`)."""
    if field in ("*", "*/1"):
        return None
    hours: set[int] = set()
    for part in field.split(","):
        base, _, step = part.partition("/")
        if base == "*":
            lo, hi = 0, 23
        elif "-" in base:
            lo, hi = (int(x) for x in base.split("-"))
        else:
            lo = int(base)
            hi = 23 if step else lo  # "1/12": from 01:00, every 12 hours
        hours.update(range(lo, hi + 1, int(step or 1)))
    return hours


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("2", {2}),
        ("1,13", {1, 13}),
        ("0-3", {0, 1, 2, 3}),
        ("*/6", {0, 6, 12, 18}),
        ("1/12", {1, 13}),
        ("*", None),
    ],
)
def test_the_hour_field_parser(field: str, expected: set[int] | None) -> None:
    assert _hours(field) == expected


def test_every_schedule_is_london_time_and_avoids_the_hour_the_clocks_change() -> None:
    """01:00-02:00 London time is skipped in March and repeated in October: a daily or weekly run
    there would be missed or doubled. Schedules that fire every hour or more often (the outbox
    dispatcher, every five minutes) are exempt: Prefect treats those as intervals across the
    change, and a run more or less of an idempotent dispatcher is harmless."""
    crons = [
        cron for spec in (*python_deployments().values(), *yaml_deployments().values()) for cron in spec[1]
    ]
    assert (
        len(crons) == 10
    )  # nightly, its inactive scale-out twin, every-5-minutes, two weeklies: in each file
    for cron, timezone, _active, _parameters in crons:
        assert timezone == LONDON, cron
        minute, hour, *_ = cron.split()
        hours = _hours(hour)
        if hours is not None:
            assert 1 not in hours, f"{cron!r} fires between 01:00 and 02:00 London time"
            assert all(0 <= h <= 23 for h in hours), cron


def test_runner_deployments_build_without_a_server() -> None:
    import prefect.settings

    from flows.deployments import DEPLOYMENTS, runner_deployments

    unreachable = "http://127.0.0.1:9/api"  # nothing listens on the discard port
    with prefect.settings.temporary_settings(updates={prefect.settings.PREFECT_API_URL: unreachable}):
        built = runner_deployments()
    assert len(built) == len(DEPLOYMENTS)
    for deployment, (flow, name, schedule, limit) in zip(built, DEPLOYMENTS, strict=True):
        assert (deployment.flow_name, deployment.name) == (flow.name, name)
        assert deployment.entrypoint == _entrypoint(flow)
        got_limit = getattr(deployment.concurrency_limit, "limit", deployment.concurrency_limit)
        assert got_limit == limit
        crons = [(s.schedule.cron, s.schedule.timezone) for s in deployment.schedules or []]
        assert crons == ([] if schedule is None else [(schedule.cron, schedule.timezone)])
        assert "peerpath" in deployment.tags
        assert deployment.description, f"{flow.name}/{name} has no description for the UI"

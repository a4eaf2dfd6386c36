"""`peerpath serve` end to end: a coordinator's action goes through the Prefect REST API exactly as the
UI sends it (POST /deployments/{id}/create_flow_run), serve's runner picks it up, and the journey
changes in peerpath's database. A refused action ends Failed with the domain's one-line reason.
Every coordinator form says whom the coordinator acts for (`acting_for`: an organisation code, or `*`
for the programme lead); acting for a partner reaches only the journeys that partner employs or hosts.

Timings are printed, never asserted (the benchmarks measure speed).
"""

from __future__ import annotations

import time
from typing import Any

from tests.e2e.prefect_server import (
    Served,
    check_status,
    deployment,
    journey_with_open_check,
    journeys,
    post_api,
    served_fixture,  # noqa: F401 - registers the `served` fixture
    show,
    wait_for_run,
)

ACTING_AS = "Sam Okafor-Reyes (coordinator, NMH)"  # every form says who fills it: no default


def create_run_as_the_ui_does(served: Served, name: str, parameters: dict[str, Any]) -> tuple[str, float]:
    """What the UI's custom-run form posts on Submit: the parameters, schema enforced, scheduled now."""
    dep = deployment(served.api_url, name)
    body = {
        "parameters": parameters,
        "enforce_parameter_schema": True,
        "state": {"type": "SCHEDULED", "message": ""},
        "tags": dep["tags"],
    }
    clicked = time.monotonic()
    response = post_api(f"{served.api_url}/deployments/{dep['id']}/create_flow_run", json=body, timeout=10)
    assert response.status_code == 201, f"{response.status_code} {response.text}\n{served.log_tail()}"
    return response.json()["id"], clicked


def test_a_coordinators_run_records_the_check(served: Served) -> None:
    ref = journey_with_open_check(served.database_url, "dbs")
    before = show(served.database_url, ref)

    run_id, clicked = create_run_as_the_ui_does(
        served,
        "record-check-result/coordinator",
        # the journey's employer records its own candidate's check (a partner acting for itself)
        {
            "check": {
                "journey": ref,
                "check": "dbs",
                "status": "cleared",
                "acting_as": ACTING_AS,
                "acting_for": before["employer"],
            }
        },
    )
    run = wait_for_run(served, run_id)
    print(
        f"\nrecord-check-result {ref} dbs cleared: click to {run['state_type']}"
        f" in {time.monotonic() - clicked:.1f} s"
    )

    assert run["state_type"] == "COMPLETED", f"{run['state']}\n{served.log_tail()}"
    after = show(served.database_url, ref)
    assert check_status(after, "dbs") == "cleared"
    assert after["timeline"][-1]["what"] == "check dbs: cleared"
    assert after["timeline"][-1]["actor"] == ACTING_AS, "who filled the form, never a default"
    others = [c for c in after["checks"] if c["check"] != "dbs"]
    assert others == [c for c in before["checks"] if c["check"] != "dbs"]
    assert after["state"] == "checks"


def test_a_refused_action_ends_failed_with_the_one_line_reason(served: Served) -> None:
    ref = journeys(served.database_url, "applied")[0]["ref"]
    before = show(served.database_url, ref)

    run_id, clicked = create_run_as_the_ui_does(
        served,
        "apply-trigger/coordinator",
        {"action": {"journey": ref, "trigger": "clear", "acting_as": ACTING_AS, "acting_for": "*"}},
    )
    run = wait_for_run(served, run_id)
    print(
        f"\napply-trigger {ref} clear (refused): click to {run['state_type']}"
        f" in {time.monotonic() - clicked:.1f} s"
    )

    assert run["state_type"] == "FAILED", f"{run['state']}\n{served.log_tail()}"
    assert run["state"]["name"] == "Refused", "a refusal reads apart from a crash"
    message = run["state"]["message"]
    assert message.startswith(f"cannot clear {ref}: not allowed from applied (allowed: "), message
    assert "\n" not in message and "Traceback" not in message
    after = show(served.database_url, ref)
    assert (after["state"], after["version"], after["timeline"]) == (
        before["state"],
        before["version"],
        before["timeline"],
    )


def test_a_form_that_breaks_the_parameter_schema_creates_no_run(served: Served) -> None:
    """The form's schema is enforced by the API too: no run is created for an unknown check kind."""
    dep = deployment(served.api_url, "record-check-result/coordinator")
    count = post_api(f"{served.api_url}/flow_runs/count", json={}, timeout=10).json()
    response = post_api(
        f"{served.api_url}/deployments/{dep['id']}/create_flow_run",
        json={"parameters": {"check": {"journey": "J-000001", "check": "horoscope", "status": "cleared",
                                       "acting_as": ACTING_AS, "acting_for": "*"}},
              "enforce_parameter_schema": True},
        timeout=10,
    )  # fmt: skip
    assert response.status_code == 409, f"{response.status_code} {response.text}"
    assert "horoscope" in response.text
    assert post_api(f"{served.api_url}/flow_runs/count", json={}, timeout=10).json() == count


def test_a_form_that_does_not_say_whom_the_coordinator_acts_for_creates_no_run(served: Served) -> None:
    dep = deployment(served.api_url, "apply-trigger/coordinator")
    count = post_api(f"{served.api_url}/flow_runs/count", json={}, timeout=10).json()
    for acting_for in (None, "", "MIND N"):
        action = {"journey": "J-000001", "trigger": "shortlist", "acting_as": ACTING_AS} | (
            {} if acting_for is None else {"acting_for": acting_for}
        )
        response = post_api(
            f"{served.api_url}/deployments/{dep['id']}/create_flow_run",
            json={"parameters": {"action": action}, "enforce_parameter_schema": True},
            timeout=10,
        )
        assert response.status_code == 409, (
            f"acting_for={acting_for!r}: {response.status_code} {response.text}"
        )
        assert "acting_for" in response.text, response.text
    assert post_api(f"{served.api_url}/flow_runs/count", json={}, timeout=10).json() == count


def test_acting_for_a_partner_on_another_organisations_journey_ends_failed_and_changes_nothing(
    served: Served,
) -> None:
    ref = journeys(served.database_url, "applied")[-1]["ref"]
    before = show(served.database_url, ref)
    assert before["team"] is None  # not placed: only its employer (and the programme lead) may touch it
    outsider = next(org for org in ("T1T", "HARBOUR", "POSV") if org != before["employer"])

    run_id, _ = create_run_as_the_ui_does(
        served,
        "apply-trigger/coordinator",
        {
            "action": {
                "journey": ref,
                "trigger": "shortlist",
                "acting_as": ACTING_AS,
                "acting_for": outsider.lower(),
            }
        },
    )
    run = wait_for_run(served, run_id)

    assert run["state_type"] == "FAILED", f"{run['state']}\n{served.log_tail()}"
    assert run["state"]["message"] == f"{ref} is not a journey that {outsider} employs or hosts"
    after = show(served.database_url, ref)
    assert (after["state"], after["version"], after["timeline"]) == (
        before["state"],
        before["version"],
        before["timeline"],
    )

"""Every deployment, for `peerpath serve` (one machine). deployments/prefect.yaml declares the same
deployments for a work pool (many machines); a test keeps the two in step."""

from __future__ import annotations

from typing import Any

from prefect.schedules import Cron

from flows import actions, reports, sweep

LONDON = "Europe/London"
# Programme jobs run by the schedule act for the programme lead (a person starting one says so too).
AS_LEAD = {"options": {"acting_for": "*"}}
LEAD = {"acting_for": "*"}
# (flow, deployment name, schedule or None, concurrency limit or None)
DEPLOYMENTS: list[tuple[Any, str, Any, int | None]] = [
    # 02:30, not 01:00-02:00, which is skipped or repeated when the clocks change.
    (sweep.nightly_sweep, "nightly", Cron("30 2 * * *", timezone=LONDON, parameters=AS_LEAD), 1),
    (sweep.nightly_sweep, "partition", None, None),  # one organisation's share, for sweep-by-organisation
    # Scale out: activate this schedule and pause nightly-sweep/nightly's.
    (
        sweep.sweep_by_organisation,
        "nightly",
        Cron("30 2 * * *", timezone=LONDON, active=False, parameters=LEAD),
        1,
    ),
    (sweep.dispatch_outbox, "every-5-minutes", Cron("*/5 * * * *", timezone=LONDON), 1),
    (sweep.partner_digest, "weekly", Cron("0 8 * * 1", timezone=LONDON, parameters=LEAD), 1),
    (reports.programme_report, "weekly", Cron("30 7 * * 1", timezone=LONDON, parameters=AS_LEAD), 1),
    (sweep.preview_sweep, "coordinator", None, None),
    (actions.register_applicant, "coordinator", None, None),
    (actions.record_check, "coordinator", None, None),
    (actions.apply_trigger, "coordinator", None, None),
    (actions.place_in_team, "coordinator", None, None),
    (actions.record_training, "coordinator", None, None),
    (actions.record_supervision, "coordinator", None, None),
    (actions.record_review, "coordinator", None, None),
    (actions.pause_or_resume, "coordinator", None, None),
    (actions.withdraw, "coordinator", None, None),
    (actions.import_applicants, "coordinator", None, None),
]


def runner_deployments() -> list[Any]:
    return [
        flow.to_deployment(
            name=name,
            schedule=schedule,
            concurrency_limit=limit,
            tags=["peerpath"],
            description=(flow.__doc__ or "").strip().splitlines()[0] if flow.__doc__ else None,
        )
        for flow, name, schedule, limit in DEPLOYMENTS
    ]

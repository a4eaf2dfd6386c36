"""Nothing personal left behind in Prefect: a run's parameters (names, emails, whole CSVs), logs and
artifacts are kept by Prefect verbatim, so the retention job deletes the runs older than
PEERPATH_RETENTION_PREFECT_RUN_DAYS (default 30) through the Prefect client. Deleting a run makes the
server delete its logs; its artifacts are deleted here first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

PAGE = 200


async def forget_flow_runs(
    older_than_days: int, *, now: datetime | None = None, keep: UUID | None = None
) -> int:
    """Delete every flow run due to start more than `older_than_days` ago (but `keep`, the running
    one), with its artifacts. Returns how many runs were deleted."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterId,
    )

    cutoff = (now or datetime.now(UTC)) - timedelta(days=older_than_days)
    runs_filter = FlowRunFilter(
        # pydantic takes an aware datetime for Prefect's DateTime (pendulum on Python 3.11)
        expected_start_time=FlowRunFilterExpectedStartTime(before_=cutoff),  # type: ignore[arg-type]
        id=FlowRunFilterId(not_any_=[keep]) if keep else None,
    )
    deleted = 0
    async with get_client() as client:
        while runs := await client.read_flow_runs(flow_run_filter=runs_filter, limit=PAGE):
            ids = [run.id for run in runs]
            for artifact in await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=ids))
            ):
                await client.delete_artifact(artifact.id)
            for run_id in ids:
                await client.delete_flow_run(run_id)
            deleted += len(ids)
    return deleted


async def forget_runs_naming(needles: list[str]) -> int:
    """An erasure: delete every flow run whose parameters name the person (their email, their full
    name, the references of their journeys; compared without case), with its artifacts. Returns how
    many runs were deleted. Prefect cannot search parameters, so every run is read, a page at a time."""
    import json

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
    from prefect.client.schemas.sorting import FlowRunSort

    wanted = [n.casefold() for n in needles if n and n.strip()]
    if not wanted:
        return 0
    doomed = []
    async with get_client() as client:
        offset = 0
        while runs := await client.read_flow_runs(sort=FlowRunSort.ID_DESC, limit=PAGE, offset=offset):
            offset += len(runs)
            for run in runs:
                text = json.dumps(run.parameters, default=str).casefold()
                if any(n in text for n in wanted):
                    doomed.append(run.id)
        for start in range(0, len(doomed), PAGE):
            ids = doomed[start : start + PAGE]
            for artifact in await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=ids))
            ):
                await client.delete_artifact(artifact.id)
            for run_id in ids:
                await client.delete_flow_run(run_id)
    return len(doomed)

"""The `programme-report` flow against a real Prefect API (a `prefect_test_harness` for this module):
run as a deployment runs it, judged by its state, its artifacts and the HTML file it writes.

Prefect reads its settings when first imported: PREFECT_HOME and the telemetry switches are set
before anything here imports it (prefect and flows are imported inside the fixture and the test).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lifecycle.pathways import builtin_registry
from lifecycle.persistence.database import make_engine
from lifecycle.persistence.uow import UnitOfWork
from tests.insight.conftest import AS_OF, build
from tests.prefect_harness import prefect_harness


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    home = tmp_path_factory.mktemp("prefect-home")
    with prefect_harness(home):
        yield


def _artifacts(flow_run_id: Any) -> dict[str, Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    async def read() -> list[Any]:
        async with get_client() as client:
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
            )

    return {a.key: a for a in asyncio.run(read())}


def test_programme_report_flow(prefect_api: None, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from flows.reports import ReportOptions, programme_report

    engine = make_engine(sqlite_url)
    refs = build(UnitOfWork(engine, builtin_registry())).refs
    engine.dispose()
    monkeypatch.setenv("PEERPATH_DATABASE_URL", sqlite_url)
    monkeypatch.chdir(tmp_path)
    state = asyncio.run(
        programme_report(ReportOptions(acting_for="*", as_of=AS_OF, simulations=100), return_state=True)
    )
    assert state.is_completed(), state
    result = state.result()
    path = Path(result["report"])
    assert path == tmp_path / "var" / "reports" / f"programme-report-all-{AS_OF}.html" and path.exists()
    assert any(line.startswith("time to hire: median 5.7 weeks") for line in result["headline"])
    found = _artifacts(state.state_details.flow_run_id)
    assert {"programme-report-all", "report-funnel-all", "report-ball-all", "report-stalled-all",
            "report-forecast-all", "report-grow-all"} <= set(found)  # fmt: skip
    assert str(path) in found["programme-report-all"].data
    stalled = json.loads(found["report-stalled-all"].data)
    assert [r["journey"] for r in stalled] == [refs["I"], refs["E"]]
    everything = " ".join(str(a.data) for a in found.values())
    assert "Zebedee" not in everything and "@" not in everything  # no names, no email addresses

    # A partner's report: only its journeys, and an unknown organisation fails with one line.
    state = asyncio.run(programme_report(ReportOptions(acting_for="*", organisation="RVH", as_of=AS_OF, simulations=100),
                                         return_state=True))  # fmt: skip
    assert state.is_completed() and state.result()["organisation"] == "RVH"
    state = asyncio.run(
        programme_report(ReportOptions(acting_for="*", organisation="NOPE", as_of=AS_OF), return_state=True)
    )
    assert state.is_failed() and state.message == "unknown organisation 'NOPE'"

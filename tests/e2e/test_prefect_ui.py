"""The Prefect UI in a real browser: a coordinator opens the UI that `peerpath serve` starts, finds the
deployment record-check-result / coordinator, fills its custom-run form (journey, check = dbs,
status = cleared, acting as, and acting for: the journey's employer, a partner acting for itself)
and submits it; the run completes and the journey's DBS check is
cleared in peerpath's database.

The browser is Debian's chromium (/usr/bin/chromium) driven by Playwright's sync API; no browser
is ever downloaded (never `playwright install`). Without /usr/bin/chromium the browser test skips
on a developer's machine and fails under CI=true (.ci/run installs chromium when it is missing).
The UI is Prefect 3.9's default one for a browser with no saved preference (the "V2" UI under
/v2); selectors use roles, labels and visible text only.

The browser never leaves 127.0.0.1: requests elsewhere (the V2 UI asks Amplitude for a
session-replay configuration, even with analytics off) are aborted, as they would fail offline.

Workaround, pinned below: on any port but 4200 the UI served by `peerpath serve --port P` is told
(GET /ui-settings) that its API is http://127.0.0.1:4200/api, and shows "Unable to connect to
Prefect server". The browser test rewrites that one answer to the API the server really has, so
the rest of the UI is still tested; `test_the_ui_is_told_the_api_it_is_served_with` fails until
serve is fixed.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.prefect_server import (
    Served,
    check_status,
    deployment,
    journey_with_open_check,
    served_fixture,  # noqa: F401 - registers the `served` fixture
    show,
    wait_for_run,
)

try:
    from playwright.sync_api import Browser, Page, Route, expect, sync_playwright
except ImportError:  # pragma: no cover - the dev dependency group installs it
    sync_playwright = None  # type: ignore[assignment]

CHROMIUM = Path("/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
UI_TIMEOUT_MS = 20_000  # any one step in the UI (page loads, clicks, a select opening)
ACTING_AS = "Asha Patel (coordinator, UI test)"


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"the Prefect UI test must run in CI, but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if sync_playwright is None:
        _unavailable("the playwright package is not installed (`make venv`)")
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


def _offline_and_pointed_at(page: Page, served: Served) -> None:
    """Abort requests that leave 127.0.0.1; correct the API address in /ui-settings (see above)."""

    def abort(route: Route) -> None:
        route.abort()

    def ui_settings(route: Route) -> None:
        response = route.fetch()
        settings = response.json()
        if settings.get("api_url") != served.api_url:
            print(
                f"\n/ui-settings names {settings.get('api_url')!r}; the browser is given {served.api_url!r}"
            )
            settings["api_url"] = served.api_url
        route.fulfill(response=response, json=settings)

    page.context.route(lambda url: urlsplit(url).hostname not in {"127.0.0.1", "localhost"}, abort)
    page.context.route(lambda url: urlsplit(url).path == "/ui-settings", ui_settings)


@contextmanager
def screenshot_on_failure(page: Page, folder: Path) -> Iterator[None]:
    try:
        yield
    except BaseException:
        shot = folder / "failure.png"
        page.screenshot(path=shot, full_page=True, animations="disabled")
        print(
            f"\nthe page at {page.url} when the test failed: {shot}"
            f" (the filled form, if it got that far: {folder / 'filled-form.png'})"
        )
        raise


def test_a_coordinator_records_a_dbs_check_from_the_prefect_ui(
    browser: Browser, served: Served, tmp_path: Path
) -> None:
    ref = journey_with_open_check(served.database_url, "dbs", last=True)
    employer = show(served.database_url, ref)["employer"]
    dep = deployment(served.api_url, "record-check-result/coordinator")
    expect.set_options(timeout=UI_TIMEOUT_MS)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    _offline_and_pointed_at(page, served)
    try:
        with screenshot_on_failure(page, tmp_path):
            # 1. The UI's front page, then Deployments in the side navigation.
            page.goto(served.ui_url + "/")
            page.get_by_role("link", name="Deployments", exact=True).click()

            # 2. Search for the flow; wait until the list shows its deployment only, then open it.
            page.get_by_placeholder("Search deployments").fill("record-check-result")
            rows = page.get_by_role("row")
            expect(rows.filter(has_text="apply-trigger")).to_have_count(0)
            row = rows.filter(has_text="record-check-result")
            expect(row).to_have_count(1)
            row.get_by_role("link", name="coordinator", exact=True).click()
            page.wait_for_url(re.compile(rf"/deployments/deployment/{dep['id']}"))

            # 3. Run -> Custom run: the typed parameter form.
            page.get_by_role("button", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Custom run").click()
            page.wait_for_url(re.compile(rf"/deployments/deployment/{dep['id']}/run"))

            # 4. Fill it. The enums are select buttons labelled "Select <field title>": today the enum's
            #    class name (CheckKind, CheckStatus: see the pinned bug below), once fixed the field's title.
            page.get_by_role("textbox", name="Journey", exact=True).fill(ref)
            choose(page, re.compile(r"^Select (Check|CheckKind)$"), "dbs")
            choose(page, re.compile(r"^Select (Status|CheckStatus)$"), "cleared")
            page.get_by_role("textbox", name=re.compile(r"^Acting As", re.IGNORECASE)).fill(ACTING_AS)
            # Required, no default: whom the coordinator acts for (an organisation code, or * for the lead).
            page.get_by_role("textbox", name=re.compile(r"^Acting For", re.IGNORECASE)).fill(employer)
            expect(page.get_by_role("switch", name="Enforce Parameter Schema")).to_be_checked()
            page.screenshot(path=tmp_path / "filled-form.png", full_page=True, animations="disabled")

            # 5. Submit: the UI creates the flow run through the API.
            clicked = time.monotonic()
            with page.expect_response(
                lambda r: r.request.method == "POST" and r.url.endswith("/create_flow_run")
            ) as created:
                page.get_by_role("button", name="Submit", exact=True).click()
            assert created.value.status == 201, created.value.text()
            run: dict[str, Any] = created.value.json()
            posted = created.value.request.post_data_json
            assert posted is not None
            sent = posted["parameters"]["check"]
            filled = {
                "journey": ref, "check": "dbs", "status": "cleared", "acting_as": ACTING_AS, "acting_for": employer,
            }  # fmt: skip
            assert {name: sent.get(name) for name in filled} == filled, sent
            # Everything not filled in is left empty: no value (or, for plain text, an empty one).
            assert all(value in (None, "") for name, value in sent.items() if name not in filled), sent
            expect(page.get_by_text(f"{run['name']} scheduled to start now")).to_be_visible()

            # 6. serve's runner runs it: the journey's DBS check is cleared, by the coordinator in the form.
            finished = wait_for_run(served, run["id"])
            print(
                f"\nUI submit {ref} dbs cleared: click to {finished['state_type']}"
                f" in {time.monotonic() - clicked:.1f} s"
            )
            assert finished["state_type"] == "COMPLETED", f"{finished['state']}\n{served.log_tail()}"
            assert finished["state"]["message"] == f"{ref.upper()}: dbs cleared", "the run says what it did"
            after = show(served.database_url, ref)
            assert check_status(after, "dbs") == "cleared"
            assert (after["timeline"][-1]["what"], after["timeline"][-1]["actor"]) == (
                "check dbs: cleared",
                ACTING_AS,
            )

            # 7. The coordinator sees it: the run is listed on the deployment, and its page says Completed.
            page.reload()
            page.get_by_role("link", name=run["name"], exact=True).first.click()
            page.wait_for_url(re.compile(rf"/runs/flow-run/{run['id']}"))
            expect(page.get_by_text("Completed", exact=True).first).to_be_visible()
    finally:
        context.close()


def choose(page: Page, select: re.Pattern[str], option: str) -> None:
    """Open a select button of the parameter form and pick one option; check it shows the choice."""
    button = page.get_by_role("button", name=select)
    button.click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(button).to_have_text(option)


def test_the_ui_is_told_the_api_it_is_served_with(served: Served) -> None:
    settings = httpx.get(f"{served.ui_url}/ui-settings", timeout=10).json()
    assert settings["api_url"] == served.api_url


FORM_DEPLOYMENTS = [
    "register-applicant", "record-check-result", "apply-trigger", "place-in-team", "record-training",
    "record-supervision", "record-probation-review", "pause-or-resume", "withdraw", "import-applicants",
]  # fmt: skip


def test_every_coordinator_form_field_has_a_label(served: Served) -> None:
    unlabelled = []
    for flow in FORM_DEPLOYMENTS:
        schema = deployment(served.api_url, f"{flow}/coordinator")["parameter_openapi_schema"]
        for parameter in schema["properties"].values():
            model = schema["definitions"][parameter["$ref"].rsplit("/", 1)[-1]]
            unlabelled += [
                f"{flow}: {name}" for name, field in model["properties"].items() if "title" not in field
            ]
    assert unlabelled == []

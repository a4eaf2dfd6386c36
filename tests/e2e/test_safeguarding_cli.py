"""Safeguarding from the command line: what `show` says about a DBS check, refusals in one line,
contacts and closure days kept up to date, reviews skipped or recommended, capacity, and
`pathways check` on a folder with several bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from lifecycle.pathways import BUILTIN_DIR
from tests.e2e.test_cli import cli, setup_programme  # noqa: F401 - the fixture and the set-up

TO_CHECKS = ("shortlist", "schedule_interview", "record_interview", "offer", "accept_offer")


def one_error(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err[len("error: ") :].strip()


def test_show_displays_what_a_dbs_check_was_recorded_as(cli) -> None:  # noqa: F811
    ref = setup_programme(cli)
    for trigger in TO_CHECKS:
        assert cli("trigger", ref, trigger)[0] == 0
    code, _, err = cli("check", ref, "dbs", "cleared", "--dbs-level", "basic")
    assert code == 2
    assert one_error(err) == (
        "DBS basic recorded, adult-community-mental-health needs enhanced with the adults' barred list"
    )
    code, _, err = cli("check", ref, "dbs", "waiting", "--waiting-on", "occupational_health")
    assert code == 2 and one_error(err).startswith("the DBS check cannot wait on occupational health")
    code, _, err = cli("check", ref, "dbs", "cleared")
    assert code == 2 and one_error(err).startswith(
        "recording DBS cleared needs the level and workforce checked"
    )
    assert cli("check", ref, "dbs", "waiting", "--on", "2026-11-02", "--dbs-level", "enhanced_adults_barred",
               "--workforce", "adult")[0] == 0  # fmt: skip
    assert cli("check", ref, "dbs", "cleared", "--on", "2026-11-20")[0] == 0  # the level applied for
    assert cli("check", ref, "dbs", "cleared", "--update-service")[0] == 0
    shown = json.loads(cli("show", ref, "--json")[1])
    dbs = next(c for c in shown["checks"] if c["check"] == "dbs")
    assert dbs["dbs"] == {
        "level": "enhanced_adults_barred", "barred_lists": ["adults"], "workforce": "adult",
        "certificate_date": "2026-11-20", "update_service": True,
    }  # fmt: skip
    out = cli("show", ref)[1]
    assert "DBS: enhanced with the adults' barred list, for the adult workforce; certificate 2026-11-20; " \
           "Update Service yes" in " ".join(out.split())  # fmt: skip


def test_contacts_and_closure_days_are_kept_up_to_date(cli) -> None:  # noqa: F811
    setup_programme(cli)
    assert (
        cli("org", "contact-replace", "MIND-N", "hr", "hr@mind-n.example.org", "--name", "Rae Hartley")[0]
        == 0
    )
    orgs = {o["code"]: o for o in json.loads(cli("org", "list", "--json")[1])}
    assert orgs["MIND-N"]["contacts"] == [
        {"role": "hr", "name": "Rae Hartley", "email": "hr@mind-n.example.org"}
    ]
    assert cli("org", "contact-remove", "MIND-N", "hr", "hr@mind-n.example.org")[0] == 0
    code, _, err = cli("org", "contact-remove", "MIND-N", "hr", "hr@mind-n.example.org")
    assert code == 2 and one_error(err) == "MIND-N has no hr contact hr@mind-n.example.org"
    assert cli("org", "closure", "MIND-N", "2026-12-29", "2026-12-30")[0] == 0
    assert json.loads(cli("org", "closures", "MIND-N", "--json")[1]) == ["2026-12-29", "2026-12-30"]
    assert (
        cli("org", "closure-remove", "MIND-N", "2026-12-29")[1].strip() == "MIND-N: 1 closure day(s) removed"
    )
    assert json.loads(cli("org", "closures", "MIND-N", "--json")[1]) == ["2026-12-30"]
    code, _, err = cli("--as", "Someone@NMH", "org", "closure-remove", "MIND-N", "2026-12-30")
    assert code == 2 and "NMH cannot remove closure days for MIND-N" in one_error(err)


def test_a_team_s_supervised_places_are_shown_and_set(cli) -> None:  # noqa: F811
    setup_programme(cli)
    assert cli("team", "ready", "CMHT-N", "--places", "2")[0] == 0
    out = cli("team", "list")[1]
    assert "0 of 2" in out
    code, _, err = cli("team", "ready", "CMHT-N", "--places", "99")
    assert code == 2 and one_error(err) == "supervised places must be between 0 and 50, not 99"


def test_a_review_can_be_skipped_only_with_an_approver_and_a_reason(cli) -> None:  # noqa: F811
    setup_programme(cli)
    code, _, err = cli("review", "J-000001", "first", "skip")
    assert code == 2 and one_error(err) == (
        "skipping a review needs the named approver (--approver) and a reason (--reason)"
    )


def _write(folder: Path, name: str, data: object) -> None:
    (folder / name).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def test_pathways_check_lists_every_problem_of_a_folder(cli, tmp_path: Path) -> None:  # noqa: F811
    hiv = yaml.safe_load((BUILTIN_DIR / "hiv.yaml").read_text())
    _write(tmp_path, "good.yaml", dict(hiv, id="eating-disorders"))
    code, out, err = cli("pathways", "check", str(tmp_path))
    assert (code, out.strip(), err) == (0, f"1 pathway(s) in {tmp_path}: eating-disorders v1", "")
    _write(tmp_path, "two.yaml", dict(hiv, id="two", version=0, colour="blue"))
    _write(tmp_path, "copy.yaml", hiv)
    _write(tmp_path, "same.yaml", dict(hiv, id="eating-disorders"))  # good.yaml's version again
    code, out, err = cli("pathways", "check", str(tmp_path))
    lines = err.splitlines()
    assert code == 2 and out == ""
    assert len(lines) == 4 and all(line.startswith("error: ") for line in lines)
    assert "error: same.yaml:1: pathway eating-disorders version 1 is also defined in good.yaml" in lines
    assert any(line.startswith("error: two.yaml:") and "version: Input should be" in line for line in lines)
    assert any(line.startswith("error: two.yaml:") and "colour: Extra inputs" in line for line in lines)
    assert "error: copy.yaml:1: pathway hiv version 1 is also a built-in pathway" in lines


@pytest.mark.parametrize("edit", [False, True])
def test_pathways_check_reports_an_edit_to_a_version_in_use(cli, tmp_path: Path, edit: bool) -> None:  # noqa: F811
    folder = tmp_path / "pathways"
    folder.mkdir()
    local = dict(yaml.safe_load((BUILTIN_DIR / "hiv.yaml").read_text()), id="eating-disorders")
    _write(folder, "eating-disorders.yaml", local)
    setup_programme(cli)
    import os

    os.environ["PEERPATH_PATHWAYS_DIR"] = str(folder)
    try:
        code, _, err = cli("applicant", "add", "Bo", "Ash", "bo@example.com", "--pathway", "eating-disorders",
                           "--org", "MIND-N")  # fmt: skip
        assert code == 0, err
        if edit:
            _write(folder, "eating-disorders.yaml", dict(local, title="Changed in place"))
        code, _, err = cli("pathways", "check", str(folder))
    finally:
        del os.environ["PEERPATH_PATHWAYS_DIR"]
    if edit:
        assert code == 2
        assert one_error(err) == (
            "eating-disorders.yaml:1: pathway eating-disorders version 1 differs from the definition journeys "
            "on it use: give the change a new version number"
        )
    else:
        assert code == 0

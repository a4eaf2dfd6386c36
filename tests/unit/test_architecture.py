"""The dependency direction: lifecycle stays pure; the CLI stays light."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold() -> None:
    """import-linter: no Prefect, SMTP or SQLAlchemy in lifecycle's pure modules."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_cli_help_imports_neither_prefect_nor_sqlalchemy() -> None:
    code = (
        "import sys; from peerpath.cli import main; rc = main(['--help']);"
        "print(sorted(m for m in ('prefect', 'sqlalchemy', 'aiosmtplib') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_readme_state_diagram_is_current() -> None:
    from lifecycle.machine import mermaid_diagram
    from peerpath.readme_diagram import README, readme_copy

    copy = readme_copy(README.read_text(encoding="utf-8"))
    assert copy is not None, "README.md lost its state-diagram block"
    assert copy == mermaid_diagram(), "README.md's state diagram is stale: run `make diagram`"

"""What every command module shares: the per-invocation context (settings, the unit of work, the
actor), output (tables, `--json`), dates, and `fail` with the exit codes.

User mistakes print one line (`error: ...`) and exit 2; a conflict with a concurrent edit exits 3;
an unreachable database exits 1. Imports stay light: rich and the domain load on first use.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, NoReturn

import typer

if TYPE_CHECKING:
    from commands.actions import Command
    from commands.handlers import Outcome
    from lifecycle.persistence.uow import UnitOfWork
    from lifecycle.service import Actor
    from peerpath.settings import Settings

EXIT_UNREACHABLE = 1
EXIT_USER_ERROR = 2
EXIT_CONFLICT = 3


class Context:
    """Per-invocation state: settings are read once, the unit of work built on first use."""

    def __init__(self, actor: str | None):
        self._actor = actor
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from peerpath.settings import load_settings

            overrides = {"actor": self._actor} if self._actor else {}
            self._settings = load_settings(**overrides)  # a bad PEERPATH_* value: one line, exit 2
        return self._settings

    def uow(self, *, check_schema: bool = True) -> UnitOfWork:
        from peerpath import app as root

        return root.unit_of_work(self.settings, check_schema=check_schema)

    @property
    def actor(self) -> Actor:
        from peerpath import app as root

        return root.actor(self.settings)

    def scope(self, org: str | None) -> str | None:
        """The organisation a listing is limited to: the actor's own, or `--org` for the programme lead."""
        from lifecycle.errors import NotPermitted
        from lifecycle.validation import clean_code

        own = self.actor.scope
        wanted = clean_code(org, "--org") if org else None
        if own is not None and wanted not in (None, own):
            raise NotPermitted(f"{own} can only see its own journeys, not {wanted}'s")
        return own or wanted

    def handle(self, command: Command, **options: Any) -> Outcome:
        """Run a coordinator action as this invocation's actor (commands.handlers)."""
        from commands.handlers import handle

        return handle(self.uow(), self.actor, command, **options)

    def show(self, command: Command) -> None:
        """Run a coordinator action and print its confirmation."""
        typer.echo(self.handle(command).message)


_current = Context(None)


def start(actor: str | None) -> None:
    """A new invocation (the root callback): `--as`, or PEERPATH_ACTOR."""
    global _current
    _current = Context(actor)


def context() -> Context:
    return _current


def rich_console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 200)


def print_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    from rich.table import Table

    shown = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        shown.add_column(column)
    for row in rows:
        shown.add_row(*("" if v is None else str(v) for v in row))
    rich_console().print(shown)


def optional_date(value: str | None, what: str) -> date | None:
    from lifecycle.validation import parse_date

    return parse_date(value, what) if value else None


def fail(message: str, code: int = EXIT_USER_ERROR) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)

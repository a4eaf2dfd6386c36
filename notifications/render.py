"""Pure rendering of notification templates: a name and a `MessageContext` in, subject, text and HTML out.

Templates live in `notifications/templates/` as `NAME.txt.j2` and `NAME.html.j2`, each extending a
shared layout (`_layout.txt.j2`, `_layout.html.j2`) and defining `{% block subject %}` and
`{% block body %}`. They see only the fields of `MessageContext` (rendered from `model_dump()`), a
reference to anything else fails (`StrictUndefined`), and only the HTML part is autoescaped.
No I/O happens here beyond reading the templates; sending is someone else's job.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape

from lifecycle.errors import InvalidInput, NotFound
from notifications.context import MessageContext

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
TEXT_SUFFIX = ".txt.j2"
HTML_SUFFIX = ".html.j2"

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


def _london() -> Any:
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("Europe/London")
    except Exception:  # noqa: BLE001 - no tz database: show UTC rather than fail
        return UTC


def longdate(value: date) -> str:
    """`Monday 3 March 2025`, whatever the machine's locale."""
    if not isinstance(value, date):
        raise TypeError(f"longdate needs a date, not {type(value).__name__}")
    return f"{_DAYS[value.weekday()]} {value.day} {_MONTHS[value.month - 1]} {value.year}"


def when(value: datetime) -> str:
    """`Monday 3 March 2025 at 2:30pm`, in UK time (Europe/London)."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise TypeError("when needs a timezone-aware datetime")
    local = value.astimezone(_london())
    hour = local.hour % 12 or 12
    minutes = "" if local.minute == 0 else f":{local.minute:02d}"
    clock = f"{hour}{minutes}{'am' if local.hour < 12 else 'pm'}"
    return f"{longdate(local.date())} at {clock}"


def days_phrase(value: int) -> str:
    """`1 day`, `5 days`."""
    return f"{value} day" if value == 1 else f"{value} days"


@lru_cache(maxsize=8)
def _environment(directory: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(directory),
        undefined=StrictUndefined,
        autoescape=select_autoescape(["html.j2"], default_for_string=False, default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(longdate=longdate, when=when, days_phrase=days_phrase)
    return env


def environment(templates_dir: Path | None = None) -> Environment:
    """The module's Jinja2 environment (built on first use), or one for another templates folder."""
    return _environment(str((templates_dir or TEMPLATES_DIR).resolve()))


def template_names(templates_dir: Path | None = None) -> frozenset[str]:
    """Names that have both a plain-text and an HTML part; layouts and partials (`_...`) excluded."""
    if templates_dir is None:
        return _builtin_template_names()  # render() asks for every message it builds
    return _scan(templates_dir)


@functools.cache
def _builtin_template_names() -> frozenset[str]:
    return _scan(TEMPLATES_DIR)


def _scan(directory: Path) -> frozenset[str]:
    text = {p.name[: -len(TEXT_SUFFIX)] for p in directory.glob(f"*{TEXT_SUFFIX}")}
    html = {p.name[: -len(HTML_SUFFIX)] for p in directory.glob(f"*{HTML_SUFFIX}")}
    return frozenset(name for name in text & html if not name.startswith("_"))


def _block(template: Template, block: str, data: dict[str, Any], name: str) -> str:
    if block not in template.blocks:
        raise InvalidInput(f"template {name!r} ({template.name}) defines no {block} block")
    return "".join(template.blocks[block](template.new_context(data)))


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _tidy_text(value: str) -> str:
    lines = [line.rstrip() for line in value.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"


def render(name: str, context: MessageContext, *, templates_dir: Path | None = None) -> Rendered:
    """Render template `name` with `context`; unknown names raise `NotFound`."""
    if not isinstance(context, MessageContext):
        raise TypeError("render needs a MessageContext: templates see nothing else")
    if name not in template_names(templates_dir):
        raise NotFound(f"unknown template {name!r}")
    env = environment(templates_dir)
    data = context.model_dump()
    text_template = env.get_template(name + TEXT_SUFFIX)
    html_template = env.get_template(name + HTML_SUFFIX)
    subject = _one_line(_block(text_template, "subject", data, name))
    if not subject:
        raise InvalidInput(f"template {name!r} renders an empty subject")
    _block(html_template, "subject", data, name)  # both parts must define it
    return Rendered(
        subject=subject,
        text=_tidy_text(text_template.render(data)),
        html=html_template.render(data).strip() + "\n",
    )

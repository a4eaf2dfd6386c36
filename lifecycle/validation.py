"""Validation of what people type: names, emails, codes, dates. Rejected at the door, one line each."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime

from email_validator import EmailNotValidError, validate_email

from lifecycle.errors import InvalidInput

EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")


def clean_text(value: str, what: str, *, max_length: int = 100, required: bool = True) -> str:
    """Printable text on one line: CR, LF and other control characters can never reach a header."""
    text = unicodedata.normalize("NFC", value or "").strip()
    if required and not text:
        raise InvalidInput(f"{what} is empty")
    if len(text) > max_length:
        raise InvalidInput(f"{what} is longer than {max_length} characters")
    if any(
        unicodedata.category(ch).startswith("C") or unicodedata.category(ch) in ("Zl", "Zp") for ch in text
    ):
        raise InvalidInput(f"{what} contains a line break or control character")
    return text


def escape_line(value: object) -> str:
    """`value` as text that stays on one line in a message: line breaks, Unicode line and paragraph
    separators and other control or format characters are escaped as Python writes them (`\\n`,
    `\\x1f`, `\\u2028`); everything else is left as it is. For names and keys read from a file or
    typed by a person, which an error message repeats."""
    return "".join(repr(ch)[1:-1] if breaks_a_line(ch) else ch for ch in str(value))


def breaks_a_line(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category.startswith("C") or category in ("Zl", "Zp")


def clean_note(value: str, what: str, *, max_length: int = 5000) -> str:
    """Free text that may run over several lines (a note that is kept, never sent): line feeds and
    tabs stay; any other control or separator character is refused (PostgreSQL refuses NUL)."""
    text = unicodedata.normalize("NFC", value or "").replace("\r\n", "\n").strip()
    if not text or len(text) > max_length:
        raise InvalidInput(f"a {what} has 1 to {max_length} characters")
    if any(ch not in "\n\t" and breaks_a_line(ch) for ch in text):
        raise InvalidInput(f"{what} contains a control character")
    return text


def clean_email(value: str, what: str = "email") -> str:
    raw = clean_text(value, what, max_length=254)
    try:
        return validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidInput(f"{what} {raw!r} is not a valid address: {exc}") from None


def clean_code(value: str, what: str, *, strict: bool = False) -> str:
    """An organisation, team or other code: ASCII letters, digits, '-' and '_', upper-cased.

    Only ASCII is upper-cased: Unicode would fold 'poſv' into POSV (and 'ﬀ' into FF), acting for an
    organisation nobody typed. `strict` (who an actor acts for: --as, PEERPATH_ORGANISATION) also
    refuses surrounding spaces, so ' nmh' or 'NMH\n' is never quietly taken for NMH."""
    raw = value or ""
    if not raw.isascii():
        raise InvalidInput(
            f"{what} {escape_line(raw)!r} must be 1-32 letters, digits, '-' or '_' (ASCII only)"
        )
    if strict and raw != raw.strip():
        raise InvalidInput(f"{what} {escape_line(raw)!r} has spaces or a line break around it")
    code = raw.strip().upper()
    if not _CODE.match(code):
        raise InvalidInput(f"{what} {escape_line(raw)!r} must be 1-32 letters, digits, '-' or '_'")
    return code


def parse_date(value: str | date, what: str = "date") -> date:
    if isinstance(value, date):
        day = value
    else:
        try:
            day = date.fromisoformat((value or "").strip())
        except ValueError:
            raise InvalidInput(f"{what} {value!r} is not a date (use YYYY-MM-DD)") from None
    check_date_in_range(what, day)
    return day


def check_date_in_range(what: str, value: date | None) -> None:
    """Refuse, in one line worded as parse_date words it, a date handed to the service (a form's date
    picker, a caller) outside EARLIEST..LATEST. None is left to the caller's default."""
    if value is None:
        return
    if not isinstance(value, date):
        raise InvalidInput(f"{what} {value!r} is not a date (use YYYY-MM-DD)")
    day = value.date() if isinstance(value, datetime) else value
    if not EARLIEST <= day <= LATEST:
        raise InvalidInput(f"{what} {day} is out of range ({EARLIEST} to {LATEST})")

"""Files and values bounded before they are read or parsed: size, bytes, nesting, digits, finiteness.

Every file a person hands to peerpath (a CSV import, a rule, pathway or criteria file) is read here:
at most `max_bytes` are read (so `/dev/zero` or a 10 GB file is refused without filling memory), a
NUL byte means a binary file, and the text must be UTF-8. YAML is composed with a loader that refuses
nesting deeper than MAX_DEPTH (PyYAML composes recursively: 5,000 `[` is a RecursionError), integers
longer than MAX_INT_DIGITS (Python refuses to convert 4,300+ digits: a ValueError) and NaN or infinite
numbers. Each refusal is one line (InvalidInput) naming the file.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from lifecycle.errors import InvalidInput
from lifecycle.validation import escape_line

MAX_CONFIG_BYTES = 1024 * 1024  # a rule, pathway or criteria file: far beyond any real one
MAX_DEPTH = 32
MAX_INT_DIGITS = 18  # beyond a 64-bit integer: no setting needs more


class FileRefused(InvalidInput):
    """A file that cannot be read as bounded text; `reason` is the part after the file's name."""

    def __init__(self, what: str, path: Path | str, reason: str):
        self.reason = reason
        super().__init__(f"{what} {escape_line(str(path))}: {reason}")


def read_text(path: Path | str, what: str, *, max_bytes: int = MAX_CONFIG_BYTES) -> str:
    """The file's text, or one line saying why not; never more than `max_bytes` + 1 bytes read."""
    try:
        with open(path, "rb") as handle:  # noqa: PTH123 - a path or a str
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise FileRefused(what, path, f"cannot read: {exc.strerror or type(exc).__name__}") from None
    if len(data) > max_bytes:
        raise FileRefused(what, path, f"larger than {_size(max_bytes)}: not read")
    if b"\x00" in data:
        raise FileRefused(what, path, "not a text file (it holds binary data)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise FileRefused(what, path, "not UTF-8 text") from None


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MB" if n >= 1024 * 1024 else f"{n // 1024} KB"


class BoundedYamlError(yaml.YAMLError):
    """A bound broken while composing or constructing; `line` is 1-based."""

    def __init__(self, problem: str, line: int | None):
        super().__init__(problem)
        self.problem, self.line = problem, line


class BoundedLoader(yaml.SafeLoader):
    """SafeLoader with bounds: nesting depth, integer digits, finite floats."""

    def __init__(self, stream: Any):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise BoundedYamlError(f"nested more than {MAX_DEPTH} levels deep", mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _int(loader: BoundedLoader, node: yaml.ScalarNode) -> int:
    digits = sum(ch.isdigit() for ch in str(node.value))
    if digits > MAX_INT_DIGITS:
        raise BoundedYamlError(
            f"an integer with {digits} digits (at most {MAX_INT_DIGITS})", node.start_mark.line + 1
        )
    return yaml.SafeLoader.construct_yaml_int(loader, node)  # type: ignore[no-any-return]


def _float(loader: BoundedLoader, node: yaml.ScalarNode) -> float:
    if len(str(node.value)) > 64:
        raise BoundedYamlError("a number longer than 64 characters", node.start_mark.line + 1)
    value = yaml.SafeLoader.construct_yaml_float(loader, node)
    if not math.isfinite(value):
        raise BoundedYamlError(
            f"{escape_line(node.value)!r} is not a finite number", node.start_mark.line + 1
        )
    return value  # type: ignore[no-any-return]


BoundedLoader.add_constructor("tag:yaml.org,2002:int", _int)
BoundedLoader.add_constructor("tag:yaml.org,2002:float", _float)


def compose_yaml(text: str) -> yaml.Node | None:
    """The node tree (for line numbers), with the same depth bound."""
    loader = BoundedLoader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def load_yaml(text: str) -> Any:
    """`yaml.safe_load` with the bounds; raises BoundedYamlError or another yaml.YAMLError."""
    loader = BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def finite(value: float, what: str) -> float:
    """A number that is neither NaN nor infinite (`float('nan')`, '1e309'), or one line."""
    if not math.isfinite(value):
        raise InvalidInput(f"{what} must be a finite number, not {value!r}")
    return value

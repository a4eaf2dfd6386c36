"""Files and values bounded before they are read or parsed (lifecycle/bounded.py), with hypothesis.

Whatever the nesting, the digits or the bytes, reading and parsing ends in a value or one of our
one-line refusals: never RecursionError, ValueError (Python's 4,300-digit limit), MemoryError or
UnicodeDecodeError, and never a NaN or an infinity handed on.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle.bounded import (
    MAX_DEPTH,
    MAX_INT_DIGITS,
    BoundedYamlError,
    FileRefused,
    finite,
    load_yaml,
    read_text,
)
from lifecycle.errors import InvalidInput


def _finite_everywhere(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite_everywhere(k) and _finite_everywhere(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_finite_everywhere(v) for v in value)
    return True


def _parse(text: str) -> object:
    try:
        return load_yaml(text)
    except BoundedYamlError as exc:
        assert "\n" not in exc.problem and exc.line is None or exc.line >= 1
        return exc
    except yaml.YAMLError as exc:
        return exc


openers = st.sampled_from(["[", "{a: ", "- ", "{"])


@settings(max_examples=60, deadline=None)
@given(depth=st.integers(1, 6000), opener=openers)
def test_any_nesting_is_parsed_or_refused_never_a_recursion_error(depth: int, opener: str) -> None:
    result = _parse("x: " + opener * depth + "1")
    if depth > MAX_DEPTH and isinstance(result, BoundedYamlError):
        assert "nested more than" in result.problem


@settings(max_examples=60, deadline=None)
@given(digits=st.integers(1, 6000), sign=st.sampled_from(["", "-", "+"]))
def test_any_integer_length_is_parsed_or_refused(digits: int, sign: str) -> None:
    result = _parse(f"n: {sign}{'7' * digits}\n")
    if digits > MAX_INT_DIGITS:
        assert isinstance(result, BoundedYamlError) and f"{digits} digits" in result.problem
    else:
        assert result == {"n": int(f"{sign}{'7' * digits}")}


@settings(max_examples=80, deadline=None)
@given(
    number=st.one_of(
        st.sampled_from([".nan", ".NaN", ".inf", "-.inf", "+.Inf", "1.0e309", "-1.0e999", "1e309"]),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
    )
)
def test_no_nan_or_infinity_is_handed_on(number: str) -> None:
    result = _parse(f"w: {number}\nlist: [{number}]\n")
    assert isinstance(result, yaml.YAMLError) or _finite_everywhere(result), (number, result)


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=400))
def test_any_bytes_are_text_or_one_refusal(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("bytes") / "f.yaml"
    path.write_bytes(data)
    try:
        text = read_text(path, "file")
    except FileRefused as exc:
        assert "\n" not in str(exc) and str(exc).startswith("file ")
        return
    assert "\x00" not in text and text.encode("utf-8") == data


def test_the_size_cap_applies_before_reading() -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    with pytest.raises(FileRefused, match=r"^CSV file /dev/zero: larger than 1 KB: not read$"):
        read_text("/dev/zero", "CSV file", max_bytes=1024)


def test_a_file_exactly_at_the_cap_is_read(tmp_path: Path) -> None:
    path = tmp_path / "cap.csv"
    path.write_text("a" * 1024)
    assert read_text(path, "CSV file", max_bytes=1024) == "a" * 1024
    path.write_text("a" * 1025)
    with pytest.raises(FileRefused, match="larger than 1 KB"):
        read_text(path, "CSV file", max_bytes=1024)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_finite_refuses_nan_and_infinity(value: float) -> None:
    with pytest.raises(InvalidInput, match="must be a finite number"):
        finite(value, "weight")
    assert finite(2.5, "weight") == 2.5

"""edgevision.checks: the shared argument checks (types, bounds, messages, error classes)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgevision import checks
from edgevision.errors import DecodeError, EdgeVisionError, InvalidArgumentError, InvalidTypeError


@pytest.mark.parametrize("v, want", [
    (3, True), (0, True), (-2, True), (np.int64(7), True), (np.uint8(1), True),
    (True, False), (np.bool_(True), False), (1.0, False), ("1", False), (None, False),
])
def test_is_int(v, want):
    assert checks.is_int(v) is want


@pytest.mark.parametrize("v, want", [
    (3, True), (2.5, True), (np.float32(1.5), True), (np.int16(2), True), (math.inf, True), (math.nan, True),
    (False, False), (np.bool_(False), False), ("2.5", False), (None, False), (1j, False),
])
def test_is_real(v, want):
    assert checks.is_real(v) is want


def test_is_bool():
    assert checks.is_bool(True) and checks.is_bool(np.bool_(False))
    assert not checks.is_bool(1) and not checks.is_bool("true") and not checks.is_bool(None)


def test_short_repr():
    assert checks.short_repr([1, 2]) == "[1, 2]"
    long = checks.short_repr(list(range(100)), limit=20)
    assert len(long) == 20 and long.endswith("...")


def test_check_int_returns_python_int():
    v = checks.check_int(np.int64(5), "n", minimum=1)
    assert v == 5 and type(v) is int
    assert checks.check_int(-4, "n") == -4
    assert checks.check_int(10, "n", minimum=10, maximum=10) == 10


@pytest.mark.parametrize("v", [True, np.bool_(False), 2.0, "3", None])
def test_check_int_type_errors(v):
    with pytest.raises(InvalidTypeError, match=r"^n: expected an integer >= 1, got ") as e:
        checks.check_int(v, "n", minimum=1)
    assert isinstance(e.value, TypeError) and isinstance(e.value, EdgeVisionError)
    assert f"({type(v).__name__})" in str(e.value)


@pytest.mark.parametrize("kw, v, text", [
    ({"minimum": 1}, 0, "n: expected an integer >= 1, got 0"),
    ({"maximum": 9}, 10, "n: expected an integer <= 9, got 10"),
    ({"minimum": 0, "maximum": 9}, -1, "n: expected an integer in [0, 9], got -1"),
    ({"minimum": 0, "maximum": 9}, np.int32(12), "n: expected an integer in [0, 9], got 12"),
])
def test_check_int_value_errors(kw, v, text):
    with pytest.raises(InvalidArgumentError) as e:
        checks.check_int(v, "n", **kw)
    assert str(e.value) == text
    assert isinstance(e.value, ValueError) and not isinstance(e.value, TypeError)


def test_check_int_expected_and_error_override():
    with pytest.raises(DecodeError) as e:
        checks.check_int(True, "max_det", minimum=1, expected="a positive int", error=DecodeError)
    assert str(e.value) == "max_det: expected a positive int, got True"
    with pytest.raises(DecodeError) as e:
        checks.check_int(0, "max_det", minimum=1, expected="a positive int", error=DecodeError)
    assert str(e.value) == "max_det: expected a positive int, got 0"

    class Custom(Exception):
        def __init__(self, message, *, where):
            super().__init__(message)
            self.where = where

    with pytest.raises(Custom) as e:
        checks.check_int(-1, "k", minimum=0, error=lambda msg: Custom(msg, where="here"))
    assert e.value.where == "here" and str(e.value) == "k: expected an integer >= 0, got -1"


def test_check_number():
    v = checks.check_number(np.float32(0.5), "x", minimum=0, maximum=1)
    assert v == 0.5 and type(v) is float
    assert checks.check_number(3, "x") == 3.0 and type(checks.check_number(3, "x")) is float
    assert checks.check_number(math.inf, "x", finite=False) == math.inf


@pytest.mark.parametrize("kw, v, cls, text", [
    ({"positive": True}, 0, InvalidArgumentError, "x: expected a finite number > 0, got 0"),
    ({"positive": True}, math.inf, InvalidArgumentError, "x: expected a finite number > 0, got inf"),
    ({}, math.nan, InvalidArgumentError, "x: expected a finite number, got nan"),
    ({"minimum": 0, "maximum": 1}, 1.5, InvalidArgumentError, "x: expected a finite number in [0, 1], got 1.5"),
    ({"minimum": 0, "maximum": 1, "finite": False}, math.nan, InvalidArgumentError,
     "x: expected a number in [0, 1], got nan"),
    ({"maximum": 1, "positive": True}, 0.0, InvalidArgumentError, "x: expected a finite number in (0, 1], got 0.0"),
    ({"minimum": 2}, 1, InvalidArgumentError, "x: expected a finite number >= 2, got 1"),
    ({"positive": True}, True, InvalidTypeError, "x: expected a finite number > 0, got True (bool)"),
    ({}, "1", InvalidTypeError, "x: expected a finite number, got '1' (str)"),
])
def test_check_number_errors(kw, v, cls, text):
    with pytest.raises(cls) as e:
        checks.check_number(v, "x", **kw)
    assert str(e.value) == text


def test_check_number_expected_and_error():
    with pytest.raises(DecodeError, match=r"^conf: expected a number in \[0, 1\], got 2$"):
        checks.check_number(2, "conf", minimum=0, maximum=1, expected="a number in [0, 1]", error=DecodeError)


def test_check_bool():
    assert checks.check_bool(np.bool_(True), "flag") is True
    with pytest.raises(InvalidTypeError, match=r"^flag: expected a bool, got 1$"):
        checks.check_bool(1, "flag")
    with pytest.raises(DecodeError, match=r"^flag: expected true or false, got 'yes'$"):
        checks.check_bool("yes", "flag", expected="true or false", error=DecodeError)


def test_check_size_forms():
    assert checks.check_size(32) == (32, 32)
    assert checks.check_size([48, 64]) == (48, 64)
    hw = checks.check_size(np.array([2, 3]))
    assert hw == (2, 3) and all(type(s) is int for s in hw)
    assert checks.check_size((64, 96), multiple=32, minimum=64, maximum=96) == (64, 96)


@pytest.mark.parametrize("v, kw, cls, text", [
    ("32", {}, InvalidTypeError, "size: expected an int or (height, width) of two ints, got '32'"),
    ((1, 2, 3), {}, InvalidTypeError, "size: expected an int or (height, width) of two ints, got (1, 2, 3)"),
    ((1.0, 2), {}, InvalidTypeError, "size: expected an int or (height, width) of two ints, got (1.0, 2)"),
    (np.array(32), {}, InvalidTypeError, "size: expected an int or (height, width) of two ints, got array(32)"),
    (np.ones((2, 2), int), {}, InvalidTypeError,
     "size: expected an int or (height, width) of two ints, got array([[1, 1],\n       [1, 1]])"),
    (True, {}, InvalidTypeError, "size: expected an int or (height, width) of two ints, got True"),
    ((0, 4), {}, InvalidArgumentError, "size: height and width must be at least 1 pixel, got (0, 4)"),
    (64, {"minimum": 71}, InvalidArgumentError, "size: height and width must be at least 71 pixels, got (64, 64)"),
    ((64, 48), {"multiple": 32}, InvalidArgumentError,
     "size: height and width must be multiples of 32, got (64, 48)"),
    ((8, 9000), {"maximum": 8192}, InvalidArgumentError, "size: height and width must be in [1, 8192], got (8, 9000)"),
])
def test_check_size_errors(v, kw, cls, text):
    with pytest.raises(cls) as e:
        checks.check_size(v, **kw)
    assert str(e.value) == text


def test_check_size_name_and_error():
    with pytest.raises(InvalidArgumentError, match=r"^input_size: expected an int or \(height, width\)"):
        checks.check_size([1], "input_size", error=InvalidArgumentError)


@pytest.mark.parametrize("exc, text", [
    (ValueError("bad value"), "ValueError: bad value"),
    (RuntimeError("first line\n  detail\nlast line  \n"), "RuntimeError: last line"),
    (KeyError("k"), "KeyError: 'k'"),
    (OSError(), "OSError"),
    (InvalidArgumentError("n: expected an integer >= 1, got 0"), "InvalidArgumentError: n: expected an integer >= 1, got 0"),
])
def test_reason(exc, text):
    assert checks.reason(exc) == text

"""Argument checks shared by the runtime and the host tools.

One place for the small validations every public function repeats: "an int but
not a bool", "a finite number in a range", "an image size as an int or
(height, width)", and the one-line reason of an exception for logs and reports.
The host tools (``calibration``, ``benchmarks``, ``exporters``, ``training``)
may import it; it depends on numpy and :mod:`edgevision.errors` only.

Conventions (the house style of :mod:`edgevision.errors`):

* Messages start with the argument's ``name``, then say what was expected and
  what was got: ``max_det: expected an integer >= 1, got 0``.
* By default a value of the wrong *type* raises
  :class:`~edgevision.errors.InvalidTypeError` (an ``EdgeVisionError`` and a
  ``TypeError``) and a value of the right type but outside the accepted range
  raises :class:`~edgevision.errors.InvalidArgumentError` (an
  ``EdgeVisionError`` and a ``ValueError``).
* ``error=`` replaces both: pass an exception class (``DecodeError``) or any
  callable that takes the message and returns the exception to raise. Call
  sites that have always raised one class for every problem keep doing so.
* ``expected=`` replaces the "what was expected" wording (the message becomes
  ``{name}: expected {expected}, got {value!r}``), for call sites whose exact
  message is part of their contract.
* ``bool`` and ``numpy.bool_`` are never integers or numbers here, although
  Python counts ``True`` as ``1``: a flag passed where a count belongs is a bug.

The check functions return the value converted to a plain Python type
(``int``, ``float``, ``bool``, ``(int, int)``), so numpy scalars do not leak on.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any, Union

import numpy as np

from .errors import InvalidArgumentError, InvalidTypeError

__all__ = [
    "is_int",
    "is_real",
    "is_bool",
    "short_repr",
    "check_int",
    "check_number",
    "check_bool",
    "check_size",
    "reason",
]

#: What ``error=`` accepts: an exception class, or a callable from the message to the exception.
ErrorFactory = Union[type, Callable[[str], BaseException]]


def is_int(v: Any) -> bool:
    """True for integers (``int``, ``numpy.integer``, any ``numbers.Integral``), False for
    ``bool``/``numpy.bool_`` and everything else (``1.0`` included)."""
    return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))


def is_real(v: Any) -> bool:
    """True for real numbers (``int``, ``float``, numpy integer and floating scalars, any
    ``numbers.Real``), False for ``bool``/``numpy.bool_`` and everything else. NaN and
    infinities count as real numbers here; :func:`check_number` refuses them."""
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def is_bool(v: Any) -> bool:
    """True for ``bool`` and ``numpy.bool_`` only (not for ``0``/``1``)."""
    return isinstance(v, (bool, np.bool_))


def short_repr(v: Any, limit: int = 120) -> str:
    """``repr(v)``, cut to ``limit`` characters (ending in ``...``) so messages stay one readable line."""
    r = repr(v)
    return r if len(r) <= limit else r[: max(limit - 3, 0)] + "..."


def _plain(v: Any) -> Any:
    """numpy scalars as Python ones, so messages read ``12`` rather than ``np.int32(12)``."""
    return v.item() if isinstance(v, np.generic) else v


def _raise(error: ErrorFactory | None, default: type, message: str) -> None:
    raise (error or default)(message)


def _bounds(minimum: Any, maximum: Any, *, above_zero: bool = False) -> str:
    if above_zero and maximum is None and minimum is None:
        return " > 0"
    if above_zero and maximum is not None and minimum is None:
        return f" in (0, {maximum}]"
    if minimum is not None and maximum is not None:
        return f" in [{minimum}, {maximum}]" + (" and > 0" if above_zero and minimum <= 0 else "")
    if minimum is not None:
        return f" >= {minimum}" + (" and > 0" if above_zero and minimum <= 0 else "")
    if maximum is not None:
        return f" <= {maximum}"
    return ""


def check_int(v: Any, name: str, *, minimum: int | None = None, maximum: int | None = None,
              expected: str | None = None, error: ErrorFactory | None = None) -> int:
    """``v`` as a Python ``int``, checked to be an integer (not a bool) in ``[minimum, maximum]``.

    Args:
        v: the value to check.
        name: the argument's name, first word of the message.
        minimum, maximum: inclusive bounds; ``None`` leaves that side open.
        expected: replaces the "expected ..." wording (default ``an integer >= 1`` and the like).
        error: exception class or factory used for every failure (see the module doc).

    Raises:
        InvalidTypeError: ``v`` is not an integer (a bool, a float such as ``2.0``, a string...).
        InvalidArgumentError: ``v`` is an integer outside the bounds.
    """
    want = expected or f"an integer{_bounds(minimum, maximum)}"
    if not is_int(v):
        got = short_repr(v) if expected else f"{short_repr(v)} ({type(v).__name__})"
        _raise(error, InvalidTypeError, f"{name}: expected {want}, got {got}")
    if (minimum is not None and v < minimum) or (maximum is not None and v > maximum):
        _raise(error, InvalidArgumentError, f"{name}: expected {want}, got {short_repr(_plain(v))}")
    return int(v)


def check_number(v: Any, name: str, *, minimum: float | None = None, maximum: float | None = None,
                 positive: bool = False, finite: bool = True, expected: str | None = None,
                 error: ErrorFactory | None = None) -> float:
    """``v`` as a Python ``float``, checked to be a real number (not a bool) within bounds.

    Args:
        v: the value to check (``int``, ``float`` or a numpy scalar; units are the caller's).
        name: the argument's name, first word of the message.
        minimum, maximum: inclusive bounds; ``None`` leaves that side open.
        positive: also require ``v > 0`` (strictly).
        finite: refuse NaN and infinities (the default). With ``finite=False`` infinities
            pass the bounds that allow them; NaN is refused whenever a bound or ``positive`` is set.
        expected: replaces the "expected ..." wording (default ``a finite number > 0`` and the like).
        error: exception class or factory used for every failure (see the module doc).

    Raises:
        InvalidTypeError: ``v`` is not a real number.
        InvalidArgumentError: ``v`` is not finite (when ``finite``) or outside the bounds.
    """
    want = expected or ("a finite number" if finite else "a number") + _bounds(minimum, maximum, above_zero=positive)
    if not is_real(v):
        got = short_repr(v) if expected else f"{short_repr(v)} ({type(v).__name__})"
        _raise(error, InvalidTypeError, f"{name}: expected {want}, got {got}")
    f = float(v)
    bad = ((finite and not math.isfinite(f))
           or (minimum is not None and not f >= minimum)
           or (maximum is not None and not f <= maximum)
           or (positive and not f > 0))
    if bad:
        _raise(error, InvalidArgumentError, f"{name}: expected {want}, got {short_repr(_plain(v))}")
    return f


def check_bool(v: Any, name: str, *, expected: str | None = None, error: ErrorFactory | None = None) -> bool:
    """``v`` as a Python ``bool``, checked to be ``bool`` or ``numpy.bool_`` (``0``/``1``/``"true"`` are refused).

    Raises:
        InvalidTypeError: ``v`` is not a bool (or what ``error`` makes).
    """
    if not is_bool(v):
        _raise(error, InvalidTypeError, f"{name}: expected {expected or 'a bool'}, got {short_repr(v)}")
    return bool(v)


def check_size(v: Any, name: str = "size", *, multiple: int = 1, minimum: int = 1, maximum: int | None = None,
               error: ErrorFactory | None = None) -> tuple[int, int]:
    """An image size in pixels, as ``(height, width)``.

    ``v`` is an int (a square) or a pair ``(height, width)`` of ints (tuple, list or
    1-D numpy array). Both sides must be multiples of ``multiple`` (a network's
    largest stride, say) and in ``[minimum, maximum]`` (``maximum=None``: no upper
    bound). The checks run in that order: form, multiple, bounds.

    Raises:
        InvalidTypeError: ``v`` is neither an int nor a pair of ints.
        InvalidArgumentError: a side is not a multiple of ``multiple`` or is out of bounds.
    """
    if is_int(v):
        hw = (int(v), int(v))
    elif (isinstance(v, (tuple, list)) or (isinstance(v, np.ndarray) and v.ndim == 1)) and len(v) == 2 and all(is_int(s) for s in v):
        hw = (int(v[0]), int(v[1]))
    else:
        _raise(error, InvalidTypeError, f"{name}: expected an int or (height, width) of two ints, got {short_repr(v)}")
    if multiple > 1 and (hw[0] % multiple or hw[1] % multiple):
        _raise(error, InvalidArgumentError, f"{name}: height and width must be multiples of {multiple}, got {hw}")
    if hw[0] < minimum or hw[1] < minimum or (maximum is not None and (hw[0] > maximum or hw[1] > maximum)):
        if maximum is None:
            rule = f"at least {minimum} pixel{'s' if minimum != 1 else ''}"
        else:
            rule = f"in [{minimum}, {maximum}]"
        _raise(error, InvalidArgumentError, f"{name}: height and width must be {rule}, got {hw}")
    return hw


def reason(exc: BaseException) -> str:
    """A one-line account of ``exc`` for logs and reports: ``"TypeName: last line of its message"``
    (just ``"TypeName"`` when the message is empty)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[-1] if text else ''}".rstrip(": ")

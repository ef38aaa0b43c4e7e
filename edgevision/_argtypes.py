"""``argparse`` value types shared by the command lines (edgevision's and the host tools')."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type=`` accepting an integer >= ``minimum`` (a clear message otherwise)."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {v}")
        return v

    parse.__name__ = f"int>={minimum}"
    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def unit_interval(text: str) -> float:
    """An argparse ``type=`` accepting a number in 0..1 (a confidence, a share; a clear message otherwise)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in 0..1, got {text!r}") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in 0..1, got {text!r}")
    return v


def unit_interval_or_off(text: str) -> float | None:
    """As :func:`unit_interval`, or ``off`` / ``none`` for None (a setting that can be turned off)."""
    return None if text.strip().lower() in ("off", "none") else unit_interval(text)


def unit_interval_off_or_auto(text: str) -> float | str | None:
    """As :func:`unit_interval_or_off`, or ``auto`` for the library's own default (a setting whose default
    depends on others, e.g. ``PlateReader(rescue="auto")``)."""
    return "auto" if text.strip().lower() == "auto" else unit_interval_or_off(text)

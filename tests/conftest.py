"""pytest configuration shared by the preprocessing tests (helpers live in ``_helpers.py``)."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # make ``_helpers`` importable in every import mode

import edgevision  # noqa: E402


@pytest.fixture(autouse=True)
def _simd_level_is_restored():
    """Every test must leave the process-wide SIMD level as it found it."""
    before = edgevision.kernel_info()["simd"]
    yield
    assert edgevision.kernel_info()["simd"] == before, "a test leaked a forced SIMD level"

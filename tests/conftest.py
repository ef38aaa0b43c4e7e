"""pytest configuration shared by the preprocessing tests (helpers live in ``_helpers.py``)."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # make ``_helpers`` importable in every import mode

import edgevision  # noqa: E402


#: Where CI runs (``.ci/run`` sets ``CI=true``): every test dependency is installed there, so a test
#: skipped because an import failed (``pytest.importorskip``: torch, keras, ...) is a failure, not a skip.
IN_CI = os.environ.get("CI", "").lower() == "true"


def _missing_dependency(report, excinfo) -> None:
    if IN_CI and report.skipped and excinfo is not None:
        reason = str(excinfo.value)
        if reason.startswith("could not import") or "host-side extra" in reason:
            report.outcome = "failed"
            report.longrepr = f"CI=true: a dependency of this test is missing, so it would be skipped: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _missing_dependency(outcome.get_result(), call.excinfo)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """A test module that skips itself at import (``torch = pytest.importorskip("torch")``)."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[-1])
        if "could not import" in reason or "host-side extra" in reason:
            report.outcome = "failed"
            report.longrepr = f"CI=true: a dependency of {collector.nodeid} is missing, so it would be skipped: {reason}"


@pytest.fixture(autouse=True)
def _simd_level_is_restored():
    """Every test must leave the process-wide SIMD level as it found it."""
    before = edgevision.kernel_info()["simd"]
    yield
    assert edgevision.kernel_info()["simd"] == before, "a test leaked a forced SIMD level"

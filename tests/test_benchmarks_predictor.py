"""benchmarks.predictor: the overhead table's structure (the timings themselves are not asserted)."""

from __future__ import annotations

import pytest

from benchmarks import predictor as bench


def test_rows_compare_the_predictor_with_kernel_plus_session_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "bundled_models", lambda: [])  # the generated models only (fast)
    rows = bench.run(quick=True, threads=1)
    assert [r["model"] for r in rows] == ["tiny", "small_cnn"]
    for r in rows:
        assert r["baseline_p50_ms"] > 0 and r["predictor_p50_ms"] > 0
        assert r["ratio"] == pytest.approx(r["predictor_p50_ms"] / r["baseline_p50_ms"])
        assert r["baseline_p90_ms"] >= r["baseline_p50_ms"] and r["predictor_p90_ms"] >= r["predictor_p50_ms"]


def test_cli_rejects_negative_threads(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        bench.main(["--threads", "-1"])
    assert e.value.code == 2 and "--threads: expected 0" in capsys.readouterr().err

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


def test_the_ocr_is_also_timed_on_a_real_plate_crop() -> None:
    """With the bundled OCR, a row times it on what it reads (the bundled CCPD sample's plate, rectified by the
    bundled reader), beside the 720p frame that breaks its plate pattern on every call."""
    crop = bench.plate_crop()
    assert crop is not None and crop.dtype.name == "uint8" and crop.shape[:2] == (64, 256)
    import edgevision

    assert edgevision.Predictor("plate_ocr_int8.onnx")(crop).text == "皖AYL375"  # the sample's plate

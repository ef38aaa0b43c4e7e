"""benchmarks.serve: the load test's structure on tiny models and a few requests (timings are not asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import serve as bench

import models
from test_plates import _kp_meta, _ocr, _pose_detector


@pytest.mark.parametrize("first", ["--detector", "--corners"])
def test_a_small_run_reports_every_figure(first: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    if first == "--corners":  # seed 000's pipeline
        model = models.save(models.with_metadata(models.keypoints_model(), _kp_meta()), tmp_path / "kp.onnx")
    else:  # the plate detector's (the default pipeline)
        model = _pose_detector(tmp_path)
    out = tmp_path / "serve.json"
    assert bench.main(["--requests", "40", "--concurrency", "4", "--rounds", "10", "--workers", "2", "--threads", "1",
                       first, model, "--ocr", _ocr(tmp_path), "--time-limit", "120", "--json", str(out)]) == 0
    res = json.loads(out.read_text(encoding="utf-8"))
    assert res["models"] == f"{model} + {_ocr(tmp_path)}"
    load, single = res["load"], res["concurrency_1"]
    assert load["requests"] == 40 and load["complete"] and load["statuses"] == {"200": 40}
    assert load["server_errors_5xx"] == 0 and load["client_errors"] == 0
    assert load["p99_ms"] >= load["p50_ms"] > 0 and load["throughput_rps"] > 0
    assert load["rss_start_mb"] > 0 and load["rss_growth"] == pytest.approx(
        (load["rss_end_mb"] - load["rss_start_mb"]) / load["rss_start_mb"])
    assert single["ratio"] == pytest.approx(single["service_p50_ms"] / single["in_process_p50_ms"])
    assert single["samples"] >= 10
    assert res["server"] == {"workers": 2, "threads": 1, "queue": 32, "exit_code_after_sigterm": 0}
    assert set(res["targets"]) == {"no 5xx at concurrency 16 over 5,000 requests", "RSS growth under 10%",
                                   "round-trip at most 1.2x the in-process call"}
    printed = capsys.readouterr().out
    assert "service round-trip p50 / in-process `PlateReader` p50" in printed and "200: 40" in printed


def test_bad_settings_are_refused(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as e:
        bench.main(["--requests", "0"])
    assert e.value.code == 2 and "requests: expected an integer >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        bench.main(["--corners", "a.onnx", "--detector", "b.onnx"])
    assert e.value.code == 2 and "corners, detector: give one of them" in capsys.readouterr().err
    assert bench.ServeBenchConfig().models == "plate_pose_int8.onnx + plate_ocr_int8.onnx"  # the defaults

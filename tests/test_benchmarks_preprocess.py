"""Smoke test of benchmarks/preprocess.py: statistics on known inputs, and one
tiny case end to end (fields and files). Timings are never asserted."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import _timing
from benchmarks import preprocess as bench


def test_percentile_and_stats_on_known_inputs():
    samples = [float(v) for v in range(1, 101)]  # 1..100 ms
    st = _timing.Stats(samples)
    assert st.median == pytest.approx(50.5)
    assert st.p90 == pytest.approx(90.1)
    assert st.p99 == pytest.approx(99.01)
    assert _timing.percentile([3.0], 90) == 3.0
    with pytest.raises(ValueError, match="samples"):
        _timing.percentile([], 50)


def test_measure_interleaved_gives_every_function_its_samples():
    calls = {"a": 0, "b": 0}

    def make(name):
        def fn():
            calls[name] += 1
        return fn

    stats = _timing.measure_interleaved({"a": make("a"), "b": make("b")}, rounds=3, warmup=2, min_samples=6,
                                        min_time_s=0.0)
    assert set(stats) == {"a", "b"}
    for name in ("a", "b"):
        assert len(stats[name].samples_ms) == 6  # 2 per round x 3 rounds
        assert calls[name] == 2 + 6
        assert all(v >= 0 for v in stats[name].samples_ms)


def test_cycling_visits_every_frame_in_order():
    seen = []
    fn = bench.cycling([[1], [2], [3]], lambda images: seen.append(images[0]))
    for _ in range(7):
        fn()
    assert seen == [1, 2, 3, 1, 2, 3, 1]


def test_methods_agree_with_the_kernel_on_a_small_case():
    case = bench.Case("t", (50, 80), (32, 48), "letterbox")
    pool = [[bench.synthetic_frame(case.src_hw, seed=0)]]
    ev_blob = bench.ev_method(pool, case, 1)()[0]
    chain_blob = bench.chain_method(pool, case)()
    numpy_blob = bench.numpy_method(pool, case)()
    assert ev_blob.shape == chain_blob.shape == numpy_blob.shape == (1, 3, 32, 48)
    # The chain uses cv2.resize, to which the kernel is bit-exact; only float rounding differs.
    np.testing.assert_allclose(ev_blob, chain_blob, atol=1e-5)
    # The numpy baseline resamples in float without OpenCV's fixed point: close, not equal.
    assert np.abs(ev_blob - numpy_blob).max() < 0.05


def test_main_writes_json_and_markdown(tmp_path, capsys):
    js, md = tmp_path / "r.json", tmp_path / "r.md"
    assert bench.main(["--quick", "--case", "plate 300x100", "--json", str(js), "--markdown", str(md)]) == 0
    out = capsys.readouterr().out
    assert "plate" in out and "edgevision 1T" in out
    data = json.loads(js.read_text())
    assert data["environment"]["kernel"]["simd"] in data["environment"]["kernel"]["supported"]
    (res,) = data["results"]
    methods = {r["method"] for r in res["rows"]}
    assert {"opencv chain", "edgevision 1T", "cv2 blobWithParams", "numpy", "memcpy"} <= methods
    chain = next(r for r in res["rows"] if r["method"] == "opencv chain")
    assert chain["x_chain"] == pytest.approx(1.0)
    for r in res["rows"]:
        assert r["median_ms"] > 0 and r["p90_ms"] >= r["median_ms"] and r["n"] >= 9
    assert data["targets"] == []  # targets need every case
    assert "| method | median ms |" in md.read_text()


def test_warp_case_times_the_kernel_against_opencv(tmp_path, capsys):
    """The warp case: warp_quad at the best SIMD level and at scalar, against cv2.warpPerspective, in one
    run; no memcpy row (its % memcpy is None, printed as '-')."""
    js, md = tmp_path / "w.json", tmp_path / "w.md"
    assert bench.main(["--quick", "--case", "warp", "--json", str(js), "--markdown", str(md)]) == 0
    (res,) = json.loads(js.read_text())["results"]
    methods = [r["method"] for r in res["rows"]]
    assert methods[0] == "opencv warpPerspective" and methods[-1] == "edgevision 1T (scalar)" and len(methods) == 3
    assert all(r["pct_memcpy"] is None and r["median_ms"] > 0 for r in res["rows"])
    assert res["rows"][0]["x_chain"] == pytest.approx(1.0)
    assert "| opencv warpPerspective |" in md.read_text() and "warp" in capsys.readouterr().out


def test_detector_input_case_checks_the_bytes_then_times_the_kernel_against_opencv(tmp_path, monkeypatch):
    """The detector-input case: the kernel's uint8 NHWC letterbox with a zero 4th channel at the best SIMD level
    and at scalar against OpenCV's resize + border + mixChannels, each output checked equal to OpenCV's first;
    a method whose bytes differ stops the case, named."""
    js = tmp_path / "i.json"
    assert bench.main(["--quick", "--case", "plate detector input", "--json", str(js)]) == 0
    (res,) = json.loads(js.read_text())["results"]
    methods = [r["method"] for r in res["rows"]]
    assert methods[0] == "opencv resize+border+mixChannels" and methods[-1] == "edgevision 1T (scalar)"
    assert res["out_bytes"] == 384 * 384 * 4 and all(r["median_ms"] > 0 for r in res["rows"])
    real = bench.edgevision.letterbox

    def off_by_one(*a, **kw):
        blob, t = real(*a, **kw)
        blob[0, 0, 0, 3] = 1   # the zero channel is not zero
        return blob, t

    monkeypatch.setattr(bench.edgevision, "letterbox", off_by_one)
    with pytest.raises(AssertionError, match=r"edgevision 1T \(\w+\): its output differs from OpenCV's in 1 bytes"):
        bench.run_input_case(quick=True)

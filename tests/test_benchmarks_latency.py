"""benchmarks.latency and the Predictor stage API it times.

Models come from tests/models.py (tiny ONNX graphs). The labelled fixture is a
tiny keypoints model plus a few images whose manifest corners are that model's
own predictions (source pixels, TL, TR, BR, BL), so the fp32 baseline scores a
corner MAE of ~0 and a perturbed "int8" variant scores worse: the metric must
come from each variant's own predictions. No timing is asserted anywhere.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from onnx import numpy_helper

import edgevision.cli as cli
from benchmarks import latency as lat
from benchmarks._timing import Stats, current_rss_mb, peak_rss_mb
from edgevision.config import ModelConfig
from edgevision.errors import InvalidArgumentError
from edgevision.predictor import Predictor

import models  # tests/models.py

KP_META = {"schema": 1, "task": "keypoints", "preprocess": {"size": [64, 96], "swap_rb": True},
           "decoder": {"num_keypoints": 4}}
FAST = dict(warmup=1, iters=2, repeats=2, min_time_s=0.004, eval_count=8, timing_images=2, threads=(1,))


def image(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def kp_model(path: Path, bias_shift: float = 0.0, batch: int | str = "N") -> str:
    m = models.keypoints_model(64, 96, batch=batch)
    if bias_shift:
        for init in m.graph.initializer:
            if init.name == "kp_b":
                init.CopyFrom(numpy_helper.from_array(models.KP_B + np.float32(bias_shift), "kp_b"))
    out = models.save(m, path)
    ModelConfig.from_dict(KP_META).write(out)
    return out


@pytest.fixture(scope="module")
def tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("latency")


@pytest.fixture(scope="module")
def family(tmp) -> dict[str, str]:
    """kp.onnx (fp32 baseline), kp_int8.onnx (a perturbed copy standing in for a worse
    variant) and kp_fp16.onnx (corrupt: not ONNX)."""
    bad = tmp / "kp_fp16.onnx"
    bad.write_bytes(b"this is not an ONNX model")
    return {"fp32": kp_model(tmp / "kp.onnx"), "int8": kp_model(tmp / "kp_int8.onnx", bias_shift=0.02),
            "bad": str(bad)}


@pytest.fixture(scope="module")
def manifest(tmp, family) -> str:
    """4 images (several sizes) labelled with the fp32 model's own corners moved by -0.01 of the
    model input on both axes (mapped back to source pixels; still clockwise), so that the fp32
    model scores mae_norm 0.01 and the int8 stand-in (bias +0.02) 0.03."""
    data = tmp / "data"
    (data / "images").mkdir(parents=True)
    p = Predictor(family["fp32"])
    lines = []
    for i, (h, w) in enumerate([(120, 200), (90, 90), (150, 110), (100, 160)]):
        img = image(h, w, seed=i)
        cv2.imwrite(str(data / "images" / f"{i}.png"), img)
        blob, (t,) = p.preprocess([img])
        corners = t.to_source(p.infer(blob)[0].reshape(4, 2).astype(np.float64) - 0.01, normalized=True)
        lines.append(json.dumps({"image": f"images/{i}.png", "corners": corners.tolist()}))
    (data / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return str(data / "manifest.jsonl")


@pytest.fixture(scope="module")
def result(family, manifest) -> lat.BenchResult:
    cfg = lat.BenchConfig(models=[family["int8"], family["bad"], family["fp32"]], data=manifest, **FAST)
    return lat.run_benchmark(cfg, progress=False)


# --- variants, families, baselines ------------------------------------------------


@pytest.mark.parametrize("name, family, precision", [
    ("lpl_resnet.onnx", "lpl_resnet", "fp32"),
    ("lpl_resnet_fp16.onnx", "lpl_resnet", "fp16"),
    ("lpl_resnet_int8.onnx", "lpl_resnet", "int8"),
    ("lpl_resnet_int8_dynamic.onnx", "lpl_resnet", "int8_dynamic"),
    ("plate_ocr_INT8_static.onnx", "plate_ocr", "int8_static"),
    ("plate_ocr_fp32.onnx", "plate_ocr", "fp32"),
    ("lpl_resnet18.onnx", "lpl_resnet18", "fp32"),
    ("int8.onnx", "int8", "fp32"),
    ("det_fp16.engine", "det", "fp16"),
])
def test_parse_variant(name, family, precision):
    v = lat.parse_variant(f"/some/dir/{name}")
    assert (v.name, v.family, v.precision) == (name, family, precision)


def test_grouping_puts_the_fp32_baseline_first():
    fams = lat.group_variants(["m/a_int8.onnx", "m/b_fp16.onnx", "m/a.onnx", "m/a_fp32.onnx", "m/a_int8.onnx",
                               "m/c_fp16.onnx", "m/c_fp32.onnx", "m/d_fp32.engine", "m/d_int8.onnx"])
    assert list(fams) == ["a", "b", "c", "d"]
    assert [v.name for v in fams["a"]] == ["a.onnx", "a_int8.onnx", "a_fp32.onnx"]  # duplicate kept once
    assert lat.baseline_of(fams["a"]).name == "a.onnx"  # the file without a suffix beats _fp32
    assert lat.baseline_of(fams["b"]) is None  # no fp32 variant: no ratios for that family
    assert lat.baseline_of(fams["c"]).name == "c_fp32.onnx"
    assert lat.baseline_of(fams["d"]) is None  # an engine is never the baseline (the runtime cannot load it)


# --- statistics ------------------------------------------------------------------


def test_statistics_on_known_inputs():
    st = lat.StageStats.from_repeats([Stats([1.0, 2.0, 3.0]), Stats([2.0, 3.0, 4.0]), Stats([10.0, 11.0, 12.0])])
    assert st.p50 == 3.0  # median of the per-repeat medians 2, 3, 11
    assert st.p90 == pytest.approx(float(np.percentile([1, 2, 3, 2, 3, 4, 10, 11, 12], 90)))
    assert st.p99 == pytest.approx(float(np.percentile([1, 2, 3, 2, 3, 4, 10, 11, 12], 99)))
    assert st.n == 9 and st.spread_pct == pytest.approx(300.0)
    assert Stats(list(map(float, range(1, 101)))).p90 == pytest.approx(90.1)

    assert lat.ratio(2.0, 4.0) == 0.5
    assert lat.ratio(None, 1.0) is None and lat.ratio(1.0, None) is None and lat.ratio(1.0, 0.0) is None
    assert lat.noise_pct(99.0, 101.0) == pytest.approx(2.0)
    with pytest.raises(InvalidArgumentError, match="a_ms"):
        lat.noise_pct(0.0, 0.0)
    assert lat.within_noise(1.01, 2.0) and lat.within_noise(0.985, 2.0)
    assert not lat.within_noise(0.95, 2.0) and not lat.within_noise(1.01, None) and not lat.within_noise(None, 5.0)
    assert lat.format_ratio(1.01, 2.0) == "~1.01x"
    assert lat.format_ratio(0.5, 2.0) == "0.50x"
    assert lat.format_ratio(None) == "-"

    row = lat.Row("m_int8.onnx", "m_int8.onnx", "m", "int8", "auto", "cpu", 1, None,
                  ratios={"e2e": 1.01, "infer": 0.5, "size": 1.001}, noise_pct=2.0)
    assert row.flagged("e2e") and not row.flagged("infer")
    assert not row.flagged("size")  # sizes are exact: never flagged
    row.is_baseline = True
    assert not row.flagged("e2e")


def test_rss_helpers():
    peak, now = peak_rss_mb(), current_rss_mb()
    assert peak is not None and now is not None  # Linux
    assert 0 < now <= peak * 1.05


# --- the run ---------------------------------------------------------------------


def test_rows_fields_and_the_failed_row(result, family):
    by_name = {r.model: r for r in result.rows}
    assert set(by_name) == {"kp.onnx", "kp_int8.onnx", "kp_fp16.onnx"}
    bad = by_name["kp_fp16.onnx"]
    assert bad.status == "failed" and "kp_fp16.onnx" in bad.reason and "cannot load" in bad.reason
    assert bad.stages == {} and bad.metric is None

    base, q = by_name["kp.onnx"], by_name["kp_int8.onnx"]
    assert base.is_baseline and not q.is_baseline and q.baseline == base.label
    for r in (base, q):
        assert r.status == "ok" and r.task == "keypoints" and r.threads == 1 and r.batch == 1
        assert r.providers == ["CPUExecutionProvider"]
        for stage in lat.STAGES:
            s = r.stages[stage]
            assert s is not None and s.p50 > 0 and s.p99 >= s.p90 > 0 and s.n >= 4, stage
        assert r.throughput_ips == pytest.approx(1000.0 / r.stages["e2e"].p50)
        assert r.size_mb == pytest.approx(os.path.getsize(r.path) / 1e6)
        assert r.peak_rss_mb > 0 and r.rss_delta_mb is not None
        assert r.metric["metric"] == "mae_norm" and r.metric["higher_is_better"] is False
        assert r.metric["count"] == 4
    # The metric comes from each variant's own predictions (labels: the fp32 outputs - 0.01).
    assert base.metric["value"] == pytest.approx(0.01, rel=1e-3)
    assert q.metric["value"] == pytest.approx(0.03, rel=1e-3)
    assert base.noise_pct is not None and q.noise_pct == base.noise_pct  # the family's noise
    assert set(q.ratios) == {*lat.STAGES, "throughput", "size", "metric"}
    assert q.ratios["e2e"] == pytest.approx(q.stages["e2e"].p50 / base.stages["e2e"].p50)
    assert q.ratios["size"] == pytest.approx(q.size_mb / base.size_mb)
    assert q.ratios["metric"] == pytest.approx(3.0, rel=1e-3)
    assert base.ratios["e2e"] == 1.0
    assert list(result.noise) == [base.label]
    assert "manifest" in result.data and result.notes == []


def test_output_files(result, tmp):
    paths = lat.write_outputs(result, tmp / "out")
    assert set(paths) == {"md", "json", "csv", "png"}
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths.values())

    doc = json.loads(paths["json"].read_text())
    env = doc["environment"]
    for key in ("cpu", "cores", "onnxruntime", "ort_providers", "kernel", "edgevision", "date", "peak_rss_mb"):
        assert key in env, key
    assert env["kernel"]["simd"] and "CPUExecutionProvider" in env["ort_providers"]
    rows = {r["model"]: r for r in doc["rows"]}
    assert rows["kp_fp16.onnx"]["status"] == "failed" and rows["kp_fp16.onnx"]["reason"]
    assert set(rows["kp_int8.onnx"]["stages"]) == set(lat.STAGES)
    assert rows["kp_int8.onnx"]["metric"]["metric"] == "mae_norm"
    assert set(rows["kp_int8.onnx"]["flags"]) == {*lat.STAGES, "throughput"}

    with open(paths["csv"], newline="") as f:
        lines = list(csv.DictReader(f))
    assert len(lines) == 3
    failed = next(r for r in lines if r["model"] == "kp_fp16.onnx")
    assert failed["status"] == "failed" and "cannot load" in failed["reason"]
    ok = next(r for r in lines if r["model"] == "kp_int8.onnx")
    for col in ("pre_p50_ms", "pre_cv_p50_ms", "infer_p50_ms", "post_p50_ms", "e2e_p50_ms", "e2e_p90_ms",
                "e2e_p99_ms", "throughput_ips", "size_mb", "metric_value", "peak_rss_mb", "e2e_x_fp32",
                "e2e_x_fp32_within_noise", "size_x_fp32", "metric_x_fp32"):
        assert ok[col] not in ("", None), col

    md = paths["md"].read_text()
    assert "| variant |" in md and "kp_int8.onnx" in md and "Failed rows" in md and "kp_fp16.onnx" in md
    assert env["cpu"] in md and "onnxruntime" in md

    png = cv2.imread(str(paths["png"]))
    assert png is not None and png.shape[0] > 100 and png.shape[1] > 100


def test_print_table(result):
    from rich.console import Console

    console = Console(record=True, width=300)
    lat.print_table(result, console)
    text = console.export_text()
    assert "kp.onnx (base)" in text and "kp_int8.onnx" in text and "mae_norm" in text
    assert "FAILED kp_fp16.onnx [cpu b=1 t=1]" in text and "Noise" in text


def test_engines_unlabelled_data_and_fixed_batch(tmp, family):
    """An engine file gets the runtime's 'not supported yet' row; unlabelled data loses the
    metric (with the reason) but not the timings; a batch beyond a fixed batch axis fails its row."""
    engine = tmp / "kp_int8.engine"
    engine.write_bytes(b"\0" * 16)
    fixed = kp_model(tmp / "fixed.onnx", batch=1)
    folder = tmp / "unlabelled"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), image(80, 120, seed=9))
    cfg = lat.BenchConfig(models=[family["fp32"], str(engine), fixed], data=str(folder), batches=(1, 2), **FAST)
    res = lat.run_benchmark(cfg, progress=False)
    rows = {(r.model, r.batch): r for r in res.rows}
    eng = rows[("kp_int8.engine", 1)]
    assert eng.status == "failed" and "not supported yet" in eng.reason
    assert sum(r.model == "kp_int8.engine" for r in res.rows) == 1  # one row, whatever the batches
    assert rows[("fixed.onnx", 1)].status == "ok"
    assert rows[("fixed.onnx", 2)].status == "failed" and "fixed at 1" in rows[("fixed.onnx", 2)].reason
    for b in (1, 2):
        r = rows[("kp.onnx", b)]
        assert r.status == "ok" and r.metric is None and "no label" in r.metric_note
        assert r.stages["e2e"].p50 > 0 and r.throughput_ips == pytest.approx(b * 1000.0 / r.stages["e2e"].p50)
    assert rows[("kp.onnx", 2)].ratios["e2e"] == 1.0  # its own baseline: same family, batch 2
    png = lat.plot(res, tmp / "nometric.png")  # no metric: latency against size
    assert cv2.imread(str(png)) is not None


def test_synthetic_data_and_an_ocr_model(tmp, family):
    """``synth:SEED`` data: a keypoints model is scored on the scenes, an OCR model on the
    plate crops of the same scenes (what calibration.metrics.evaluate feeds it), and both
    are timed on those same inputs."""
    provinces = [chr(0x4E00 + i) for i in range(31)]
    alnum = list("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789")
    p0 = np.zeros((1, 1, 31), np.float32)
    rest = np.zeros((1, 6, 34), np.float32)
    path = models.save(models.constant_output_model("province", p0, extra={"alnum": rest}), tmp / "ocr.onnx")
    heads = [{"output": "province", "charset": provinces, "slots": [0]},
             {"output": "alnum", "charset": alnum, "slots": [1, 2, 3, 4, 5, 6]}]
    ModelConfig.from_dict({"schema": 1, "task": "slots_ocr", "preprocess": {"size": [32, 32]},
                           "decoder": {"heads": heads}}).write(path)
    res = lat.run_benchmark(lat.BenchConfig(models=[family["fp32"], path], data="synth:7",
                                            **{**FAST, "eval_count": 3}), progress=False)
    rows = {r.model: r for r in res.rows}
    assert all(r.status == "ok" for r in res.rows), [r.reason for r in res.rows]
    assert "seed 7" in res.data
    kp, ocr = rows["kp.onnx"], rows["ocr.onnx"]
    assert kp.metric["metric"] == "mae_norm" and kp.metric["count"] == 3 and kp.metric["value"] > 0
    assert ocr.metric["metric"] == "exact_match" and ocr.metric["value"] == 0.0  # a constant text never matches
    assert ocr.metric["higher_is_better"] is True and "cer" in ocr.metric["details"]
    assert "plate crops (32x32)" in ocr.stage_notes["images"] and "evaluation images" in kp.stage_notes["images"]
    assert kp.is_baseline and ocr.is_baseline  # two families, each its own baseline
    assert kp.baseline == kp.label and ocr.baseline == ocr.label and ocr.ratios["e2e"] == 1.0


def test_a_model_of_other_classes_is_not_scored_on_plate_scenes(tmp, family, manifest):
    """The default and ``synth`` sets are plate scenes: a keypoints model whose class head names other
    classes (a meter corner model) would be scored against plate corners, so it gets no metric there, and
    says why; on data given with ``data`` it is scored as any model is."""
    meter = kp_model(tmp / "meterkp.onnx")
    ModelConfig.from_dict({**KP_META, "labels": ["analog", "digital", "illegible"]}).write(meter)
    plate = kp_model(tmp / "platekp.onnx")
    ModelConfig.from_dict({**KP_META, "labels": ["plate"]}).write(plate)
    res = lat.run_benchmark(lat.BenchConfig(models=[meter, plate, family["fp32"]], data="synth:7",
                                            **{**FAST, "eval_count": 2}), progress=False)
    rows = {r.model: r for r in res.rows}
    assert all(r.status == "ok" for r in res.rows), [r.reason for r in res.rows]
    assert rows["meterkp.onnx"].metric is None
    assert "plate scenes" in rows["meterkp.onnx"].metric_note and "analog" in rows["meterkp.onnx"].metric_note
    assert rows["platekp.onnx"].metric["metric"] == "mae_norm" and rows["kp.onnx"].metric["metric"] == "mae_norm"
    assert "meterkp.onnx: metric: not computed" in lat.to_markdown(res)
    given = lat.run_benchmark(lat.BenchConfig(models=[meter], data=manifest, **FAST), progress=False)
    assert given.rows[0].metric["metric"] == "mae_norm" and given.rows[0].metric["count"] == 4


def test_the_default_data_is_the_heldout_set():
    from calibration.metrics import heldout_samples

    s = lat.load_samples(None, 3)
    assert "held-out" in s.description and s.note is None and len(s.samples) == 3 and s.domain == "plates"
    ref = heldout_samples(3)
    for a, b in zip(s.samples, ref):
        assert np.array_equal(a.image, b.image) and np.array_equal(a.corners, b.corners)
    with pytest.raises(InvalidArgumentError, match="eval_count"):
        lat.load_samples(None, 10_000)


# --- command line ----------------------------------------------------------------


def test_main_writes_the_files(family, manifest, tmp, capsys):
    out = tmp / "cli_out"
    rc = lat.main([family["fp32"], family["int8"], "--quick", "--data", manifest, "--threads", "1", "--min-time",
                   "0.004", "--iters", "2", "--out", str(out), "--no-progress"])
    assert rc == 0
    assert {p.name for p in out.iterdir()} == {"latency.md", "latency.json", "latency.csv", "latency.png"}
    text = capsys.readouterr().out
    assert "kp_int8.onnx" in text and "wrote" in text


def test_main_exit_1_when_every_row_fails(family, capsys):
    assert lat.main([family["bad"], "--quick", "--no-metric", "--no-progress"]) == 1
    assert "every row failed" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--batch", "0"], "--batch: expected an integer >= 1"),
    (["--threads", "x"], "--threads: expected an integer >= 1"),
    (["--iters", "-1"], "--iters: expected an integer >= 1"),
    (["--warmup", "-1"], "--warmup: expected an integer >= 0"),
    (["--min-time", "nan"], "--min-time: expected seconds"),
    (["--backend", "tflite"], "--backend: invalid choice"),
])
def test_bad_arguments_exit_2(args, message, capsys):
    with pytest.raises(SystemExit) as e:
        lat.main(["m.onnx", *args])
    assert e.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--device", "tpu"], "device: expected 'auto', 'cpu'"),
    (["--data", "synth:x"], "data: expected 'synth' or 'synth:SEED'"),
    (["--data", "/no/such/dataset"], "data: path: '/no/such/dataset' does not exist"),
])
def test_bad_values_exit_2(family, extra, message, capsys):
    assert lat.main([family["fp32"], "--quick", "--no-progress", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_out_must_be_a_folder(family, tmp, capsys):
    f = tmp / "a_file"
    f.write_text("x")
    with pytest.raises(SystemExit) as e:
        lat.main([family["fp32"], "--out", str(f)])
    assert e.value.code == 2 and "--out" in capsys.readouterr().err


def test_no_bundled_model_exits_2_and_says_how(tmp, monkeypatch, capsys):
    import edgevision.predictor as pred

    monkeypatch.setattr(pred, "MODELS_DIR", tmp / "no_models_here")
    assert lat.main(["--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "no model is bundled" in err and "pass model paths" in err


def test_bundled_models_are_the_default(tmp, family, monkeypatch):
    import shutil

    import edgevision.predictor as pred

    bundled = tmp / "bundled"
    bundled.mkdir()
    shutil.copy(family["fp32"], bundled / "kp.onnx")
    monkeypatch.setattr(pred, "MODELS_DIR", bundled)
    res = lat.run_benchmark(lat.BenchConfig(metric=False, **FAST), progress=False)
    # the bundled fp32, and the fp16 derived from it for the run (the package ships no fp16)
    assert [r.model for r in res.rows] == ["kp.onnx", "kp_fp16.onnx"]
    assert [r.status for r in res.rows] == ["ok", "ok"]
    assert any("kp_fp16.onnx: derived from kp.onnx" in n for n in res.notes)
    assert res.rows[0].metric is None and res.rows[0].metric_note == "--no-metric"


def test_load_samples_errors_and_the_missing_generator(monkeypatch):
    with pytest.raises(InvalidArgumentError, match="synth:SEED"):
        lat.load_samples("synth:", 4)
    with pytest.raises(InvalidArgumentError, match="data"):
        lat.load_samples("", 4)
    monkeypatch.setitem(sys.modules, "calibration.synth", None)  # as if calibration.synth were not installed
    s = lat.load_samples(None, 4)
    assert s.samples == [] and "calibration.synth" in s.note


def test_config_validation():
    with pytest.raises(InvalidArgumentError, match="batch"):
        lat.BenchConfig(batches=(0,)).validate()
    with pytest.raises(InvalidArgumentError, match="backend"):
        lat.BenchConfig(backends=("tflite",)).validate()
    with pytest.raises(InvalidArgumentError, match="models"):
        lat.BenchConfig(models="a.onnx").validate()
    with pytest.raises(InvalidArgumentError, match="warmup"):
        lat.BenchConfig(warmup=-1).validate()
    for bad in ((), ("decode",), "infer"):
        with pytest.raises(InvalidArgumentError, match="stages"):
            lat.BenchConfig(stages=bad).validate()


def test_named_variants_one_stage_and_the_per_variant_view(family, manifest):
    """run_variants (the engine of calibration.quantize.report): the names and order given, one family,
    the first float variant (by the model inspector) as the baseline, only the stages asked for, the
    noise on the last of them; variant_rows / variants_markdown: one row per variant."""
    from calibration.readers import read_source

    samples = read_source(manifest).samples
    config = lat.BenchConfig(**{**FAST, "stages": ("infer",), "devices": ["cpu"]})
    res = lat.run_variants({"shifted": family["int8"], "plain": family["fp32"]}, config, samples=samples)
    assert [r.model for r in res.rows] == ["shifted", "plain"] and {r.family for r in res.rows} == {"variants"}
    shifted, plain = res.rows
    assert shifted.is_baseline and not plain.is_baseline and plain.baseline == shifted.label  # both float: the first
    for r in res.rows:
        assert r.status == "ok" and r.quantization == "none"
        assert set(k for k, v in r.stages.items() if v is not None) == {"infer"} and r.throughput_ips is None
    assert shifted.noise_pct is not None and plain.noise_pct == shifted.noise_pct
    rows = lat.variant_rows(res, "infer")
    assert [r["variant"] for r in rows] == ["shifted", "plain"] and rows[0]["latency_ratio"] == 1.0
    assert rows[1]["p50_ms"] == plain.p50("infer") and rows[1]["size_ratio"] == pytest.approx(1.0)
    assert rows[0]["metric"] == "mae_norm" and rows[1]["value"] == pytest.approx(0.01, abs=1e-3)
    assert rows[1]["metric_delta"] == pytest.approx(rows[1]["value"] / rows[0]["value"] - 1)
    assert rows[0]["evaluation"]["count"] == 4 and "details" in rows[0]["evaluation"]
    md = lat.variants_markdown({"environment": res.environment, "baseline": "shifted", "rows": rows, "repeats": 2})
    assert "p50 of `Predictor.infer` on one batch-1 input (median of 2 repeats' medians)" in md
    assert md.count("\n| shifted |") == 1 and md.count("\n| plain |") == 1
    none = lat.run_variants({"only": family["fp32"]}, lat.BenchConfig(**{**FAST, "metric": False}), samples=[])
    assert none.rows[0].stage_notes["images"] == "synthetic 640x480 frames" and none.rows[0].metric is None
    with pytest.raises(InvalidArgumentError, match="variants"):
        lat.run_variants({}, config)


def test_edgevision_bench_help():
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    r = subprocess.run([sys.executable, "-m", "edgevision", "bench", "--help"], capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert "usage: edgevision bench" in r.stdout and "--eval-count" in r.stdout and "--no-metric" in r.stdout
    r = subprocess.run([sys.executable, "-m", "edgevision", "--help"], capture_output=True, text=True, timeout=120,
                       env=env)
    assert r.returncode == 0 and "bench" in r.stdout


def test_edgevision_bench_forwards_and_reports_a_missing_checkout(family, monkeypatch, capsys):
    assert cli.main(["bench", family["fp32"], "--device", "tpu", "--no-progress"]) == 2
    assert "edgevision bench: error: device" in capsys.readouterr().err

    def missing() -> None:
        raise ModuleNotFoundError("No module named 'benchmarks'", name="benchmarks")

    monkeypatch.setattr(cli, "_import_bench", missing)
    assert cli.main(["bench", "--help"]) == 2
    err = capsys.readouterr().err
    assert "not importable" in err and "checkout" in err


# --- Predictor stage API ---------------------------------------------------------


def test_stages_give_the_same_results_as_a_call(family):
    p = Predictor(family["fp32"])
    images = [image(120, 200, 1), image(90, 90, 2), image(150, 110, 3)]
    blob, transforms = p.preprocess(images)
    assert blob.shape == (3, 3, 64, 96) and blob.dtype == np.float32 and len(transforms) == 3
    outputs = p.infer(blob)
    assert isinstance(outputs, list) and outputs[0].shape == (3, 8)
    staged = p.postprocess(outputs, transforms, images)
    direct = p(images)
    for a, b in zip(staged, direct):
        np.testing.assert_array_equal(a.keypoints, b.keypoints)
    assert p.batch_size is None


def test_stages_with_a_fixed_batch_axis(tmp):
    p = Predictor(kp_model(tmp / "fixed2.onnx", batch=2))
    assert p.batch_size == 2
    img = image(100, 140, 4)
    blob, transforms = p.preprocess([img])
    assert blob.shape[0] == 2 and len(transforms) == 1  # filled up to the batch with the last image
    (res,) = p.postprocess(p.infer(blob), transforms, [img])
    np.testing.assert_array_equal(res.keypoints, p(img).keypoints)
    with pytest.raises(InvalidArgumentError, match="images: 3 images.*fixed at 2"):
        p.preprocess([img] * 3)


def test_stage_errors(family):
    p = Predictor(family["fp32"])
    with pytest.raises(InvalidArgumentError, match="images: expected a non-empty list"):
        p.preprocess([])
    with pytest.raises(InvalidArgumentError, match="images: expected a non-empty list"):
        p.preprocess(image(10, 10, 0))  # one array, not a list
    img = image(50, 60, 1)
    blob, transforms = p.preprocess([img])
    with pytest.raises(InvalidArgumentError, match="transforms: expected one transform per image"):
        p.postprocess(p.infer(blob), transforms * 2, [img])


def test_default_run_derives_the_fp16_variant(family, tmp_path):
    """The package ships fp32 and int8; derive_fp16 adds an fp16 beside each fp32 that lacks one."""
    paths, notes = lat.derive_fp16([family["fp32"], family["int8"]], tmp_path)
    assert [Path(p).name for p in paths] == ["kp_fp16.onnx"]
    assert ModelConfig.read(paths[0]).extra["quantization"]["mode"] == "fp16"
    assert "derived from kp.onnx" in notes[0]
    # an fp16 already among the models is used as it is
    assert lat.derive_fp16([family["fp32"], family["bad"]], tmp_path) == ([], [])
    grouped = lat.group_variants([family["fp32"], family["int8"], *paths])
    assert [v.precision for v in grouped["kp"]][0] == "fp32"
    assert sorted(v.precision for v in grouped["kp"]) == ["fp16", "fp32", "int8"]

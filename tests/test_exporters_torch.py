"""exporters: PyTorch -> self-describing ONNX, the torch zoo, parity, weights and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is a host-side extra (pip install -e '.[test]')")

import edgevision  # noqa: E402
from edgevision import decoders  # noqa: E402
from edgevision.errors import InvalidArgumentError, InvalidMetadataError, InvalidTypeError  # noqa: E402
from exporters import export_arch, export_torch, load_weights, zoo  # noqa: E402
from exporters.__main__ import main as cli  # noqa: E402
from exporters.errors import ParityError, UnknownArchitectureError, UnsupportedOperatorError, WeightsError  # noqa: E402
from exporters.finalize import procedural_images  # noqa: E402
from exporters.parity import check_parity, compare  # noqa: E402

# Small inputs keep CI fast; architecture code paths are the same at full size.
SMALL = {
    "lpl_resnet18": {"size": 64},
    "plate_ocr_cnn": {},
    "plate_ocr_crnn": {"num_slots": 8},
    "plate_ocr_ctc": {"num_slots": 8},
    "yolo_tiny": {"size": 64},
    "plate_pose": {"size": 64, "width": 8, "neck": 16},
    "tutorial_mlp": {},
    "tutorial_lstm": {},
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """Every torch zoo architecture, exported once (seeded random init) with parity on."""
    out = {}
    d = tmp_path_factory.mktemp("zoo")
    for name, kw in SMALL.items():
        torch.manual_seed(0)
        built = zoo.build(name, **kw)
        if name in ("yolo_tiny", "plate_pose"):  # make some boxes pass the threshold so decoding is exercised
            for conv in built.model.cls:
                torch.nn.init.constant_(conv.bias, 0.5)
        res = export_torch(built.model, torch.zeros(2, *built.input_shape), d / f"{name}.onnx",
                           **built.export_kwargs())
        out[name] = (built, res)
    return out


def test_every_torch_arch_is_registered() -> None:
    assert set(SMALL) == set(zoo.names("torch"))


@pytest.mark.parametrize("name", list(SMALL))
def test_export_parity_and_metadata(exported: dict, name: str) -> None:
    built, res = exported[name]
    assert res.parity is not None and res.parity.ok
    assert {r.inputs for r in res.parity.rows} == {"random", "representative"}
    assert res.parity.max_abs < 1e-4
    cfg = edgevision.ModelConfig.read(res.path)
    assert cfg.task == built.config["task"]
    assert cfg.name == name
    assert cfg.input_name == "images"
    assert [o["name"] for o in res.info["outputs"]] == built.config["output_names"]
    # every input and output keeps a symbolic batch axis
    assert all(isinstance(i["shape"][0], str) for i in res.info["inputs"] + res.info["outputs"])


@pytest.mark.parametrize("name", list(SMALL))
def test_dynamic_batch_runs(exported: dict, name: str) -> None:
    import onnxruntime as ort

    built, res = exported[name]
    sess = ort.InferenceSession(str(res.path), providers=["CPUExecutionProvider"])
    for n in (1, 3):
        x = np.random.default_rng(n).standard_normal((n, *built.input_shape)).astype(np.float32)
        outs = sess.run(None, {"images": x})
        with torch.no_grad():
            ref = built.model.eval()(torch.from_numpy(x))
        ref = ref if isinstance(ref, tuple) else (ref,)
        for o, r in zip(outs, ref):
            assert o.shape[0] == n
            np.testing.assert_allclose(o, r.numpy(), atol=1e-4, rtol=1e-3)


def _images(built, n: int = 2) -> list[np.ndarray]:
    imgs = procedural_images(n, (90, 150), seed=3)
    if built.config["preprocess"].get("channels") == 1:
        import cv2

        imgs = [cv2.cvtColor(i, cv2.COLOR_BGR2GRAY) for i in imgs]
    return imgs


@pytest.mark.parametrize("name", list(SMALL))
def test_predictor_matches_framework_decoding(exported: dict, name: str) -> None:
    """Predictor(path) with no overrides == the same kernel input through torch, then the stock decoder."""
    built, res = exported[name]
    p = edgevision.Predictor(str(res.path))
    imgs = _images(built)
    got = p(imgs)
    cfg = p.config
    size, kw = cfg.preprocess_kwargs()
    blob, ts = edgevision.letterbox_batch(imgs, size, **kw)
    with torch.no_grad():
        out = built.model.eval()(torch.from_numpy(blob))
    outs = [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]
    d = cfg.decoder
    if cfg.task == "keypoints":
        want = decoders.decode_keypoints(outs[0], ts, num_keypoints=d["num_keypoints"], normalized=True)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g.keypoints, w.keypoints, atol=1e-3)
    elif cfg.task == "slots_ocr":
        rows = outs[len(d["heads"])] if "rows" in d else None
        want = decoders.decode_slots_ocr(outs[:len(d["heads"])], d["heads"], rows=rows)
        assert [g.text for g in got] == [w.text for w in want]
        assert [g.rows for g in got] == [w.rows for w in want]
        assert ("rows" in d) == (name == "plate_ocr_crnn") and (rows is None or all(g.rows in (1, 2) for g in got))
        assert len(got[0].char_confidences) == len(built.config["decoder"]["heads"][1]["slots"]) + 1
    elif cfg.task == "ctc_ocr":
        want = decoders.decode_ctc(outs[0], cfg.charset, blank=d["blank"], layout=d["layout"], rows=outs[1])
        assert [g.text for g in got] == [w.text for w in want]
        assert [g.rows for g in got] == [w.rows for w in want] and all(g.rows in (1, 2) for g in got)
        assert outs[0].shape[1:] == (32, len(cfg.charset) + 1)  # 4 time steps a slot, the blank first
    elif cfg.task == "detection":
        want = decoders.decode_detection(outs[0], ts, layout="yolov8", conf_threshold=d["conf_threshold"],
                                         iou_threshold=d["iou_threshold"], max_det=d["max_det"])
        assert sum(len(w.boxes) for w in want) > 0
        for g, w in zip(got, want):
            np.testing.assert_allclose(g.boxes, w.boxes, atol=1e-2)
            np.testing.assert_array_equal(g.classes, w.classes)
    elif cfg.task == "pose":
        want = decoders.decode_pose(outs[0], ts, kpt_shape=d["kpt_shape"], conf_threshold=d["conf_threshold"],
                                    iou_threshold=d["iou_threshold"], max_det=d["max_det"])
        assert sum(len(w.boxes) for w in want) > 0
        for g, w in zip(got, want):
            np.testing.assert_allclose(g.boxes, w.boxes, atol=1e-2)
            np.testing.assert_allclose(g.keypoints, w.keypoints, atol=1e-2)
    elif cfg.task == "classification":
        want = decoders.decode_classification(outs[0], top_k=d["top_k"], softmax=True)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g.top_classes, w.top_classes)
    else:  # pragma: no cover - every zoo task is listed above
        pytest.fail(f"untested task {cfg.task}")


def test_export_does_not_change_training_mode(tmp_path: Path) -> None:
    built = zoo.build("tutorial_mlp")
    built.model.train()
    export_torch(built.model, torch.zeros(2, 1, 28, 28), tmp_path / "m.onnx", parity=False, **built.export_kwargs())
    assert built.model.training


def test_batch_of_one_sample_still_exports_dynamic(tmp_path: Path) -> None:
    built = zoo.build("tutorial_mlp")
    res = export_torch(built.model, torch.zeros(1, 1, 28, 28), tmp_path / "m.onnx", **built.export_kwargs())
    assert isinstance(res.info["inputs"][0]["shape"][0], str)


def test_torchscript_exporter_also_works(tmp_path: Path) -> None:
    built = zoo.build("plate_ocr_cnn")
    res = export_torch(built.model, torch.zeros(2, *built.input_shape), tmp_path / "m.onnx", exporter="torchscript",
                       **built.export_kwargs())
    assert res.parity.ok and res.info["exporter"] == "torchscript"
    assert isinstance(res.info["outputs"][1]["shape"][0], str)


# --- errors ---------------------------------------------------------------------------------


class _Fn(torch.nn.Module):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


RAW = {"task": "raw", "preprocess": {"size": [8, 8], "channels": 1}}


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
def test_unsupported_operator_is_named(tmp_path: Path, exporter: str) -> None:
    m = _Fn(lambda x: torch.histc(x, bins=4).expand(x.shape[0], 4))
    with pytest.raises(UnsupportedOperatorError, match="histc") as ei:
        export_torch(m, torch.rand(2, 1, 8, 8), tmp_path / "u.onnx", exporter=exporter, **RAW)
    assert "histc" in ei.value.operator
    assert not (tmp_path / "u.onnx").exists()
    assert list(tmp_path.iterdir()) == []  # the temporary file is gone too


def test_parity_failure_reports_numbers(tmp_path: Path) -> None:
    # A data-dependent Python branch: the tracer records the branch the sample takes (x * 2 for
    # the all-ones sample); on inputs taking the other branch the module computes -x.
    m = _Fn(lambda x: x * 2 if bool(x.mean() > 0.5) else -x)
    with pytest.raises(ParityError, match=r"max_abs=") as ei:
        export_torch(m, torch.ones(2, 1, 8, 8), tmp_path / "p.onnx", exporter="torchscript", **RAW)
    rep = ei.value.report
    assert not rep.ok and rep.max_abs > 0.1
    assert "FAIL" in str(ei.value)
    assert not (tmp_path / "p.onnx").exists()


def test_compare_figures() -> None:
    r = compare(np.array([1.0, -2.0, 0.0]), np.array([1.0, -2.002, 1e-5]), inputs="x", output="y", atol=1e-4,
                rtol=1e-3)
    assert r.max_abs == pytest.approx(0.002)
    assert r.max_rel == pytest.approx(10.0)  # 1e-5 against the 1e-6 floor
    assert r.ok  # 0.002 <= 1e-4 + 1e-3*2; 1e-5 <= 1e-4
    bad = compare(np.zeros(3), np.array([0, 0, 1e-3]), inputs="x", output="y", atol=1e-4, rtol=0)
    assert not bad.ok and bad.worst_excess == pytest.approx(9e-4)
    shape = compare(np.zeros(3), np.zeros(4), inputs="x", output="y", atol=1, rtol=1)
    assert not shape.ok
    nan = compare(np.array([np.nan, 1]), np.array([0.0, 1]), inputs="x", output="y", atol=1, rtol=1)
    assert not nan.ok


def test_check_parity_with_wrong_reference(exported: dict) -> None:
    built, res = exported["tutorial_mlp"]
    x = np.zeros((2, 1, 28, 28), np.float32)
    with pytest.raises(ParityError, match="logits"):
        check_parity(str(res.path), lambda b: [np.full((len(b), 10), 5.0, np.float32)], {"zeros": x})


def test_weights_wrong_architecture_names_keys(tmp_path: Path) -> None:
    torch.save(zoo.build("tutorial_lstm").model.state_dict(), tmp_path / "lstm.pt")
    with pytest.raises(WeightsError, match=r"missing keys .*net\.1\.weight.*unexpected keys .*lstm\.weight_ih_l0") as ei:
        load_weights(zoo.build("tutorial_mlp").model, tmp_path / "lstm.pt")
    assert "net.1.weight" in ei.value.missing and "fc.weight" in ei.value.unexpected


def test_weights_shape_mismatch_and_checkpoint_dict(tmp_path: Path) -> None:
    small = zoo.build("tutorial_lstm", classes=5).model
    torch.save({"model": small.state_dict(), "step": 3}, tmp_path / "ckpt.pt")
    with pytest.raises(WeightsError, match=r"shape mismatch: fc\.weight file \(5, 120\) vs model \(15, 120\)"):
        load_weights(zoo.build("tutorial_lstm").model, tmp_path / "ckpt.pt")
    same = zoo.build("tutorial_lstm", classes=5).model
    load_weights(same, tmp_path / "ckpt.pt")
    assert torch.equal(same.fc.weight, small.fc.weight)


def test_weights_bad_file(tmp_path: Path) -> None:
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(WeightsError, match="junk.pt: not a PyTorch weights file"):
        load_weights(zoo.build("tutorial_mlp").model, tmp_path / "junk.pt")
    with pytest.raises(WeightsError, match="no such file"):
        load_weights(zoo.build("tutorial_mlp").model, tmp_path / "missing.pt")


def test_argument_errors(tmp_path: Path) -> None:
    built = zoo.build("tutorial_mlp")
    kw = built.export_kwargs()
    with pytest.raises(InvalidArgumentError, match=r"sample_input: expected a batch of shape \(N, 1, 28, 28\)"):
        export_torch(built.model, torch.zeros(2, 3, 28, 28), tmp_path / "m.onnx", **kw)
    with pytest.raises(InvalidArgumentError, match="out: expected a path ending in .onnx"):
        export_torch(built.model, torch.zeros(2, 1, 28, 28), tmp_path / "m.bin", **kw)
    with pytest.raises(InvalidTypeError, match="model: expected a torch.nn.Module"):
        export_torch(object(), torch.zeros(2, 1, 28, 28), tmp_path / "m.onnx", **kw)
    with pytest.raises(InvalidArgumentError, match="exporter"):
        export_torch(built.model, torch.zeros(2, 1, 28, 28), tmp_path / "m.onnx", exporter="tf", **kw)
    bad = dict(kw, preprocess={"size": [28, 28], "channels": 1, "mean": "zero"})
    with pytest.raises(InvalidMetadataError, match="preprocess.mean"):
        export_torch(built.model, torch.zeros(2, 1, 28, 28), tmp_path / "m.onnx", **bad)
    with pytest.raises(InvalidArgumentError, match="preprocess: expected a dict with at least 'size'"):
        export_torch(built.model, torch.zeros(2, 1, 28, 28), tmp_path / "m.onnx", **dict(kw, preprocess={}))
    with pytest.raises(UnknownArchitectureError, match="arch: unknown architecture 'resnet50'"):
        zoo.build("resnet50")
    with pytest.raises(InvalidArgumentError, match="num_slots"):
        zoo.build("plate_ocr_crnn", num_slots=1)
    assert list(tmp_path.iterdir()) == []


# --- CLI ---------------------------------------------------------------------------------------


def test_cli_export_with_weights(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    torch.manual_seed(1)
    m = zoo.build("tutorial_lstm").model
    torch.save(m.state_dict(), tmp_path / "w.pt")
    assert cli(["torch", "--arch", "tutorial_lstm", "--weights", str(tmp_path / "w.pt"),
                "--out", str(tmp_path / "l.onnx")]) == 0
    out = capsys.readouterr().out
    assert "parity" in out and "ok" in out
    import onnxruntime as ort

    x = np.random.default_rng(0).standard_normal((2, 1, 30, 30)).astype(np.float32)
    got = ort.InferenceSession(str(tmp_path / "l.onnx")).run(None, {"images": x})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, m.eval()(torch.from_numpy(x)).numpy(), atol=1e-4)


def test_cli_arch_args_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli(["torch", "--arch", "plate_ocr_cnn", "--arg", "num_slots=8", "--no-parity",
                "--out", str(tmp_path / "o.onnx")]) == 0
    cfg = edgevision.ModelConfig.read(tmp_path / "o.onnx")
    assert cfg.preprocess_kwargs()[0] == (64, 256)
    (tmp_path / "bad.pt").write_text("x")
    assert cli(["torch", "--arch", "tutorial_mlp", "--weights", str(tmp_path / "bad.pt"),
                "--out", str(tmp_path / "x.onnx")]) == 2
    assert "not a PyTorch weights file" in capsys.readouterr().err
    assert cli(["list"]) == 0
    listing = capsys.readouterr().out
    assert all(n in listing for n in zoo.names())


def test_importing_exporters_imports_no_framework() -> None:
    code = ("import sys, exporters, exporters.zoo; "
            "print(json.dumps([m for m in ('torch', 'keras', 'onnxslim') if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert json.loads(out.stdout) == []


def test_exported_file_has_normal_permissions(exported: dict) -> None:
    import os
    import stat

    umask = os.umask(0)
    os.umask(umask)
    _, res = exported["tutorial_mlp"]
    assert stat.S_IMODE(res.path.stat().st_mode) == 0o666 & ~umask

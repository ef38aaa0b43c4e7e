"""training.from_onnx: a torch model recovered from an exported ONNX file computes what the file computes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is a host-side extra (pip install -e '.[test]')")

import edgevision  # noqa: E402
from edgevision.errors import InvalidArgumentError  # noqa: E402
from exporters.zoo import build  # noqa: E402
from training import ocr  # noqa: E402
from training.from_onnx import check_against_onnx, recalibrate_batchnorm, state_from_onnx  # noqa: E402

BUNDLED_OCR = Path(edgevision.__file__).parent / "models" / "plate_ocr.onnx"


def _inputs(n: int = 6, seed: int = 0) -> np.ndarray:
    """Normalized plate-like inputs: smooth random images, not white noise."""
    rng = np.random.default_rng(seed)
    low = rng.uniform(0, 255, (n, 8, 32, 3)).astype(np.float32)
    imgs = np.stack([np.clip(np.kron(im, np.ones((8, 8, 1), np.float32)), 0, 255) for im in low])
    x = (imgs / 255.0 - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2).astype(np.float32))


def _recovered() -> tuple[torch.nn.Module, list[str]]:
    """The bundled OCR's architecture (``plate_ocr_ctc``) with the bundled file's own class count (its charset)."""
    from exporters.zoo.torch_models import PlateOCR

    cfg = edgevision.Predictor(str(BUNDLED_OCR), warmup=False).config
    assert cfg.task == "ctc_ocr"
    model = PlateOCR(8, lstm=True, rows=True, ctc_classes=len(cfg.charset) + 1)
    state, folded = state_from_onnx(model, BUNDLED_OCR)
    model.load_state_dict(state)
    return model, folded


def test_bundled_ocr_recovers_exactly() -> None:
    """Every tensor comes back (LSTM gates reordered, Linear weights transposed, BatchNorms
    folded into their convolutions) and the module matches ONNX Runtime on every output."""
    model, folded = _recovered()
    assert folded == ["cnn.1", "cnn.6", "cnn.11"]
    x = _inputs()
    assert check_against_onnx(model, BUNDLED_OCR, x, atol=1e-4) <= 1e-4
    # The recovered model reads like the file: same argmax per time step.
    import onnxruntime as ort

    sess = ort.InferenceSession(str(BUNDLED_OCR), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {"images": x})
    model.eval()
    with torch.no_grad():
        got = model(torch.from_numpy(x))
    for g, r in zip(got, ref):
        assert np.array_equal(g.numpy().argmax(-1), r.argmax(-1))


def test_recalibrated_batchnorm_is_identity_in_eval_and_on_its_batch_in_training() -> None:
    model, folded = _recovered()
    x = torch.from_numpy(_inputs(8, seed=1))
    recalibrate_batchnorm(model, folded, [x])
    # Eval mode: still exactly the file's function.
    assert check_against_onnx(model, BUNDLED_OCR, x.numpy(), atol=1e-4) <= 1e-4
    bn = dict(model.named_modules())["cnn.1"]
    assert float(bn.running_var.min()) > 0 and not torch.allclose(bn.running_mean, torch.zeros_like(bn.running_mean))
    assert torch.allclose(bn.weight, (bn.running_var + bn.eps).sqrt())
    # Training-mode BatchNorm on the batch it was calibrated on normalizes by the same statistics.
    model.eval()
    for n in folded:
        dict(model.named_modules())[n].train()
    with torch.no_grad():
        got = model(x)
    model.eval()
    with torch.no_grad():
        want = model(x)
    for g, w in zip(got, want):
        assert float((g - w).abs().max()) < 1e-3


def test_bundled_detector_recovers_with_its_folded_biases() -> None:
    """The detector's convolutions have no bias of their own: torch's exporter stores each folded
    BatchNorm's shift as ``<conv>.weight_bias``, which comes back as that BatchNorm's bias, and the
    recalibration keeps it (eval mode still computes the file's function)."""
    path = Path(edgevision.__file__).parent / "models" / "plate_pose.onnx"
    model = build("plate_pose", size=384, width=16).model
    state, folded = state_from_onnx(model, path)
    model.load_state_dict(state)
    assert "stem.0.1" in folded and float(state["stem.0.1.bias"].abs().max()) > 0
    rng = np.random.default_rng(2)
    x = np.kron(rng.standard_normal((1, 3, 12, 12)), np.ones((1, 1, 32, 32))).astype(np.float32)
    assert check_against_onnx(model, path, x, atol=1e-3) <= 1e-3
    recalibrate_batchnorm(model, folded, [torch.from_numpy(x)])
    assert not torch.allclose(dict(model.named_modules())["stem.0.1"].running_mean, torch.zeros(16))
    assert check_against_onnx(model, path, x, atol=1e-3) <= 1e-3


def test_wrong_architecture_and_bad_files_are_clear_errors(tmp_path: Path) -> None:
    cnn = build("plate_ocr_cnn", num_slots=8, rows=True).model  # no LSTM, different head inputs
    with pytest.raises(InvalidArgumentError, match="init: .*LSTM"):
        state_from_onnx(cnn, BUNDLED_OCR)
    with pytest.raises(InvalidArgumentError, match="init: .* is not a file"):
        state_from_onnx(cnn, tmp_path / "missing.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(InvalidArgumentError, match="init: .* is not a readable ONNX model"):
        state_from_onnx(cnn, bad)


def test_ocr_recipe_fine_tunes_from_the_bundled_onnx(tmp_path: Path) -> None:
    """``--init model.onnx``: the run starts from the file's weights (its first-batch
    accuracy is the bundled model's, not chance) and records where they came from."""
    s = ocr.train(tmp_path, samples=64, epochs=1, batch=16, lr=1e-5, workers=1, progress=False, threads=1,
                  precision="fp32", init=BUNDLED_OCR, head="ctc")
    init = s["init"]
    assert init["weights"] == "plate_ocr.onnx" and init["fresh"] == []
    assert init["from_onnx"]["max_abs_error"] <= 1e-3
    assert init["from_onnx"]["batchnorm_recalibrated"] == ["cnn.1", "cnn.6", "cnn.11"]
    assert s["train_exact_last100"] > 0.5, s  # chance is ~0 for 7-8 characters


def test_grown_heads_keep_the_files_classes_and_add_fresh_ones(tmp_path: Path) -> None:
    """An OCR exported with seed 003's 31 provinces and 35 symbols starts a model with the
    grown charsets (使; 警学挂港澳领): the old classes' rows are the file's, the new rows the
    model's fresh init, and the old classes' logits match ONNX Runtime."""
    from exporters.zoo.torch_models import PLATE_PROVINCES, PLATE_SYMBOLS, PlateOCR

    import exporters

    built = build("plate_ocr_crnn", num_slots=8)
    old = PlateOCR(8, lstm=True, num_provinces=31, num_symbols=35, rows=True).eval()
    cfg = built.config
    heads = [dict(cfg["decoder"]["heads"][0], charset=list(PLATE_PROVINCES[:31])),
             dict(cfg["decoder"]["heads"][1], charset=list(PLATE_SYMBOLS[:35]))]
    path = tmp_path / "old.onnx"
    exporters.export_torch(old, torch.from_numpy(_inputs(1)), path, task="slots_ocr", preprocess=cfg["preprocess"],
                           decoder=dict(cfg["decoder"], heads=heads), output_names=cfg["output_names"],
                           parity=False)
    model = built.model
    assert (len(PLATE_PROVINCES), len(PLATE_SYMBOLS)) == (32, 41)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(InvalidArgumentError, match="provides no tensor"):
        state_from_onnx(model, path)  # growing is opt-in
    grown: list[str] = []
    state, _ = state_from_onnx(model, path, grown=grown)
    assert sorted(grown) == ["province.bias", "province.weight", "symbols.bias", "symbols.weight"]
    ref = old.state_dict()
    assert torch.equal(state["symbols.weight"][:35], ref["symbols.weight"])
    assert torch.equal(state["symbols.weight"][35:], fresh["symbols.weight"][35:])
    assert torch.equal(state["province.bias"][:31], ref["province.bias"])
    model.load_state_dict(state)
    assert check_against_onnx(model, path, _inputs(4), atol=1e-4, grown=True) <= 1e-4
    with pytest.raises(InvalidArgumentError, match="outputs|shape"):
        check_against_onnx(model, path, _inputs(4), atol=1e-4)

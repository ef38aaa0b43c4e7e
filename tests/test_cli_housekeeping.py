"""The CLI is a thin layer: library code never imports it, its library functions live in library modules
(model_info, the sample scenes), and `bench` is offered only where the repository's benchmarks/ is."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import edgevision
import edgevision.cli as cli
from edgevision.modelinfo import model_info
from edgevision.samples import PLATES_DIR, REAL_PLATES_DIR, scene_items

import models
from test_plates import _kp_meta, _ocr

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    """Absolute names of the modules a file imports (relative imports resolved inside edgevision/)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
    return names


def test_no_library_code_imports_the_cli() -> None:
    files = [p for d in ("edgevision", "calibration", "exporters", "training", "benchmarks")
             for p in (ROOT / d).rglob("*.py")]
    assert len(files) > 20
    offenders = [str(p.relative_to(ROOT)) for p in files
                 if p.name not in ("cli.py", "__main__.py") and "edgevision.cli" in _imports(p)]
    assert offenders == []


def test_model_info_describes_a_file_and_a_loaded_predictor_alike(tmp_path: Path) -> None:
    path = models.save(models.with_metadata(models.keypoints_model(), _kp_meta()), tmp_path / "kp.onnx")
    from_file = model_info(path)
    loaded = model_info(edgevision.Predictor(path, threads=1))
    meta, resolved = from_file.pop("metadata"), loaded.pop("metadata")
    assert from_file == loaded
    assert meta["task"] == resolved["task"] == "keypoints"
    assert resolved["input"]["name"] == "images"  # a Predictor's metadata is its resolved configuration
    assert from_file["quantization"]["graph"]["kind"] == "none"
    json.dumps(from_file)
    assert "quantization" in model_info(path, quantization=False)
    assert "graph" not in model_info(path, quantization=False)["quantization"]


def test_the_sample_scenes_are_package_data() -> None:
    assert PLATES_DIR.parent.parent == Path(edgevision.__file__).resolve().parent
    folder, items = scene_items()
    assert folder == PLATES_DIR.parent and len(items) == 10  # 8 synthetic scenes, then 2 real CCPD photographs
    assert all(p.is_file() and label and label["text"] and len(label["corners"]) == 4 for p, label in items)
    assert [p.parent.parent for p, _ in items] == [PLATES_DIR] * 8 + [REAL_PLATES_DIR] * 2
    assert all(label["source"].startswith("CCPD (") for _, label in items[8:])
    assert "MIT License" in (REAL_PLATES_DIR / "NOTICE").read_text(encoding="utf-8")


def test_demo_reads_the_bundled_scenes_from_any_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture) -> None:
    kp = models.save(models.with_metadata(models.keypoints_model(), _kp_meta()), tmp_path / "kp.onnx")
    monkeypatch.chdir(tmp_path)  # no samples/ folder here
    assert cli.main(["demo", "--corners", kp, "--ocr", _ocr(tmp_path), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "reading 10 image(s)" in out and "exact text 0/10" in out  # the tiny OCR reads "沪A2" everywhere
    assert len(list((tmp_path / "out").glob("*_plate.jpg"))) == 10


def test_scene_sources_and_their_errors(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"")
    assert scene_items(tmp_path) == (tmp_path, [(tmp_path / "a.png", None)])
    assert scene_items(tmp_path / "a.png") == (tmp_path, [(tmp_path / "a.png", None)])
    with pytest.raises(edgevision.EdgeVisionError, match="SOURCE: .*nope: no such file"):
        scene_items(tmp_path / "nope", "SOURCE")
    (tmp_path / "manifest.jsonl").write_text('{"image": "a.png"}\n\nnot json\n', encoding="utf-8")
    with pytest.raises(edgevision.InvalidArgumentError, match=r"manifest.jsonl:3: not a manifest line"):
        scene_items(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(edgevision.EdgeVisionError, match="no images"):
        scene_items(empty)


def test_bench_is_offered_only_in_a_checkout(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    assert cli._bench_root() == ROOT  # this checkout (editable install)
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "bench" in capsys.readouterr().out
    monkeypatch.setattr(cli, "_bench_root", lambda: None)  # as installed from the wheel
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "bench" not in capsys.readouterr().out

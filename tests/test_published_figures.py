"""The accuracy figures the model cards and the README publish are what the bundled files do.

Each test re-evaluates a bundled model on the fixed synthetic held-out set (500 scenes,
``HELDOUT_SEED``; the real sets live outside the repository, so their figures are checked by
``tests/test_bundled_models.py`` on the real CCPD samples the repository carries) and compares
the result with the figure parsed from the card and the README. Margin: 0.5 percentage point
for exact match, 3% relative for corner MAE (ONNX Runtime builds may round differently; the
evaluation itself is deterministic).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import edgevision
from calibration.metrics import evaluate, heldout_samples

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "edgevision" / "models"
README = (ROOT / "README.md").read_text(encoding="utf-8")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def heldout():
    return heldout_samples()


def _card_synthetic(model: str) -> tuple[float, float]:
    """(every plate, legible plates) exact match of ``model`` in plate_ocr.md's side-by-side table."""
    card = (MODELS / "plate_ocr.md").read_text(encoding="utf-8")
    m = re.search(rf"^\| {re.escape(model)} \|(?:[^|\n]*\|){{6}} ([\d.]+)% \(([\d.]+)%\) \|", card, re.M)
    assert m, f"no side-by-side row for {model} in plate_ocr.md"
    return float(m.group(1)) / 100, float(m.group(2)) / 100


@pytest.mark.parametrize("model", ["plate_ocr.onnx", "plate_ocr_int8.onnx"])
def test_ocr_synthetic_figures_of_the_card_and_readme(model: str, heldout) -> None:
    every, legible = _card_synthetic(model)
    res = evaluate(edgevision.Predictor(model), heldout)
    assert res.count == 500
    assert res.value == pytest.approx(every, abs=0.005)
    assert res.details["legible"]["exact_match"] == pytest.approx(legible, abs=0.005)
    # The README's real-data table carries the same synthetic figures in its row.
    assert f"{every * 100:.1f}% ({legible * 100:.1f}%)" in README


def test_corner_mae_of_the_card_and_readme(heldout) -> None:
    card = (MODELS / "lpl_resnet.md").read_text(encoding="utf-8")
    m = re.search(r"^\| mae_norm \| ([\d.]+) \|", card, re.M)
    assert m, "no mae_norm row in lpl_resnet.md"
    published = float(m.group(1))
    res = evaluate(edgevision.Predictor("lpl_resnet.onnx"), heldout)
    assert res.value == pytest.approx(published, rel=0.03)
    assert f"**{published:.5f}**" in README  # the README's held-out table

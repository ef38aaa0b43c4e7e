"""Devices, evaluation samples and the images each row is timed on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from edgevision.errors import EdgeVisionError, InvalidArgumentError

from .variants import OCR_TASKS, SYNTH_PREFIX


def default_devices() -> list[str]:
    """``cpu``, plus ``cuda`` when this onnxruntime has the CUDA provider. The TensorRT
    execution provider (``tensorrt``) runs only when asked for: it builds an engine per
    model and input shape at load, which takes minutes."""
    import onnxruntime as ort

    return ["cpu"] + (["cuda"] if "CUDAExecutionProvider" in ort.get_available_providers() else [])


def check_device(device: str) -> None:
    """Raises InvalidArgumentError (naming ``device``) when this onnxruntime cannot run it."""
    import onnxruntime as ort

    from edgevision.backends.onnxruntime import _providers_for

    _providers_for(device, ort.get_available_providers())


@dataclass
class SampleSet:
    """Labelled (or not) samples for the metric, and where they came from."""

    samples: list[Any]
    description: str
    note: str | None = None
    #: What the samples show when the benchmark made them: ``"plates"`` for the synthetic plate scenes (the
    #: default set, ``synth[:SEED]``), whose labels are plate corners, boxes and texts; None for a given source.
    domain: str | None = None


#: :attr:`SampleSet.domain` of the synthetic plate scenes.
PLATES = "plates"


def scores_plates(predictor: Any) -> bool:
    """Whether a model's task metric means something on plate scenes: it names no classes (a plate corner
    regressor, a plate OCR), or ``plate`` is one of them (a plate detector). A model of other classes (meter
    corners with their meter classes, meter digits) would be scored against plate labels: no such metric
    is reported for it on the default set."""
    labels = getattr(predictor.config, "labels", None)
    return labels is None or "plate" in labels


def load_samples(data: str | None, count: int) -> SampleSet:
    """The evaluation samples: ``None`` -> ``calibration.metrics.heldout_samples(count)``
    (the fixed synthetic held-out set); ``synth`` / ``synth:SEED`` -> the first ``count``
    scenes of ``calibration.synth.PlateSceneGenerator(seed)`` (seed 0 by default);
    else a path read with ``calibration.readers.read_source`` (manifest, CCPD folder or
    image folder), first ``count`` samples. Bad sources raise (DatasetNotFoundError,
    EmptyDatasetError, InvalidArgumentError naming ``data``/``eval_count``). When the
    default set cannot be built (``calibration.synth`` missing) the set is empty and
    ``note`` says why; an explicit ``synth`` source then raises MissingDependencyError."""
    from edgevision.errors import MissingDependencyError

    if data is None:
        try:
            from calibration.metrics import heldout_samples
            from calibration.synth import HELDOUT_COUNT
        except ImportError as e:
            return SampleSet([], "held-out synthetic set (unavailable)",
                             f"no evaluation data: the held-out synthetic set needs calibration.metrics and "
                             f"calibration.synth ({e}); timing uses synthetic frames")
        if count > HELDOUT_COUNT:
            raise InvalidArgumentError(
                f"eval_count: the held-out synthetic set has {HELDOUT_COUNT} samples, got {count}; pass --eval-count "
                f"<= {HELDOUT_COUNT} or --data synth:SEED for more")
        samples = list(heldout_samples(count))
        return SampleSet(samples, f"held-out synthetic set (first {len(samples)} samples)", domain=PLATES)
    if not isinstance(data, str) or not data:
        raise InvalidArgumentError(f"data: expected 'synth[:SEED]' or a dataset path, got {data!r}")
    if data == SYNTH_PREFIX or data.startswith(SYNTH_PREFIX + ":"):
        # The one parser of ``synth:SEED`` is calibration.metrics.load_samples; a bare ``synth``
        # here means seed 0 (there it means the held-out set, which is this function's default).
        try:
            from calibration.metrics import load_samples as load_source
        except ImportError as e:
            raise MissingDependencyError(f"data: {data!r} needs calibration.metrics ({e})",
                                         name="calibration.metrics") from None
        source = f"{SYNTH_PREFIX}:0" if data == SYNTH_PREFIX else data
        samples = load_source(source, count, name="data")
        seed = int(source.partition(":")[2])
        return SampleSet(samples, f"synthetic scenes, seed {seed} (first {count} samples)", domain=PLATES)
    from calibration.readers import read_source

    try:
        result = read_source(data)
    except EdgeVisionError as e:  # say which argument the path came from
        raise InvalidArgumentError(f"data: {e}") from None
    samples = list(result.samples[:count])
    return SampleSet(samples, f"{data} ({len(samples)} of {len(result.samples)} samples; {result.report.summary()})")


def timing_images(predictor: Any, samples: Sequence[Any], count: int) -> tuple[list[np.ndarray], str]:
    """``count`` images as the model sees them in use, and what they are.

    The evaluation samples' images (``calibration.metrics.load_image``); for OCR
    models the rectified plate crop from the label corners at the model's input size
    (``calibration.synth.plate_crop``, as ``calibration.metrics.evaluate`` does).
    Without samples: deterministic synthetic 640x480 frames (:func:`~calibration._latency.opencv.synthetic_frame`).
    Images are uint8 BGR, or gray for 1-channel models (what ``Predictor.predict``
    would load)."""
    from .opencv import synthetic_frame

    size, kw = predictor.config.preprocess_kwargs()
    channels = kw.get("channels") or 3
    hw = size
    if samples:
        from calibration.metrics import load_image

        picked = [samples[i % len(samples)] for i in range(count)]
        images = [load_image(s, f"samples[{i % len(samples)}]") for i, s in enumerate(picked)]
        if predictor.task in OCR_TASKS and all(getattr(s, "corners", None) is not None for s in picked):
            from calibration.synth import plate_crop

            images = [plate_crop(im, np.asarray(s.corners, np.float64), size=hw) for im, s in zip(images, picked)]
            what = f"plate crops ({hw[1]}x{hw[0]}) of the evaluation samples"
        else:
            shapes = sorted({(im.shape[1], im.shape[0]) for im in images})
            what = (f"evaluation images ({shapes[0][0]}x{shapes[0][1]})" if len(shapes) == 1 else
                    f"evaluation images ({len(shapes)} sizes, {shapes[0][0]}x{shapes[0][1]} .. "
                    f"{shapes[-1][0]}x{shapes[-1][1]})")
    else:
        images = [synthetic_frame((480, 640), seed=i) for i in range(count)]
        what = "synthetic 640x480 frames"
    if channels == 1:
        import cv2

        images = [cv2.cvtColor(im, cv2.COLOR_BGR2GRAY) if im.ndim == 3 else im for im in images]
    return images, what

"""The OpenCV preprocessing chain (the ``pre_cv`` baseline stage), synthetic frames and the
cycling stage functions: the pieces of ``benchmarks.preprocess`` the latency engine times
with, here because ``calibration`` may not import ``benchmarks`` (``benchmarks.preprocess``
re-exports them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

MEAN = (0.485, 0.456, 0.406)  # ImageNet, RGB
STD = (0.229, 0.224, 0.225)


@dataclass
class Case:
    """One benchmark case. ``frames`` > 1 cycles single-image calls through that
    many distinct frames (each call sees a frame that is not in cache, as a live
    video stream does); ``frames == 1`` repeats one frame, which stays in cache."""

    name: str
    src_hw: tuple[int, int]
    dst_hw: tuple[int, int]
    mode: str
    batch: int = 1
    frames: int = 1


def synthetic_frame(hw: tuple[int, int], seed: int) -> np.ndarray:
    """A deterministic BGR frame: gradients plus noise (resampling cost does not depend on content)."""
    rng = np.random.default_rng(seed)
    h, w = hw
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(xx * 255 // max(w - 1, 1)), (yy * 255 // max(h - 1, 1)), ((xx + yy) % 256)], axis=-1)
    noise = rng.integers(-20, 21, size=(h, w, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def cycling(pool: list[list[np.ndarray]], fn: Callable[[list[np.ndarray]], Any]) -> Callable[[], Any]:
    """A zero-argument callable that applies ``fn`` to the next entry of ``pool`` on each call."""
    state = {"i": 0}

    def run() -> Any:
        images = pool[state["i"] % len(pool)]
        state["i"] += 1
        return fn(images)

    return run


def chain_fn(case: Case) -> Callable[[list[np.ndarray]], np.ndarray]:
    """The OpenCV chain on a list of images."""
    import cv2

    from edgevision.preprocess import placement

    H, W = case.dst_hw
    mean = np.asarray(MEAN, np.float32).reshape(1, 3, 1, 1)
    inv_std = (1.0 / np.asarray(STD, np.float32)).reshape(1, 3, 1, 1)

    def run(images: list[np.ndarray]) -> np.ndarray:
        padded = []
        for img in images:
            x0, y0, cw, ch = placement(img.shape[:2], (H, W), case.mode, "center", True)
            r = cv2.resize(img, (cw, ch), interpolation=cv2.INTER_LINEAR)
            if (cw, ch) != (W, H):
                r = cv2.copyMakeBorder(r, y0, H - ch - y0, x0, W - cw - x0, cv2.BORDER_CONSTANT, value=(114, 114, 114))
            padded.append(r)
        blob = cv2.dnn.blobFromImages(padded, 1.0 / 255.0, swapRB=True)
        blob -= mean
        blob *= inv_std
        return blob

    return run

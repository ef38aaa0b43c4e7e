"""Icon-matching captchas (seed 004): :class:`SiameseMatcher` finds the candidate figure that matches a reference.

The matcher embeds the reference crop and every candidate crop with an
``embedding`` model (default: the bundled ``siamese_icons_int8.onnx``, a small
Xception trained as a Siamese network) and answers with the candidate whose unit
embedding is most cosine-similar to the reference's (the smallest Euclidean
distance between unit vectors: the same ranking). On a challenge image it searches each
candidate box at a few shifted crops (``search``, :func:`search_boxes`) and scores a
candidate by its best crop, since a layout's slot does not centre every figure.

Conventions: images are uint8 BGR (or paths OpenCV reads); points are continuous
pixel coordinates ``(x, y)`` of the source image, origin at the top-left corner of
the top-left pixel; boxes are ``(x0, y0, x1, y1)`` in those pixels (``x1``/``y1``
exclusive). The answer's coordinates are the centre of the chosen candidate's box.

Layout: when no boxes are given, :func:`challenge_layout` (a reference panel at the
top-left, a row of equal candidate slots below it: the layout of
``calibration.captcha_synth.render_challenge``) is used.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import EdgeVisionError, ImageReadError, InvalidArgumentError

#: The bundled default model.
DEFAULT_MODEL = "siamese_icons_int8.onnx"
#: Candidates in the default layout.
DEFAULT_CANDIDATES = 5
#: ``SiameseMatcher(search=...)`` default: each candidate box is also tried moved by 1/8 of its side
#: each way (:func:`search_boxes`). Chosen on 300 synthetic validation challenges (289 -> 292 right,
#: the bundled int8), then measured once held out: 500 challenges 95.0 -> 95.8% (int8), 95.2 -> 96.0%
#: (fp32), for about 4x the crops (siamese_icons.md). ``0`` is the fast path: the boxes alone.
DEFAULT_SEARCH = 0.125
#: Crops an embedding call takes at most (:meth:`SiameseMatcher.embed`; a model with a fixed batch takes its own).
#: Smaller batches stay in cache: a challenge's 208 crops (26 x 8 views) took 39.9 / 45.5 ms int8 and
#: 76.7 / 85.8 ms fp32 in batches of 16 / 32 (AMD EPYC, 1 thread, interleaved; the same similarities).
EMBED_BATCH = 16
#: ``SiameseMatcher(views=...)``'s default (:data:`VIEWS`): the 8 symmetries of the square. Chosen on the
#: validation identities and challenges (int8: real 97.2 -> 97.8%, synthetic 96.3 -> 98.0%), then measured once
#: held out (int8: real 95.3 -> 96.1%, synthetic 95.8 -> 96.4%), for 8x the crops (siamese_icons.md, session 20).
DEFAULT_VIEWS = "dihedral"


def _rotations(c: np.ndarray) -> list[np.ndarray]:
    return [c, np.rot90(c, 1), np.rot90(c, 2), np.rot90(c, 3)]


#: Test-time views (``SiameseMatcher(views=...)``): each crop is embedded as each of these views of it
#: (strided views, no copies: the kernel reads any strides) and its embedding is their mean, scaled
#: back to unit length. ``dihedral`` is the 8 symmetries of the square: the 4 quarter turns, and each
#: mirrored (the default, :data:`DEFAULT_VIEWS`).
VIEWS: dict[str, Callable[[np.ndarray], list[np.ndarray]]] = {
    "none": lambda c: [c],
    "flip": lambda c: [c, c[:, ::-1]],
    "rotations": _rotations,
    "dihedral": lambda c: _rotations(c) + _rotations(c[:, ::-1]),
}


def search_boxes(box: Any, shape: tuple[int, int], shift: float) -> np.ndarray:
    """The crops a candidate ``box`` (x0, y0, x1, y1, source px) is searched at: the box itself, then the
    box moved by ``shift`` times its width left and right and by ``shift`` times its height down and
    up, each moved back inside the image of ``shape`` = (height, width) where it would leave it
    (its size kept). ``(5, 4)`` float64; ``(1, 4)`` when ``shift`` is 0."""
    b = np.asarray(box, np.float64)
    if shift == 0:
        return b[None].copy()
    w, h = b[2] - b[0], b[3] - b[1]
    out = [b] + [b + np.array([dx, dy, dx, dy]) for dx, dy in ((shift * w, 0), (-shift * w, 0), (0, shift * h),
                                                              (0, -shift * h))]
    ih, iw = shape
    fixed = []
    for x0, y0, x1, y1 in out:
        dx = max(0.0, -x0) - max(0.0, x1 - iw)
        dy = max(0.0, -y0) - max(0.0, y1 - ih)
        fixed.append((x0 + dx, y0 + dy, x1 + dx, y1 + dy))
    return np.array(fixed, np.float64)


def challenge_layout(size: Any, candidates: int = DEFAULT_CANDIDATES) -> dict[str, np.ndarray]:
    """The default layout of an image of ``size`` = (height, width) pixels, each >= 64:
    ``{"reference_box": (4,), "candidate_boxes": (candidates, 4)}``, boxes ``(x0, y0, x1, y1)``.

    The reference panel is the top-left square of side ``max(24, 0.3 * height)`` (4 px
    from the edges); ``candidates`` (2..12) equal square slots split the width evenly
    in the band below it.
    """
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"size: expected (height, width) in pixels, got {size!r}") from None
    if h < 64 or w < 64:
        raise InvalidArgumentError(f"size: expected height and width >= 64 px, got {h} x {w}")
    if isinstance(candidates, bool) or not isinstance(candidates, (int, np.integer)) or not 2 <= candidates <= 12:
        raise InvalidArgumentError(f"candidates: expected an int 2..12, got {candidates!r}")
    n = int(candidates)
    ref = max(24.0, 0.3 * h)
    pad = 4.0
    top = pad * 2 + ref
    slot_w = w / n
    side = min(slot_w, h - top - pad)
    cy = top + (h - top) / 2
    boxes = np.array([[i * slot_w + slot_w / 2 - side / 2, cy - side / 2, i * slot_w + slot_w / 2 + side / 2,
                       cy + side / 2] for i in range(n)])
    return {"reference_box": np.array([pad, pad, pad + ref, pad + ref]), "candidate_boxes": boxes}


def _box(b: Any, name: str, shape: tuple[int, int] | None) -> np.ndarray:
    """A validated ``(x0, y0, x1, y1)`` float64 box that leaves >= 1 pixel inside an image of ``shape``."""
    try:
        a = np.asarray(b, np.float64)
    except (TypeError, ValueError):
        a = np.array([])
    if a.shape != (4,) or not np.isfinite(a).all() or not (a[0] < a[2] and a[1] < a[3]):
        raise InvalidArgumentError(f"{name}: expected a box (x0, y0, x1, y1) in pixels with x0 < x1 and y0 < y1, "
                                   f"got {b!r}")
    if shape is not None:
        h, w = shape
        if a[2] <= 0 or a[3] <= 0 or a[0] >= w or a[1] >= h or min(a[2], w) - max(a[0], 0) < 1 or \
                min(a[3], h) - max(a[1], 0) < 1:
            raise InvalidArgumentError(f"{name}: box {a.tolist()} has no pixel inside the image ({w} x {h} px)")
    return a


def crop(image: np.ndarray, box: Any, name: str = "box") -> np.ndarray:
    """The pixels of ``box`` (rounded outwards to the pixel grid, clipped to the image)."""
    return crops(image, _box(box, name, image.shape[:2])[None], name)[0]


def crops(image: np.ndarray, boxes: np.ndarray, name: str = "boxes") -> list[np.ndarray]:
    """:func:`crop` of each row of ``boxes`` (``(N, 4)`` finite float64 ``x0 < x1``, ``y0 < y1``), the rounding
    and clipping done for all at once (views, no copies); a box left with no pixel raises, naming it."""
    h, w = image.shape[:2]
    lo = np.maximum(np.floor(boxes[:, :2]), 0).astype(np.int64)
    hi = np.minimum(np.ceil(boxes[:, 2:]), (w, h)).astype(np.int64)
    empty = np.flatnonzero((hi - lo < 1).any(axis=1))
    if empty.size:
        i = int(empty[0])
        raise InvalidArgumentError(f"{name}[{i}]: box {boxes[i].tolist()} has no pixel inside the image ({w} x {h} px)")
    return [image[y0:y1, x0:x1] for (x0, y0), (x1, y1) in zip(lo.tolist(), hi.tolist())]


@dataclass(eq=False)
class MatchResult:
    """The matcher's answer.

    Attributes:
        target: index (0-based) of the candidate that matches the reference.
        center: ``(x, y)`` source pixels: the centre of the target's box (the point to click).
        similarity: cosine similarity of the target to the reference, -1..1.
        similarities: ``(N,)`` every candidate's cosine similarity to the reference.
        boxes: ``(N, 4)`` the candidate boxes ``(x0, y0, x1, y1)`` (source pixels): with the
            crop search (``SiameseMatcher(search=...)``), the crop each candidate scored best
            at; ``None`` when the matcher was given crops.
        reference_box: ``(4,)`` or ``None``, likewise.
        orig_img: the challenge image (for :meth:`plot`), or ``None``.
    """

    target: int
    center: tuple[float, float] | None
    similarity: float
    similarities: np.ndarray
    boxes: np.ndarray | None = None
    reference_box: np.ndarray | None = None
    orig_img: np.ndarray | None = field(default=None, repr=False)

    @property
    def centers(self) -> np.ndarray | None:
        """``(N, 2)`` the centre ``(x, y)`` of every candidate box, or ``None``."""
        if self.boxes is None:
            return None
        return np.stack([(self.boxes[:, 0] + self.boxes[:, 2]) / 2, (self.boxes[:, 1] + self.boxes[:, 3]) / 2], 1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``target``, ``x``, ``y`` (source pixels, rounded to 0.01), ``similarity``,
        ``similarities`` and the boxes used."""
        d: dict[str, Any] = {"target": self.target}
        if self.center is not None:
            d["x"], d["y"] = round(float(self.center[0]), 2), round(float(self.center[1]), 2)
        d["similarity"] = round(float(self.similarity), 4)
        d["similarities"] = [round(float(s), 4) for s in self.similarities]
        if self.boxes is not None:
            d["candidate_boxes"] = np.round(self.boxes, 2).tolist()
        if self.reference_box is not None:
            d["reference_box"] = np.round(self.reference_box, 2).tolist()
        return d

    def plot(self, *, color: tuple[int, int, int] = (0, 0, 255), radius: int | None = None,
             boxes: bool = True) -> np.ndarray:
        """A copy of the challenge image with a filled marker (default red, BGR) at the answer;
        with ``boxes``, the reference box in white, the target's box in the marker colour and the
        other candidates in gray. Raises :class:`InvalidArgumentError` when the result has no image
        (the matcher was given crops)."""
        import cv2

        if self.orig_img is None or self.center is None:
            raise InvalidArgumentError("plot: this result has no challenge image (the matcher was given crops); "
                                       "call the matcher on the image with its boxes")
        out = self.orig_img.copy()
        if out.ndim == 2:
            out = cv2.cvtColor(out, cv2.COLOR_GRAY2BGR)
        elif out.shape[2] == 4:
            out = cv2.cvtColor(out, cv2.COLOR_BGRA2BGR)
        if boxes and self.boxes is not None:
            for i, b in enumerate(self.boxes):
                cv2.rectangle(out, (int(b[0]), int(b[1])), (int(math.ceil(b[2])) - 1, int(math.ceil(b[3])) - 1),
                              color if i == self.target else (160, 160, 160), 1)
            if self.reference_box is not None:
                b = self.reference_box
                cv2.rectangle(out, (int(b[0]), int(b[1])), (int(math.ceil(b[2])) - 1, int(math.ceil(b[3])) - 1),
                              (255, 255, 255), 1)
        r = radius if radius is not None else max(3, round(min(out.shape[:2]) / 40))
        x, y = self.center
        cv2.circle(out, (int(round(x * 16)), int(round(y * 16))), int(r * 16), color, -1, cv2.LINE_AA, 4)
        return out


class SiameseMatcher:
    """Pick the candidate figure that matches a reference figure (seed 004).

    Args:
        model: an ``embedding`` model path or bundled name (default ``siamese_icons_int8.onnx``).
        device, threads, config: passed to :class:`edgevision.Predictor`.
        views: test-time views of every crop (:data:`VIEWS`: ``none``, ``flip``, ``rotations``,
            ``dihedral``; default :data:`DEFAULT_VIEWS`): its embedding is the mean over them, for
            figures shown turned or mirrored; ``k`` views embed ``k`` times the crops.
        search: crop search on challenge images, a fraction of a box's side in [0, 0.5)
            (default :data:`DEFAULT_SEARCH`; 0: off). Each candidate box is also embedded
            moved by ``search`` of its width left and right and of its height down and up
            (:func:`search_boxes`; 5 crops a candidate), for a figure the box does not
            centre; a candidate scores its best crop, and that crop is its box in the result
            (the answer's centre is the chosen crop's).

    Call it on a challenge image (path or uint8 BGR array) with the reference box and the
    candidate boxes (default: :func:`challenge_layout` of the image), or use
    :meth:`match` on a reference crop and a list of candidate crops. Both return a
    :class:`MatchResult`; one batched inference embeds the reference and the candidates.
    """

    def __init__(self, model: str | os.PathLike = DEFAULT_MODEL, *, device: str = "auto", threads: int | None = None,
                 config: Any = None, search: float = DEFAULT_SEARCH, views: str = DEFAULT_VIEWS) -> None:
        from .predictor import Predictor

        if isinstance(search, (bool, np.bool_)) or not isinstance(search, (int, float, np.integer, np.floating)) \
                or not (np.isfinite(search) and 0 <= search < 0.5):
            raise InvalidArgumentError(f"search: expected a fraction of a box's side in [0, 0.5), got {search!r}")
        if not isinstance(views, str) or views not in VIEWS:
            raise InvalidArgumentError(f"views: expected one of {list(VIEWS)}, got {views!r}")
        self.search = float(search)
        self.views = views
        self.predictor = Predictor(model, device=device, threads=threads, config=config)
        if self.predictor.task != "embedding":
            raise InvalidArgumentError(f"model: expected an 'embedding' model, got task {self.predictor.task!r} "
                                       f"({self.predictor.path})")

    def __repr__(self) -> str:
        return f"SiameseMatcher({self.predictor.path!r}, views={self.views!r})"

    def embed(self, crops: Sequence[Any]) -> np.ndarray:
        """Unit embeddings ``(N, D)`` float32 of crops (uint8 BGR arrays or paths): the Predictor's
        stages (``preprocess``, ``infer``) in batches of the model's size (:data:`EMBED_BATCH` for a dynamic
        batch axis), and its decoder's vectors as one
        matrix (:func:`~edgevision.decoders.embedding_vectors`, the model's ``normalize``), with no
        result object per crop. With :attr:`views` other than ``none``, each crop's vector is the mean
        over its views (:data:`VIEWS`), scaled back to unit length when the model normalizes."""
        from .decoders import embedding_vectors
        from .predictor import load_image

        if not isinstance(crops, (list, tuple)) or not crops:
            raise InvalidArgumentError(f"crops: expected a non-empty list of images, got {type(crops).__name__}")
        p = self.predictor
        images = [load_image(c, f"crops[{i}]", p.config.preprocess.get("channels") or 3) for i, c in enumerate(crops)]
        view = VIEWS[self.views]
        seen = [v for im in images for v in view(im)]   # crop-major: crop i's views are rows [i k, (i + 1) k)
        step = p.batch_size or EMBED_BATCH
        normalize = p.config.decoder.get("normalize", True)
        parts = []
        for start in range(0, len(seen), step):
            chunk = seen[start:start + step]
            blob, _ = p.preprocess(chunk)
            parts.append(embedding_vectors(p.infer(blob)[0], normalize=normalize)[:len(chunk)])
        e = np.concatenate(parts)
        k = len(seen) // len(images)
        if k == 1:
            return e
        # the mean of each crop's views, normalized as the decoder normalizes a vector
        return embedding_vectors(e.astype(np.float64).reshape(len(images), k, -1).mean(axis=1), normalize=normalize)

    def match(self, reference: Any, candidates: Sequence[Any]) -> MatchResult:
        """Match a reference crop against candidate crops (uint8 BGR arrays or paths, any sizes).
        The result has no coordinates (``center`` is ``None``)."""
        if not isinstance(candidates, (list, tuple)) or not candidates:
            raise InvalidArgumentError("candidates: expected a non-empty list of candidate crops")
        e = self.embed([reference, *candidates])
        sims = e[1:] @ e[0]
        t = int(np.argmax(sims))
        return MatchResult(t, None, float(sims[t]), sims)

    def __call__(self, image: Any, reference_box: Any = None, candidate_boxes: Any = None) -> MatchResult:
        """Match on a whole challenge image; boxes in source pixels (default: :func:`challenge_layout`)."""
        from .predictor import load_image

        img = load_image(image, "image")
        if (reference_box is None) != (candidate_boxes is None):
            raise InvalidArgumentError("reference_box, candidate_boxes: give both, or neither (the default layout)")
        if reference_box is None:
            lay = challenge_layout(img.shape[:2])
            reference_box, candidate_boxes = lay["reference_box"], lay["candidate_boxes"]
        ref = _box(reference_box, "reference_box", img.shape[:2])
        if isinstance(candidate_boxes, (str, bytes)) or not hasattr(candidate_boxes, "__len__") or \
                len(candidate_boxes) < 1:
            raise InvalidArgumentError(f"candidate_boxes: expected a non-empty list of (x0, y0, x1, y1) boxes, got "
                                       f"{candidate_boxes!r}")
        boxes = np.stack([_box(b, f"candidate_boxes[{i}]", img.shape[:2]) for i, b in enumerate(candidate_boxes)])
        tried = [search_boxes(b, img.shape[:2], self.search) for b in boxes]
        # search_boxes keeps a box's size and moves it back inside the image: each still has its pixels there
        r = self.match(crop(img, ref, "reference_box"), crops(img, np.concatenate(tried), "searched boxes"))
        k = len(tried[0])
        sims = r.similarities.reshape(len(boxes), k)
        best = sims.argmax(1)
        boxes = np.stack([ts[j] for ts, j in zip(tried, best)])
        sims = sims[np.arange(len(boxes)), best]
        t = int(np.argmax(sims))
        c = ((boxes[t, 0] + boxes[t, 2]) / 2, (boxes[t, 1] + boxes[t, 3]) / 2)
        return MatchResult(t, (float(c[0]), float(c[1])), float(sims[t]), sims, boxes, ref, img)


def read_boxes(path: str | os.PathLike) -> dict[str, Any]:
    """Boxes from a JSON file: an object with ``reference_box`` (4 numbers) and ``candidate_boxes``
    (a list of 4-number lists), in source pixels, as ``calibration.captcha_synth`` labels have them."""
    p = Path(path)
    if not p.is_file():
        raise ImageReadError(f"boxes: {p}: no such file")
    try:
        d = json.loads(p.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidArgumentError(f"boxes: {p}: not valid JSON ({e})") from None
    if not isinstance(d, dict) or "reference_box" not in d or "candidate_boxes" not in d:
        raise InvalidArgumentError(f"boxes: {p}: expected a JSON object with 'reference_box' and 'candidate_boxes'")
    return {"reference_box": d["reference_box"], "candidate_boxes": d["candidate_boxes"]}


def evaluate_labels(matcher: SiameseMatcher, labels: str | os.PathLike,
                    images: str | os.PathLike | None = None) -> dict[str, Any]:
    """Seed 004's dataset mode: the share of challenges whose target the matcher picks.

    ``labels``: a ``labels.jsonl`` file (or a folder holding one), one JSON object a line
    with ``image`` (a path, relative to ``images``, default: the labels' folder),
    ``target`` (int), and optionally ``reference_box`` and ``candidate_boxes`` (default:
    :func:`challenge_layout`). Returns ``{"accuracy", "correct", "count", "labels",
    "mean_center_error_px"}`` (the error is measured against ``target_center`` where the
    labels have it).
    """
    p = Path(labels)
    if p.is_dir():
        p = p / "labels.jsonl"
    if not p.is_file():
        raise ImageReadError(f"labels: {p}: no such file (expected a labels.jsonl or a folder with one)")
    root = Path(images) if images is not None else p.parent
    correct = count = 0
    errors: list[float] = []
    for n, line in enumerate(p.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            name, target = rec["image"], int(rec["target"])
        except (ValueError, KeyError, TypeError) as e:
            raise InvalidArgumentError(f"labels: {p}:{n}: expected a JSON object with 'image' and an int "
                                       f"'target' ({type(e).__name__}: {e})") from None
        path = Path(name) if Path(name).is_absolute() else root / name
        r = matcher(str(path), rec.get("reference_box"), rec.get("candidate_boxes")) \
            if "reference_box" in rec else matcher(str(path))
        count += 1
        correct += r.target == target
        if rec.get("target_center") is not None and r.center is not None:
            tx, ty = rec["target_center"]
            errors.append(math.hypot(r.center[0] - tx, r.center[1] - ty))
    if not count:
        raise EdgeVisionError(f"labels: {p}: no labelled challenge in it")
    return {"accuracy": correct / count, "correct": correct, "count": count, "labels": str(p),
            "mean_center_error_px": float(np.mean(errors)) if errors else None}


__all__ = ["DEFAULT_MODEL", "DEFAULT_SEARCH", "DEFAULT_VIEWS", "VIEWS", "MatchResult", "SiameseMatcher",
           "challenge_layout", "crop", "crops", "evaluate_labels", "read_boxes", "search_boxes"]

"""Real icon-click captcha icons (``captcha/icons_zhujinchong``, Apache-2.0): reader, identity split, trials.

The set (see ``../shared/data/real/SOURCES.md``, "Meters and captchas") has one
folder per icon identity: ``datasets/icons/<id>/NN.png`` (150 identities, 1,348
crops) and ``datasets/icons_craw/<id>/NNN.png`` (50 identities, 101 crops). Each
identity mixes clean prompt icons (the 20 x 20 px ``01.png``/``02.png`` of
``datasets/icons``) and rotated, recoloured crops cut from real challenges.

**The split is by identity**, fixed and deterministic: the identities of
``datasets/icons`` are ranked by ``zlib.crc32(folder name)`` (then by name) and the
first :data:`HELDOUT_IDENTITIES` (30) are held out for evaluation. Every other
identity (the remaining 120 of ``datasets/icons`` and all 50 of
``datasets/icons_craw``) is ``train``. Held-out identities are never trained on.

**The real metric** (issue 18): the matcher picks the right candidate among 5 (the
reference's identity once, 4 other held-out identities) in >= 97% of trials.
:func:`matching_trials` makes the fixed, seeded list of trials: reference = one crop
of identity *i*, candidates = another crop of *i* and one crop each of 4 other
held-out identities, in a random order.

Images are read with OpenCV as uint8 BGR.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgevision.checks import check_int
from edgevision.errors import InvalidArgumentError

from .errors import DatasetNotFoundError

#: The folder of the set inside the real-data root (:func:`calibration.real.real_root`).
ICONS_DIR = Path("captcha") / "icons_zhujinchong"
#: The two sub-sets (folder names under ``datasets/``).
SUBSETS = ("icons", "icons_craw")
#: Identities of ``datasets/icons`` held out for evaluation.
HELDOUT_IDENTITIES = 30
#: Seed of the fixed list of evaluation trials.
TRIALS_SEED = 18_004
#: Trials in the fixed evaluation list.
TRIALS_COUNT = 1000


def identity_split(names: Sequence[str], heldout: int = HELDOUT_IDENTITIES) -> dict[str, str]:
    """``{name: "train" | "test"}`` for the identity folder names of ``datasets/icons``: the
    ``heldout`` names with the smallest ``zlib.crc32(name)`` (ties by name) are ``test``."""
    check_int(heldout, "heldout", minimum=0, expected="an int >= 0", error=InvalidArgumentError)
    ranked = sorted(set(names), key=lambda n: (zlib.crc32(n.encode("utf-8")), n))
    test = set(ranked[:heldout])
    return {n: ("test" if n in test else "train") for n in names}


@dataclass
class IconSet:
    """The icon set, split by identity.

    Attributes:
        root: the ``icons_zhujinchong`` folder.
        crops: ``{identity: [crop paths]}``, identity = ``"<subset>/<folder>"``
            (e.g. ``"icons/00013_2"``), paths sorted by name.
        split: ``{identity: "train" | "test"}``.
    """

    root: Path
    crops: dict[str, list[Path]]
    split: dict[str, str]

    def identities(self, split: str | None = None) -> list[str]:
        """Sorted identities of ``split`` (``"train"``, ``"test"`` or ``None``: all)."""
        if split not in (None, "train", "test"):
            raise InvalidArgumentError(f"split: expected 'train', 'test' or None, got {split!r}")
        return sorted(k for k in self.crops if split is None or self.split[k] == split)

    def images(self, identity: str) -> list[np.ndarray]:
        """The crops of ``identity`` as uint8 BGR arrays (file order)."""
        return [read_icon(p) for p in self.crops[identity]]


def read_icon(path: str | os.PathLike) -> np.ndarray:
    """One crop as uint8 BGR; :class:`~calibration.errors.DatasetNotFoundError` if it is missing or unreadable."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DatasetNotFoundError(f"icon {str(path)!r}: missing or not a decodable image", path=str(path))
    return img


def icons_root(real: str | os.PathLike | None = None) -> Path:
    """The ``icons_zhujinchong`` folder under the real-data root (``real``, else
    :func:`calibration.real.real_root`'s default)."""
    from .real import real_root

    root = real_root(real) / ICONS_DIR
    if not (root / "datasets").is_dir():
        raise DatasetNotFoundError(f"real captcha icons: {str(root / 'datasets')!r} is not a folder; expected "
                                   "icons_zhujinchong/datasets/{icons,icons_craw}/<identity>/*.png", path=str(root))
    return root


def load_icon_set(real: str | os.PathLike | None = None, *, heldout: int = HELDOUT_IDENTITIES) -> IconSet:
    """Read the folder structure of the icon set (not the pixels) and split it (module docs)."""
    root = icons_root(real)
    crops: dict[str, list[Path]] = {}
    for sub in SUBSETS:
        d = root / "datasets" / sub
        if not d.is_dir():
            continue
        for ident in sorted(os.listdir(d)):
            files = sorted(p for p in (d / ident).glob("*.png"))
            if files:
                crops[f"{sub}/{ident}"] = files
    if not crops:
        raise DatasetNotFoundError(f"real captcha icons: no <identity>/*.png under {str(root / 'datasets')!r}",
                                   path=str(root))
    names = [k.split("/", 1)[1] for k in crops if k.startswith("icons/")]
    icon_split = identity_split(names, heldout)
    split = {k: (icon_split[k.split("/", 1)[1]] if k.startswith("icons/") else "train") for k in crops}
    return IconSet(root, crops, split)


@dataclass
class Trial:
    """One real matching trial: ``reference`` and ``candidates`` are crop paths; ``target`` is the
    index of the candidate of the reference's identity; ``identities`` names each candidate's identity."""

    reference: Path
    candidates: list[Path]
    target: int
    identities: list[str]


def matching_trials(icons: IconSet, count: int = TRIALS_COUNT, *, candidates: int = 5, seed: int = TRIALS_SEED,
                    split: str = "test") -> list[Trial]:
    """The fixed list of 1-of-``candidates`` trials over the identities of ``split`` (module docs).

    Trial ``k`` uses reference identity number ``k mod M`` (M identities with >= 2 crops),
    so every identity is the reference equally often; the crops and the distractor
    identities are drawn from ``numpy.random.default_rng([seed, k])``. Deterministic.
    """
    check_int(count, "count", minimum=1, expected="a positive int", error=InvalidArgumentError)
    n = check_int(candidates, "candidates", minimum=2, expected="an int >= 2", error=InvalidArgumentError)
    ids = icons.identities(split)
    pool = [i for i in ids if len(icons.crops[i]) >= 2]
    if not pool or len(ids) < n:
        raise InvalidArgumentError(f"candidates: {n} needs at least {n} identities in split {split!r} (one with >= 2 "
                                   f"crops); it has {len(ids)} ({len(pool)} with >= 2 crops)")
    out = []
    for k in range(int(count)):
        rng = np.random.default_rng([int(seed), k])
        ident = pool[k % len(pool)]
        files = icons.crops[ident]
        a, b = rng.choice(len(files), 2, replace=False)
        others = [i for i in ids if i != ident]
        neg = [others[j] for j in rng.choice(len(others), n - 1, replace=False)]
        cands = [(files[b], ident)] + [(icons.crops[o][int(rng.integers(len(icons.crops[o])))], o) for o in neg]
        order = rng.permutation(n)
        cands = [cands[j] for j in order]
        out.append(Trial(files[a], [c[0] for c in cands], int(np.flatnonzero(order == 0)[0]), [c[1] for c in cands]))
    return out


def predict_trials(embed: Callable[[list[np.ndarray]], np.ndarray], trials: Sequence[Trial], *,
                   batch: int = 64) -> list[int]:
    """Each trial's answer: the index of the candidate most similar (cosine) to the reference.

    ``embed`` maps a list of uint8 BGR crops to ``(N, D)`` embeddings (a ``SiameseMatcher.embed``,
    or a host-side model). Every distinct crop of ``trials`` is read (:func:`read_icon`) and
    embedded once, ``batch`` crops a call; rows are scaled to unit length (an all-zero row stays
    zero). Score the answers with :func:`trials_accuracy`.
    """
    check_int(batch, "batch", minimum=1, expected="a positive int", error=InvalidArgumentError)
    paths = sorted({str(p) for t in trials for p in [t.reference, *t.candidates]})
    index = {p: i for i, p in enumerate(paths)}
    e = np.concatenate([np.asarray(embed([read_icon(p) for p in paths[i:i + batch]]), np.float64)
                        for i in range(0, len(paths), batch)])
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    return [int(np.argmax(e[[index[str(p)] for p in t.candidates]] @ e[index[str(t.reference)]])) for t in trials]


def trials_accuracy(predicted: Sequence[int], trials: Sequence[Trial]) -> float:
    """The share of trials whose predicted index equals the target."""
    if len(predicted) != len(trials) or not trials:
        raise InvalidArgumentError(f"predicted: expected one index per trial ({len(trials)}), got {len(predicted)}")
    return float(np.mean([int(p) == t.target for p, t in zip(predicted, trials)]))


__all__ = ["HELDOUT_IDENTITIES", "ICONS_DIR", "SUBSETS", "TRIALS_COUNT", "TRIALS_SEED", "IconSet", "Trial",
           "icons_root", "identity_split", "load_icon_set", "matching_trials", "predict_trials", "read_icon", "trials_accuracy"]

"""Seed 004's captcha matcher: a small Xception embedding, trained in two stages (Keras 3, torch backend).

The exact command that produced the bundled ``edgevision/models/siamese_icons*.onnx`` (``make train-siamese``;
since 2026-12-07, 95 minutes of stage 1 on two threads of a 2-core CPU, one cosine schedule from scratch, then the
bundling step)::

    python -m training.siamese --out runs/siam_m2 --stage1-minutes 95 --stage2-minutes 0 --lr 2e-3 --seed 21 --threads 2

(``--bundle`` alone exports, quantizes and writes the card of an existing run:
``python -m training.siamese --out runs/siam_m2 --bundle``; ``--ensemble MEMBER ...`` averages exports trained
apart, :func:`ensemble`.) The file bundled before it came from a chain of six shorter runs, each continuing the
one before (its card's history, in git); stage 2 ran in the chain's first run and lost on validation, so later
runs skip it.

**Model** (:func:`exporters.zoo.keras_models.siamese_xception_small`): a narrow
Xception (entry, middle and exit flows of separable residual blocks, width 16,
2 middle blocks, about 0.33 M parameters) on 64 x 64 RGB crops, global average
pooling, a linear ``projection`` to 128 and L2 normalization. Full Xception (seed
004's choice, 20.8 M parameters at >= 71 px) is too big to train on this CPU or to
ship to an edge box; the narrow one keeps its block structure.

**Data** (all rendered on the fly, deterministic from ``--seed``):

- real icons of the *train* identities of :mod:`calibration.captcha_real` (120 of
  ``datasets/icons`` and the 50 of ``datasets/icons_craw``; never the 30 held-out ones,
  and never the :data:`VAL_IDENTITIES` validation identities, which only choose
  between the stage-1 and stage-2 heads and steer the int8 calibration method);
  each crop is recoloured, rotated by any angle, rescaled, shifted, blurred and
  noised, or pasted rotated onto a noisy background (:func:`calibration.captcha_synth.figure_crop`);
- procedural figures of :mod:`calibration.captcha_synth`: one class per distinct
  signature among the training identities (ints below ``HELDOUT_IDENTITY_BASE``),
  drawn as challenge candidates (rotated, recoloured, on clutter) or as references.

**Stage 1, backbone:** the whole network with the supervised contrastive loss
(Khosla et al. 2020, temperature 0.1) on the L2-normalized embedding, over P x K
batches (16 classes x 4 augmented crops): every crop must pick its 3 same-class
crops out of the 63 others, which is the matcher's 1-of-N task. A CosFace
classifier over all 755 classes was tried first and learned too slowly for this
CPU budget (0% margin accuracy after 600 steps): its class centres see one sample
every 12 steps.

**Stage 2, seed 004's Siamese fine-tuning:** the backbone is frozen
(``trainable = False``), its pooled features are computed once for a fresh set of
augmented crops, and the ``projection`` is fine-tuned as a Siamese pair network:
two branches sharing the projection, a Euclidean distance layer between the unit
embeddings, and the **contrastive loss** (Hadsell, Chopra, LeCun 2006) over every
pair of a batch: ``d^2`` for same-identity pairs, ``max(0, m - d)^2`` for the
others (``m = 1.0``). Seed 004 trains its Euclidean-distance head with a KL
divergence; the contrastive loss is the standard loss for a distance output, and
it optimizes exactly what the matcher ranks by (the distance between unit
embeddings, equivalently their cosine). The stage-2 head is kept only if it beats
the stage-1 head on the validation identities; the run's summary records both.

Runs on torch, ``torch.set_num_threads(--threads)`` (default 1: the CPU is shared).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from exporters.keras_export import save_keras_weights
from training.common import carry_card_sections

#: Input size (height, width) of the trained model, pixels.
SIZE = (64, 64)
#: Train identities of datasets/icons kept out of training to choose heads and int8 variants.
VAL_IDENTITIES = 15
#: Procedural classes (distinct figure signatures) in stage 1.
SYNTH_CLASSES = 600
#: Seeds of the synthetic challenges used for validation (never for training or held-out figures).
VAL_CHALLENGE_SEED = 3_000_000
#: Seeds of the held-out synthetic challenges of the model card and benchmarks.captcha.
HELDOUT_CHALLENGE_SEED = 4_000_000
ARCH = {"size": SIZE, "width": 16, "middle": 2, "embedding_dim": 128}
COMMAND = "python -m training.siamese --out runs/siamese --stage1-minutes 24 --stage2-minutes 4 --threads 1"


# --- data -------------------------------------------------------------------------------------


def split_train_val(icons: Any) -> tuple[list[str], list[str]]:
    """The training and validation identities of an :class:`~calibration.captcha_real.IconSet`:
    among its ``train`` identities of ``datasets/icons``, the :data:`VAL_IDENTITIES` with the
    smallest ``zlib.crc32(name + "/val")`` are validation; the rest (and every ``icons_craw``
    identity) train. The held-out ``test`` identities are in neither list."""
    train = icons.identities("train")
    ranked = sorted((i for i in train if i.startswith("icons/")), key=lambda n: (zlib.crc32((n + "/val").encode()), n))
    val = sorted(ranked[:VAL_IDENTITIES])
    return [i for i in train if i not in set(val)], val


def synth_classes(count: int = SYNTH_CLASSES) -> list[int]:
    """``count`` training identities (ints below ``HELDOUT_IDENTITY_BASE``) with distinct signatures."""
    from calibration.captcha_synth import figure_params

    out, seen, i = [], set(), 0
    while len(out) < count:
        sig = figure_params(i)
        if sig not in seen:
            seen.add(sig)
            out.append(i)
        i += 1
    return out


def augment_icon(icon: np.ndarray, rng: np.random.Generator, size: tuple[int, int] = SIZE) -> np.ndarray:
    """A real icon crop (uint8 BGR) augmented as a challenge would show it: uint8 BGR ``size``."""
    from calibration.captcha_synth import figure_crop, recolour_icon

    if rng.random() < 0.35:
        return figure_crop(icon, int(rng.integers(1 << 40)), size=size[0], upright=bool(rng.random() < 0.3))
    h, w = size
    img = cv2.resize(icon, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.7:
        img = recolour_icon(img, rng)
    angle = float(rng.uniform(-180, 180)) if rng.random() < 0.7 else float(rng.uniform(-15, 15))
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, float(rng.uniform(0.8, 1.15)))
    m[:, 2] += rng.uniform(-0.08, 0.08, 2) * w
    img = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR,
                         borderMode=(cv2.BORDER_REFLECT_101, cv2.BORDER_REPLICATE)[int(rng.integers(2))])
    f = img.astype(np.float32)
    f = f * rng.uniform(0.7, 1.3) + rng.uniform(-30, 30)
    if rng.random() < 0.4:
        f = cv2.GaussianBlur(f, (3, 3), float(rng.uniform(0.3, 1.2)))
    if rng.random() < 0.3:  # low resolution (prompt icons are 20 px)
        s = int(rng.integers(16, 32))
        f = cv2.resize(cv2.resize(f, (s, s), interpolation=cv2.INTER_AREA), (w, h), interpolation=cv2.INTER_LINEAR)
    f += rng.normal(0, rng.uniform(0, 8), f.shape)
    return np.clip(np.round(f), 0, 255).astype(np.uint8)


class Sampler:
    """Batches of (uint8 BGR crops ``(B, 64, 64, 3)``, class indices ``(B,)``): classes
    ``0 .. R-1`` are the real training identities, ``R ..`` the procedural ones."""

    def __init__(self, icons: Any, real_ids: list[str], synth_ids: list[int], seed: int, real_share: float = 0.5):
        self.real = [icons.images(i) for i in real_ids]
        self.real_ids, self.synth_ids = real_ids, synth_ids
        self.rng = np.random.default_rng(seed)
        self.real_share = real_share

    @property
    def classes(self) -> int:
        return len(self.real) + len(self.synth_ids)

    def pk_batch(self, classes: int, per_class: int) -> tuple[np.ndarray, np.ndarray]:
        """``classes`` distinct classes (each real with probability ``real_share``), ``per_class``
        augmented crops of each: the P x K batch of the contrastive stage 1."""
        from calibration.captcha_synth import figure_crop

        n_real = int(self.rng.binomial(classes, self.real_share))
        picks = [int(c) for c in self.rng.choice(len(self.real), n_real, replace=False)] + [
            len(self.real) + int(c) for c in self.rng.choice(len(self.synth_ids), classes - n_real, replace=False)]
        xs, ys = [], []
        for c in picks:
            for _ in range(per_class):
                if c < len(self.real):
                    crops = self.real[c]
                    xs.append(augment_icon(crops[int(self.rng.integers(len(crops)))], self.rng))
                else:
                    xs.append(figure_crop(self.synth_ids[c - len(self.real)], int(self.rng.integers(1 << 40)),
                                          size=SIZE[0], upright=bool(self.rng.random() < 0.3)))
                ys.append(c)
        return np.stack(xs), np.array(ys, np.int64)

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        from calibration.captcha_synth import figure_crop

        xs, ys = [], []
        for _ in range(n):
            if self.rng.random() < self.real_share:
                c = int(self.rng.integers(len(self.real)))
                crops = self.real[c]
                xs.append(augment_icon(crops[int(self.rng.integers(len(crops)))], self.rng))
                ys.append(c)
            else:
                c = int(self.rng.integers(len(self.synth_ids)))
                xs.append(figure_crop(self.synth_ids[c], int(self.rng.integers(1 << 40)), size=SIZE[0],
                                      upright=bool(self.rng.random() < 0.3)))
                ys.append(len(self.real) + c)
        return np.stack(xs), np.array(ys, np.int64)


def to_input(x: np.ndarray) -> Any:
    """uint8 BGR ``(B, H, W, 3)`` -> the model's input: float32 NHWC RGB, ``(x / 255 - 0.5) / 0.5``
    (the exported model's ``preprocess``; crops must already be ``SIZE``)."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(x[..., ::-1])).float()
    return t.div_(127.5).sub_(1.0)


def resize_crops(crops: list[np.ndarray], size: tuple[int, int] = SIZE) -> np.ndarray:
    """Crops stretched to ``size`` with bilinear resampling (the edgevision kernel's ``stretch``)."""
    return np.stack([cv2.resize(c, (size[1], size[0]), interpolation=cv2.INTER_LINEAR) for c in crops])


# --- evaluation on the host (torch) -------------------------------------------------------------


def embed(model: Any, crops: list[np.ndarray], batch: int = 128) -> np.ndarray:
    """Unit embeddings ``(N, D)`` of uint8 BGR crops (any sizes) with a Keras model in inference mode."""
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(crops), batch):
            out.append(np.asarray(model(to_input(resize_crops(crops[i:i + batch])), training=False).cpu()))
    return np.concatenate(out)


def trial_accuracy(embed_fn: Any, trials: list[Any]) -> float:
    """1-of-N accuracy of ``embed_fn`` (list of uint8 BGR crops -> (N, D)) on real trials."""
    from calibration.captcha_real import predict_trials, trials_accuracy

    return trials_accuracy(predict_trials(embed_fn, trials), trials)


def challenge_accuracy(embed_fn: Any, seeds: range, **render: Any) -> float:
    """Target accuracy of ``embed_fn`` on synthetic challenges (cropped at :func:`default_layout`'s slots)."""
    from calibration.captcha_synth import crop_box, default_layout, render_challenge

    hits = 0
    for s in seeds:
        ch = render_challenge(s, **render)
        lay = default_layout(ch.image.shape[:2], len(ch.centers))
        crops = [crop_box(ch.image, lay["reference_box"])] + [crop_box(ch.image, b) for b in lay["candidate_boxes"]]
        e = embed_fn(crops)
        hits += int(np.argmax(e[1:] @ e[0])) == ch.target
    return hits / len(seeds)


# --- training -------------------------------------------------------------------------------------


def _supcon(emb: Any, y: Any, temperature: float = 0.1) -> tuple[Any, Any]:
    """Supervised contrastive loss (Khosla et al. 2020) of unit embeddings ``(B, D)`` with labels ``(B,)``,
    and the batch's recall@1 (the nearest other sample has the same label)."""
    import torch

    sim = emb @ emb.T
    eye = torch.eye(len(y), dtype=torch.bool)
    pos = (y[:, None] == y[None, :]) & ~eye
    logits = (sim / temperature).masked_fill(eye, -1e9)
    logp = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    loss = -(logp * pos).sum(1) / pos.sum(1).clamp(min=1)
    nearest = sim.masked_fill(eye, -2).argmax(1)
    return loss.mean(), (y[nearest] == y).float().mean()


def train_stage1(model: Any, sampler: Sampler, *, minutes: float, batch: int, lr: float, log: Any) -> dict[str, Any]:
    """Stage 1 (module docs): the supervised contrastive loss over P x K batches (``batch // 4``
    classes x 4 augmented crops), the whole network trained."""
    import torch

    from .common import Schedule

    params = [v.value for v in model.trainable_weights]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=5e-4)
    sched = Schedule(lr, 10**9, minutes * 60, warmup=0.03)
    step, losses, accs = 0, [], []
    while sched.progress(step) < 1.0:
        sched.apply(opt, step)
        x, y = sampler.pk_batch(batch // 4, 4)
        emb = model(to_input(x), training=True)
        loss, acc = _supcon(emb, torch.from_numpy(y))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        accs.append(float(acc))
        step += 1
        if step % 100 == 0:
            log(f"stage1 step {step} {sched.elapsed / 60:.1f} min lr {sched.lr(step):.2e} loss "
                f"{np.mean(losses[-100:]):.3f} batch recall@1 {np.mean(accs[-100:]):.3f}")
    return {"steps": step, "seconds": sched.elapsed, "batch": batch, "lr": lr, "classes": sampler.classes,
            "loss": "supervised contrastive (temperature 0.1), P x K batches of 4 crops a class",
            "loss_first": float(np.mean(losses[:50])), "loss_last": float(np.mean(losses[-100:])),
            "train_recall_last": float(np.mean(accs[-100:]))}


def pair_model(feature_dim: int, embedding_dim: int) -> tuple[Any, Any]:
    """Seed 004's Siamese pair network on frozen backbone features: ``(head, pair)``.

    ``head``: features ``(N, feature_dim)`` -> ``projection`` (Dense) -> unit embedding.
    ``pair``: two feature inputs through the one shared ``head``, then the Euclidean
    distance of the two embeddings, ``(N, 1)``.
    """
    from exporters.keras_backend import import_keras

    keras = import_keras()
    layers = keras.layers
    f = keras.Input((feature_dim,), name="features")
    head = keras.Model(f, layers.UnitNormalization(name="embedding")(layers.Dense(embedding_dim, name="projection")(f)),
                       name="siamese_head")
    a, b = keras.Input((feature_dim,), name="a"), keras.Input((feature_dim,), name="b")
    ea, eb = head(a), head(b)
    dist = layers.Lambda(lambda t: keras.ops.sqrt(keras.ops.sum(keras.ops.square(t[0] - t[1]), axis=1, keepdims=True)
                                                  + 1e-12), name="euclidean_distance")([ea, eb])
    return head, keras.Model([a, b], dist, name="siamese_pair")


def train_stage2(model: Any, sampler: Sampler, *, minutes: float, samples: int, batch: int, lr: float,
                 margin: float, log: Any) -> tuple[Any, dict[str, Any]]:
    """Stage 2 (module docs): freeze the backbone, fine-tune the projection as a Siamese pair
    network with the contrastive loss. Returns ``(head, summary)``; ``model`` is unchanged."""
    import torch

    from exporters.keras_backend import import_keras

    keras = import_keras()
    for layer in model.layers:
        if layer.name.startswith("xs_"):
            layer.trainable = False
    backbone = keras.Model(model.inputs, model.get_layer("xs_pool").output)
    t0 = time.monotonic()
    feats, labels = [], []
    with torch.no_grad():
        for _ in range(math.ceil(samples / 128)):
            x, y = sampler.batch(128)
            feats.append(np.asarray(backbone(to_input(x), training=False)))
            labels.append(y)
    F_, Y = torch.from_numpy(np.concatenate(feats)), torch.from_numpy(np.concatenate(labels))
    log(f"stage2: {len(Y)} frozen-backbone features in {time.monotonic() - t0:.0f} s")
    head, pair = pair_model(F_.shape[1], ARCH["embedding_dim"])
    proj = model.get_layer("projection")
    head.get_layer("projection").set_weights(proj.get_weights())  # start from stage 1's head
    dist_layer = pair.get_layer("euclidean_distance")
    params = [v.value for v in pair.trainable_weights]
    opt = torch.optim.Adam(params, lr=lr)
    rng = np.random.default_rng(7)
    step, losses = 0, []
    budget = minutes * 60  # of pair training, after the features
    t1 = time.monotonic()
    while time.monotonic() - t1 < budget:
        # a batch of P identities x K samples, every pair of it through the pair network
        classes = rng.choice(int(Y.max()) + 1, batch // 4, replace=False)
        idx = []
        for c in classes:
            members = torch.nonzero(Y == int(c)).flatten().numpy()
            if len(members):
                idx.extend(rng.choice(members, 4, replace=len(members) < 4).tolist())
        idx = torch.tensor(idx)
        f, y = F_[idx], Y[idx]
        ia, ib = torch.triu_indices(len(idx), len(idx), 1)
        d = pair([f[ia], f[ib]], training=True)[:, 0]
        same = (y[ia] == y[ib]).float()
        loss = (same * d.square() + (1 - same) * torch.clamp(margin - d, min=0).square())
        loss = 0.5 * ((loss * same).sum() / same.sum().clamp(min=1) + (loss * (1 - same)).sum() / (1 - same).sum().clamp(min=1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        step += 1
        if step % 200 == 0:
            log(f"stage2 step {step} loss {np.mean(losses[-200:]):.4f}")
    del dist_layer
    return head, {"steps": step, "features": int(len(Y)), "seconds": time.monotonic() - t0, "batch": batch, "lr": lr,
                  "margin": margin, "loss": "contrastive (Hadsell et al. 2006) on the Euclidean distance",
                  "loss_first": float(np.mean(losses[:50])) if losses else None,
                  "loss_last": float(np.mean(losses[-200:])) if losses else None}


def validate(model: Any, icons: Any, val_ids: list[str], count: int = 300) -> dict[str, float]:
    """Validation figures (choose heads, never reported as held-out): 1-of-5 trials over the
    validation identities, and synthetic challenges at :data:`VAL_CHALLENGE_SEED`."""
    from calibration.captcha_real import IconSet, matching_trials

    sub = IconSet(icons.root, {i: icons.crops[i] for i in val_ids}, {i: "test" for i in val_ids})
    trials = matching_trials(sub, 500, seed=99)
    fn = lambda crops: embed(model, crops)  # noqa: E731
    return {"real_val": trial_accuracy(fn, trials),
            "synth_val": challenge_accuracy(fn, range(VAL_CHALLENGE_SEED, VAL_CHALLENGE_SEED + count))}


def load_init(model: Any, init: str | Path, crops: Any) -> str:
    """Set ``model``'s weights from ``init``: a ``siamese.weights.h5`` of an earlier run, or an ``.onnx`` export of
    the same architecture (:func:`training.keras_from_onnx.load_keras_from_onnx`, which checks the recovered
    model against ONNX Runtime and measures the folded BatchNormalizations on ``crops()``: a callable giving
    uint8 BGR crops ``(N, *SIZE, 3)`` of the training distribution, called only for an export). Returns a line
    for the log."""
    if str(init).endswith(".onnx"):
        from training.keras_from_onnx import load_keras_from_onnx

        res = load_keras_from_onnx(model, init, to_input(crops()).numpy())
        return f"weights recovered from the export ({res})"
    model.load_weights(str(init))
    return "weights loaded"


def train(out: str | Path, *, stage1_minutes: float = 24, stage2_minutes: float = 4, batch: int = 64,
          lr: float = 2e-3, seed: int = 0, threads: int = 1, real: str | None = None,
          init: str | None = None, command: str | None = None) -> dict[str, Any]:
    """Both stages (module docs); writes ``out/siamese.weights.h5`` and ``out/summary.json``.
    ``init``: a ``siamese.weights.h5`` to continue from (stage 1 then fine-tunes it), or an ``.onnx``
    export of the same architecture (the bundled ``siamese_icons.onnx``: its weights recovered and checked by
    :func:`training.keras_from_onnx.load_keras_from_onnx`); a continued run is validated before it trains too
    (``validation.start`` in the summary). ``stage2_minutes=0`` skips stage 2."""
    import torch

    from calibration.captcha_real import load_icon_set
    from exporters.zoo.keras_models import keras, siamese_xception_small

    torch.set_num_threads(threads)
    keras.utils.set_random_seed(seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    logf = (out / "train.log").open("a")

    def log(msg: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()

    icons = load_icon_set(real)
    train_ids, val_ids = split_train_val(icons)
    sampler = Sampler(icons, train_ids, synth_classes(), seed)
    log(f"{len(train_ids)} real train identities, {len(val_ids)} validation, {len(icons.identities('test'))} held "
        f"out (never read); {len(sampler.synth_ids)} procedural classes")
    built = siamese_xception_small(**ARCH)
    model = built.model
    v0 = None
    if init:
        how = load_init(model, init, lambda: Sampler(icons, train_ids, synth_classes(), seed + 7919).batch(64)[0])
        log(f"continuing from {init}: {how}")
        v0 = validate(model, icons, val_ids)
        log(f"start validation {v0}")
    s1 = train_stage1(model, sampler, minutes=stage1_minutes, batch=batch, lr=lr, log=log)
    v1 = validate(model, icons, val_ids)
    log(f"stage1 ({s1['steps']} steps) validation {v1}")
    w1 = model.get_layer("projection").get_weights()
    s2: dict[str, Any] | None = None
    v2 = None
    if stage2_minutes > 0:
        head, s2 = train_stage2(model, sampler, minutes=stage2_minutes, samples=8192, batch=64, lr=1e-3,
                                margin=1.0, log=log)
        model.get_layer("projection").set_weights(head.get_layer("projection").get_weights())
        v2 = validate(model, icons, val_ids)
        log(f"stage2 validation {v2}")
    keep = "stage2" if v2 and (v2["real_val"] + v2["synth_val"]) >= (v1["real_val"] + v1["synth_val"]) else "stage1"
    if keep == "stage1":
        model.get_layer("projection").set_weights(w1)
    save_keras_weights(model, str(out / "siamese.weights.h5"))
    summary = {"command": command or COMMAND, "arch": "siamese_xception_small", "arch_kwargs": {**ARCH, "size": list(SIZE)},
               "params": int(model.count_params()), "seed": seed, "threads": threads, "init": init,
               "data": {"real_train_identities": len(train_ids), "validation_identities": val_ids,
                        "heldout_identities": icons.identities("test"), "synth_classes": len(sampler.synth_ids)},
               "stage1": s1, "stage2": s2, "validation": {"start": v0, "stage1": v1, "stage2": v2}, "kept": keep}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    log(f"kept {keep}; wrote {out / 'siamese.weights.h5'}")
    return summary


# --- export, int8, model card ---------------------------------------------------------------------

BUNDLE_DIR = Path(__file__).resolve().parent.parent / "edgevision" / "models"
FAMILY = "siamese_icons"
#: Calibration methods tried for the static int8 model (U8S8, per-channel weights); the one with the
#: best validation score (validation identities + validation challenges, never held-out data) is bundled.
INT8_METHODS = ("minmax", "percentile", "entropy")


def calibration_crops(icons: Any, train_ids: list[str], count: int = 256, seed: int = 11) -> list[np.ndarray]:
    """Crops of the training distribution for int8 calibration: half augmented real train icons and
    procedural crops (:class:`Sampler`, another seed), half reference and slot crops of challenges
    rendered from training identities."""
    from calibration.captcha_synth import crop_box, default_layout, render_challenge

    x, _ = Sampler(icons, train_ids, synth_classes(), seed).batch(count // 2)
    crops = list(x)
    ids = synth_classes()
    s = 0
    while len(crops) < count:
        ch = render_challenge(5_000_000 + seed * 1000 + s, identities=ids)
        lay = default_layout(ch.image.shape[:2])
        crops += [crop_box(ch.image, lay["reference_box"])] + [crop_box(ch.image, b) for b in lay["candidate_boxes"]]
        s += 1
    return crops[:count]


def _matcher_validation(path: Path, icons: Any, val_ids: list[str], count: int = 300) -> dict[str, float]:
    """:func:`validate`'s figures for an ONNX model through :class:`edgevision.SiameseMatcher`."""
    from calibration.captcha_real import IconSet, matching_trials
    from edgevision.matching import SiameseMatcher

    m = SiameseMatcher(str(path), threads=1)
    sub = IconSet(icons.root, {i: icons.crops[i] for i in val_ids}, {i: "test" for i in val_ids})
    return {"real_val": trial_accuracy(m.embed, matching_trials(sub, 500, seed=99)),
            "synth_val": challenge_accuracy(m.embed, range(VAL_CHALLENGE_SEED, VAL_CHALLENGE_SEED + count))}


def _training_info(summary: dict[str, Any]) -> dict[str, Any]:
    """The ``training`` section an export of a run carries in its metadata (from the run's ``summary.json``)."""
    return {"recipe": "training/siamese.py", "command": summary["command"], "kept": summary["kept"],
            "validation": summary["validation"], "stage1_steps": summary["stage1"]["steps"],
            "stage2_steps": (summary.get("stage2") or {}).get("steps", 0), "init": summary.get("init")}


def _write_fp32_int8(fp32: Path, calib_crops: list[np.ndarray], icons: Any, val_ids: list[str],
                     out_dir: Path) -> tuple[dict[str, Any], str, tuple[dict[str, bool], list[str]]]:
    """Quantize the fp32 export ``fp32`` to static int8 (:func:`calibration.quantize.quantize`, U8S8, each of
    :data:`INT8_METHODS` calibrated on ``calib_crops``), keep the method with the best validation score, and
    write ``<out_dir>/siamese_icons.onnx`` (a copy of ``fp32``) and ``siamese_icons_int8.onnx`` (through
    :func:`calibration.quantize.optimize_input`: the same outputs bit for bit with a cheaper input).
    Returns the validation figures of every variant, the method kept and ``optimize_input``'s notes."""
    import shutil
    import tempfile

    from calibration.data import CalibrationSet
    from calibration.quantize import optimize_input, quantize

    calib = CalibrationSet.from_source(fp32, calib_crops, count=len(calib_crops), seed=0)
    variants: dict[str, Any] = {"fp32": _matcher_validation(fp32, icons, val_ids)}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for method in INT8_METHODS:
            q = quantize(fp32, calib, Path(tmp) / f"{FAMILY}_int8_{method}.onnx", method=method, fmt="U8S8")
            paths[method] = q.path
            variants[f"int8 {method}"] = _matcher_validation(q.path, icons, val_ids)
        best = max(INT8_METHODS, key=lambda m: (variants[f"int8 {m}"]["real_val"] + variants[f"int8 {m}"]["synth_val"],
                                                -INT8_METHODS.index(m)))
        out_dir.mkdir(parents=True, exist_ok=True)
        if Path(fp32).resolve() != (out_dir / f"{FAMILY}.onnx").resolve():
            shutil.copyfile(fp32, out_dir / f"{FAMILY}.onnx")
        shutil.copyfile(paths[best], out_dir / f"{FAMILY}_int8.onnx")
    return variants, best, optimize_input(out_dir / f"{FAMILY}_int8.onnx")


def bundle(run: str | Path, *, real: str | None = None, out_dir: str | Path = BUNDLE_DIR,
           synthetic: int = 500) -> dict[str, Any]:
    """Export the run's weights (``exporters.export_keras``), quantize them to static int8 through
    :func:`calibration.quantize.quantize` (each of :data:`INT8_METHODS`; the best on validation is
    kept), write ``<out_dir>/siamese_icons.onnx``, ``siamese_icons_int8.onnx`` and the model card
    ``siamese_icons.md`` with ``benchmarks.captcha``'s figures (real held-out first)."""
    import torch

    import exporters
    from benchmarks.captcha import run_captcha, to_markdown
    from calibration.captcha_real import load_icon_set
    from exporters.zoo.keras_models import siamese_xception_small

    torch.set_num_threads(1)
    run, out_dir = Path(run), Path(out_dir)
    summary = json.loads((run / "summary.json").read_text())
    icons = load_icon_set(real)
    train_ids, val_ids = split_train_val(icons)
    built = siamese_xception_small(**ARCH)
    built.model.load_weights(str(run / "siamese.weights.h5"))
    fp32 = run / f"{FAMILY}.onnx"
    calib_crops = calibration_crops(icons, train_ids)
    exp = exporters.export_keras(built.model, fp32, **built.export_kwargs(), extra={"training": _training_info(summary)},
                                 representative=calib_crops[:16])
    variants, best, (input_steps, input_notes) = _write_fp32_int8(fp32, calib_crops, icons, val_ids, out_dir)
    res = run_captcha([str(out_dir / f"{FAMILY}.onnx"), str(out_dir / f"{FAMILY}_int8.onnx")], real=real,
                      synthetic=synthetic)
    (run / "benchmark.json").write_text(json.dumps(res, indent=2, default=str))
    breakdown = synthetic_breakdown(out_dir / f"{FAMILY}_int8.onnx")
    (run / "breakdown.json").write_text(json.dumps(breakdown, indent=2))
    card = write_card(out_dir / f"{FAMILY}.md", summary, res, variants, best, exp, breakdown,
                      input_rewrites=(input_steps, input_notes))
    return {"card": str(card), "int8_method": best, "variants": variants,
            "rows": res["rows"], "markdown": to_markdown(res)}


def ensemble(members: list[str | Path], *, real: str | None = None, out_dir: str | Path = BUNDLE_DIR,
             work: str | Path = "runs/siamese_ensemble") -> dict[str, Any]:
    """Average embeddings of this architecture trained apart into one model and write it as
    ``<out_dir>/siamese_icons.onnx`` and its static int8 ``siamese_icons_int8.onnx`` (:func:`_write_fp32_int8`:
    the calibration method chosen on validation). ``members``: fp32 ``.onnx`` exports (e.g. the bundled
    ``siamese_icons.onnx``) or run folders of :func:`train` (their weights exported first, into the run folder).
    The model is :func:`exporters.ensemble.average_models`' mean of the members' unit embeddings (one graph;
    the matcher renormalizes it). Returns the validation figures of each member alone (fp32) and of every
    variant of the average, and the int8 method kept; ``benchmarks.captcha`` measures the files held out,
    and the model card's section on the ensemble is written from its figures."""
    import shutil

    import torch

    import exporters
    from calibration.captcha_real import load_icon_set
    from edgevision.errors import InvalidArgumentError
    from exporters.ensemble import average_models
    from exporters.zoo.keras_models import siamese_xception_small

    if len(members) < 2:
        raise InvalidArgumentError(f"members: expected at least 2 exports or run folders, got {len(members)}")
    for m in map(Path, members):
        if not (m.is_file() or (m / "siamese.weights.h5").is_file() and (m / "summary.json").is_file()):
            raise InvalidArgumentError(f"members: {m}: neither an .onnx export nor a run folder of training.siamese "
                                       "(siamese.weights.h5 and summary.json)")
    torch.set_num_threads(1)
    work, out_dir = Path(work), Path(out_dir)
    work.mkdir(parents=True, exist_ok=True)
    icons = load_icon_set(real)
    train_ids, val_ids = split_train_val(icons)
    calib_crops = calibration_crops(icons, train_ids)
    files = []
    for i, m in enumerate(members):
        m = Path(m)
        if m.is_dir():
            built = siamese_xception_small(**ARCH)
            built.model.load_weights(str(m / "siamese.weights.h5"))
            summary = json.loads((m / "summary.json").read_text())
            exporters.export_keras(built.model, m / f"{FAMILY}.onnx", **built.export_kwargs(),
                                   extra={"training": _training_info(summary)}, representative=calib_crops[:16])
            m = m / f"{FAMILY}.onnx"
        files.append(shutil.copyfile(m, work / f"member{i}.onnx"))
    alone = {f"member{i}": _matcher_validation(f, icons, val_ids) for i, f in enumerate(files)}
    fp32 = average_models(files, work / f"{FAMILY}.onnx", name=FAMILY)
    variants, best, notes = _write_fp32_int8(fp32, calib_crops, icons, val_ids, out_dir)
    res = {"members": [str(m) for m in members], "alone": alone, "variants": variants, "int8_method": best,
           "input_rewrites": notes}
    (work / "ensemble.json").write_text(json.dumps(res, indent=2, default=str))
    return res


def _pct(v: float | None) -> str:
    return "not measured" if v is None else f"{100 * v:.1f}%"


#: The totals sentence of a card :func:`write_card` wrote ("trained for 179 minutes in all (21772 steps) on 1 to
#: 2 threads ...").
_CARD_TOTALS = re.compile(r"trained for (\d+) minutes in all \((\d+) steps\) on\s+(\d+)(?: to (\d+))? threads?")


def _earlier_runs(init: str | None) -> dict[str, Any] | None:
    """Where a chain of runs starts from a bundled export (``init`` an ``.onnx`` with the model card
    :func:`write_card` wrote beside it, whose runs' folders may be gone): that card's lines for the runs that
    made the export (``lines``), and their ``minutes``, ``steps`` and ``threads``, so that the next card keeps
    the whole chain. None for any other ``init``, or a card without them."""
    if not init or not str(init).endswith(".onnx"):
        return None
    card = Path(init).with_name(f"{FAMILY}.md")
    if not card.is_file():
        return None
    text = card.read_text()
    m = _CARD_TOTALS.search(text)
    start = text.find("\n- `python -m training.siamese")
    if m is None or start < 0:
        return None
    lines = []
    for line in text[start + 1:].splitlines():   # the run list: each run's line and its indented stages
        if not (line.startswith("- `python -m training.siamese") or line.startswith("  ")):
            break
        lines.append(line)
    return {"lines": "\n".join(lines), "minutes": float(m.group(1)), "steps": int(m.group(2)),
            "threads": {int(m.group(3)), int(m.group(4) or m.group(3))}}


def _chain(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """A run's summary, then the summaries of the runs it continued (each ``init``'s ``summary.json``), newest
    first; the last one's ``init`` may be a bundled export (:func:`_earlier_runs`)."""
    chain, cur = [], summary
    while True:
        chain.append(cur)
        prev = Path(cur["init"]).parent / "summary.json" if cur.get("init") else None
        if not prev or not prev.is_file():
            return chain
        cur = json.loads(prev.read_text())


def chain_totals(summary: dict[str, Any]) -> tuple[float, int, list[int]]:
    """Minutes and stage-1 steps of training, and the thread counts used, over a run and the runs it continued
    (``init``: an earlier run's ``summary.json``, or a bundled export's card, :func:`_earlier_runs`)."""
    chain = _chain(summary)
    minutes = sum(c["stage1"]["seconds"] / 60 + ((c.get("stage2") or {}).get("seconds", 0) / 60) for c in chain)
    steps = sum(c["stage1"]["steps"] for c in chain)
    threads = {int(c.get("threads") or 1) for c in chain}
    earlier = _earlier_runs(chain[-1].get("init"))
    if earlier:
        minutes, steps, threads = minutes + earlier["minutes"], steps + earlier["steps"], threads | earlier["threads"]
    return minutes, steps, sorted(threads)


def _run_lines(summary: dict[str, Any]) -> str:
    """The card's lines for a run and, first, the runs it continued from (:func:`_chain`, then the lines of the
    bundled export's card it may have started from, :func:`_earlier_runs`), oldest first."""
    chain = _chain(summary)
    earlier = _earlier_runs(chain[-1].get("init"))
    return "\n".join(([earlier["lines"]] if earlier else []) + [_one_run_lines(s) for s in reversed(chain)])


def _one_run_lines(summary: dict[str, Any]) -> str:
    """The card's lines for one run: its command, then each stage."""
    s1, s2, val = summary["stage1"], summary.get("stage2"), summary["validation"]
    out = f"""- `{summary["command"]}`{f" (continues from `{summary['init']}`)" if summary.get("init") else ""}:
  - stage 1 (backbone): {s1.get("loss", "CosFace")}, over {s1["classes"]} classes, {s1["steps"]} steps of batch
    {s1["batch"]} ({s1["seconds"] / 60:.1f} min, AdamW, peak lr {s1["lr"]}, cosine); loss {s1["loss_first"]:.2f} ->
    {s1["loss_last"]:.2f}, batch recall@1 at the end {s1.get("train_recall_last", float("nan")):.2f}; validation: real
    {_pct(val["stage1"]["real_val"])}, synthetic {_pct(val["stage1"]["synth_val"])};"""
    if s2:
        out += f"""
  - stage 2 (seed 004's Siamese fine-tuning): backbone frozen, the projection fine-tuned as a Siamese pair
    network (shared head, Euclidean distance layer), {s2["loss"]}, margin {s2["margin"]}, {s2["steps"]} steps on
    {s2["features"]} frozen-backbone features ({s2["seconds"] / 60:.1f} min); validation: real
    {_pct(val["stage2"]["real_val"])}, synthetic {_pct(val["stage2"]["synth_val"])}; kept: **{summary["kept"]}**."""
    else:
        out += "\n  - stage 2 not run (`--stage2-minutes 0`: it lost on validation where it ran, the first run of an earlier chain)."
    return out


def synthetic_breakdown(model: str | Path, count: int = 300) -> dict[str, Any]:
    """Target accuracy on the first ``count`` held-out challenges with the default-layout slots and with the
    labelled figure boxes, and the slot misses by the target's figure family (``"family misses/count"``)."""
    from benchmarks.captcha import synthetic_challenges
    from calibration.captcha_synth import figure_params
    from edgevision.matching import SiameseMatcher

    m = SiameseMatcher(str(model), threads=1)
    slots = boxes = 0
    fam: dict[str, list[int]] = {}
    for ch in synthetic_challenges(count):
        ok = m(ch.image).target == ch.target
        slots += ok
        boxes += m(ch.image, ch.reference_box, ch.boxes).target == ch.target
        f = fam.setdefault(figure_params(ch.identities[ch.target])[0], [0, 0])
        f[0] += not ok
        f[1] += 1
    return {"count": count, "slots": slots / count, "labelled_boxes": boxes / count,
            "families": ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in sorted(fam.items(), key=lambda kv: -kv[1][0] / kv[1][1]))}


def write_card(path: Path, summary: dict[str, Any], res: dict[str, Any], variants: dict[str, Any], best: str,
               exp: Any, breakdown: dict[str, Any], input_rewrites: tuple[Any, list[str]] = ((), [])) -> Path:
    """The model card (Markdown): real held-out figures first, then synthetic, fp32 vs int8, training.
    ``input_rewrites``: what :func:`calibration.quantize.optimize_input` applied to the int8 model, and its notes."""
    from benchmarks.captcha import to_markdown
    from edgevision.matching import DEFAULT_SEARCH, DEFAULT_VIEWS

    rows = {Path(r["model"]).stem: r for r in res["rows"]}
    f, q = rows[FAMILY], rows[f"{FAMILY}_int8"]
    targets = [
        ("real held-out icons, 1-of-5 (int8)", ">= 97%", q["real_accuracy"] is not None and q["real_accuracy"] >= 0.97,
         _pct(q["real_accuracy"])),
        ("synthetic challenges (int8)", ">= 98%", q["synthetic_accuracy"] >= 0.98, _pct(q["synthetic_accuracy"])),
        ("int8 within 1 pp of fp32 (real; fp32 minus int8)", "<= 1 pp",
         q["real_accuracy"] is not None and f["real_accuracy"] - q["real_accuracy"] <= 0.01,
         f"{100 * ((f['real_accuracy'] or 0) - (q['real_accuracy'] or 0)):+.1f} pp"),
        ("int8 within 1 pp of fp32 (synthetic; fp32 minus int8)", "<= 1 pp", f["synthetic_accuracy"] - q["synthetic_accuracy"] <= 0.01,
         f"{100 * (f['synthetic_accuracy'] - q['synthetic_accuracy']):+.1f} pp"),
        ("int8 latency (per challenge)", "<= 0.5x fp32", q["ms_per_challenge"] <= 0.5 * f["ms_per_challenge"],
         f"{q['ms_per_challenge'] / f['ms_per_challenge']:.2f}x"),
    ]
    trows = "\n".join(f"| {a} | {b} | {d} | {'met' if c else '**not met**'} |" for a, b, c, d in targets)
    vrows = "\n".join(f"| {k}{' (bundled)' if k == 'int8 ' + best else ''} | {_pct(v['real_val'])} | "
                      f"{_pct(v['synth_val'])} |" for k, v in variants.items())
    d = summary["data"]
    minutes, steps, threads = chain_totals(summary)
    cpu = (f"{threads[0]} thread{'s' if threads[0] > 1 else ''}" if len(threads) == 1
           else " to ".join(str(t) for t in (threads[0], threads[-1])) + " threads") + " of a 2-core CPU"
    v = summary["validation"]
    final_val = v["stage2"] if summary["kept"] == "stage2" else v["stage1"]
    br = breakdown
    text = f"""# siamese_icons.onnx / siamese_icons_int8.onnx

**Task:** `embedding` (seed 004's icon-matching captchas): a unit 128-d embedding of a figure crop;
`edgevision.SiameseMatcher` embeds the reference and the candidates and answers with the candidate most
cosine-similar to the reference (the smallest Euclidean distance between unit embeddings), and its centre.
**Architecture:** `siamese_xception_small` (`exporters.zoo.keras_models`): a narrow Xception (stem, 2 entry
blocks, 2 middle blocks, exit block of separable residual blocks, width 16), global average pooling,
linear `projection` to 128, L2 normalization; {summary["params"]:,} parameters. Keras 3 (torch backend),
exported with `exporters.export_keras` (parity with Keras: max abs error {exp.parity.max_abs:.1e}).
**Input:** `images` NHWC float32, 64 x 64, RGB, `(pixel / 255 - 0.5) / 0.5`, crops stretched (all in the
model's `edgevision` metadata). Sizes: fp32 {f["size_mb"]:.2f} MB, int8 {q["size_mb"]:.2f} MB.

## Real held-out icons first, then synthetic challenges

`python -m benchmarks.captcha` ({res["environment"].get("date")}). Real: the fixed list of
{f["real_trials"]} trials (`calibration.captcha_real.matching_trials`) over the 30 identities of
`icons_zhujinchong/datasets/icons` held out by `zlib.crc32(folder name)` (never trained on, never used to
choose anything): reference = one crop of an identity, candidates = another crop of it and one crop each of 4
other held-out identities. Synthetic: {f["synthetic_count"]} held-out challenges
(`calibration.captcha_synth.render_challenge`, seeds {HELDOUT_CHALLENGE_SEED}+, procedural figures of held-out
identities, 5 candidates), cropped at the default layout's slots, each slot searched at 5 crops (the slot and the
slot moved by {DEFAULT_SEARCH:g} of its side each way: `SiameseMatcher`'s default crop search), with the matcher's
default test-time views (`{DEFAULT_VIEWS}`: each crop's embedding the mean over its views).

{to_markdown(res)}
| issue 18 target | wanted | measured | |
|---|---|---|---|
{trows}

What limits the accuracy: the model was trained for {minutes:.0f} minutes in all ({steps} steps) on
{cpu} (the runs under "Training"); the final validation figures
({_pct(final_val["real_val"])} real, {_pct(final_val["synth_val"])} synthetic) are close to the held-out ones, so
this is underfitting rather than a gap between validation and held-out data. Seed 004's own 98.36% is measured
on its training set with a full Xception on a GPU. On the first {br["count"]} synthetic held-out challenges (int8)
cropping the figures' labelled boxes instead of the default-layout slots scores {_pct(br["labelled_boxes"])}
against {_pct(br["slots"])}: part of the synthetic loss is slot crops that cut a rotated figure or take in a
neighbour. Misses by figure family of the target (slots): {br["families"]}.

Latency: one challenge is the reference and 5 candidates, each candidate searched at 5 crops (26 crops),
every crop embedded as the matcher's default test-time views (`edgevision.matching.DEFAULT_VIEWS`) in batches of
`edgevision.matching.EMBED_BATCH`; the per-crop row is one crop alone; the models are timed round-robin in the
same run, and timings on this shared machine move by tens of percent with other work on it. The model is small (0.34 M parameters, mostly depthwise and 1x1 convolutions at 64 x 64), so per-node overhead and
the QuantizeLinear/DequantizeLinear pairs take much of what int8 arithmetic saves.

The synthetic held-out figures use held-out identities, but the figure *families* (polygons, stars,
arrows, crosses, rings, crescents, glyphs, composites) are those of training: many held-out plain figures have
the signature of a training figure, rendered anew (colour, rotation, scale, background, clutter).

## Quantization

Static int8 (QDQ, U8S8, per-channel weights) through `calibration.quantize.quantize`, calibrated on 256 crops
of the training distribution (augmented train icons, procedural crops, slot crops of challenges of training
identities). Each calibration method was scored on the validation set (1-of-5 trials over the
{len(d["validation_identities"])} validation identities, which are train identities kept out of training; 300
validation challenges); the best one ({best}) is bundled, with its input rewritten by
`calibration.quantize.optimize_input` (the same outputs bit for bit: {", ".join(input_rewrites[0]) or "none"}{"; " + "; ".join(input_rewrites[1]) if input_rewrites[1] else ""}):

| variant | validation real 1-of-5 | validation synthetic |
|---|---|---|
{vrows}

## Training

- Recipe: `training/siamese.py` (`make train-siamese` runs the commands below, then the bundling step).
- Data: real icons of {d["real_train_identities"]} train identities (120 of `datasets/icons` less the
  {len(d["validation_identities"])} validation ones, and the 50 of `datasets/icons_craw`; Apache-2.0), augmented
  (recolouring, any rotation, scale, shift, blur, low resolution, noise, or pasted rotated on a noisy
  background), and {d["synth_classes"]} procedural figure classes drawn as challenge candidates or references.
  The 30 held-out identities are never read by training.
{_run_lines(summary)}
- CPU: {cpu} (`torch.set_num_threads`), shared with other work.

Whole real captcha screenshots are not measured (no labelled set here): the real figures are crop-level
trials; the coordinates come from the candidate boxes a caller or the default layout gives.
"""
    path.write_text(carry_card_sections(path.read_text() if path.is_file() else "", text))
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.siamese", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/siamese", help="run folder (weights, summary.json, train.log)")
    ap.add_argument("--stage1-minutes", type=float, default=24.0, help="wall-clock budget of stage 1")
    ap.add_argument("--stage2-minutes", type=float, default=4.0, help="wall-clock budget of stage 2")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3, help="stage-1 peak learning rate (AdamW, cosine)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the CPU is shared)")
    ap.add_argument("--real", help="the real-data root (default: calibration.real.real_root())")
    ap.add_argument("--init", help="continue from this siamese.weights.h5 (a previous run's) or a .onnx export "
                                   "of the same architecture (e.g. edgevision/models/siamese_icons.onnx)")
    ap.add_argument("--bundle", action="store_true", help="only export, quantize and bundle an existing run")
    ap.add_argument("--no-bundle", action="store_true", help="train only")
    ap.add_argument("--ensemble", nargs="+", metavar="MEMBER",
                    help="only average these fp32 exports or run folders (trained apart) into the bundled files, "
                         "int8 chosen on validation; --out is the work folder")
    args = ap.parse_args(argv)
    if args.ensemble:
        print(json.dumps(ensemble(args.ensemble, real=args.real, work=args.out), indent=2, default=str))
        return 0
    if not args.bundle:
        train(args.out, stage1_minutes=args.stage1_minutes, stage2_minutes=args.stage2_minutes, batch=args.batch,
              lr=args.lr, seed=args.seed, threads=args.threads, real=args.real, init=args.init,
              command=" ".join(["python -m training.siamese", *(sys.argv[1:] if argv is None else argv)]))
    if not args.no_bundle:
        print(json.dumps(bundle(args.out, real=args.real), indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

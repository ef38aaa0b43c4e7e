"""Shared pieces of the training recipes: determinism, sample caches, checkpoints, the loop's clock.

Host side only (torch). Conventions: images are uint8 BGR as OpenCV gives them;
the model input is made by the *deploy* preprocessing (the edgevision kernel
with the model's own config), never by a training-only resize.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgevision._io import atomic_output
from edgevision.errors import InvalidArgumentError


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA) generators."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_precision(precision: str | None, device: str) -> str:
    """``fp32`` or ``bf16`` (mixed precision: autocast to bfloat16, fp32 master weights).

    ``auto`` (or None) is ``bf16`` where the hardware computes it natively, on a CUDA
    device that supports bfloat16 or on a CPU with AVX-512 BF16 or AMX (oneDNN then
    runs convolutions and matrix products in bf16, 2-3x faster than fp32), and
    ``fp32`` elsewhere, where emulated bf16 would be slower than fp32.
    """
    import torch

    if precision in (None, "auto"):
        if device.startswith("cuda"):
            return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        native = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)() or \
            getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
        return "bf16" if native else "fp32"
    if precision not in ("fp32", "bf16"):
        raise InvalidArgumentError(f"precision: expected 'fp32', 'bf16' or 'auto', got {precision!r}")
    return precision


def start_run(seed: int | None, threads: int | None, device: str | None) -> tuple[int, str]:
    """A recipe's common start: the data/init seed (default ``calibration.synth.TRAIN_SEED``)
    seeded everywhere, torch's intra-op threads, and the device. Returns (seed, device)."""
    import torch

    from calibration.synth import TRAIN_SEED

    seed = TRAIN_SEED if seed is None else seed
    seed_everything(seed)
    if threads:
        torch.set_num_threads(threads)
    return seed, pick_device(device)


def pick_device(device: str | None = None) -> str:
    """``cuda`` when available (or asked for), else ``cpu``."""
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidArgumentError(f"device: {device!r} asked for, but torch sees no CUDA device")
    return device


def _chunk_worker(args: tuple[Callable[[int], tuple[np.ndarray, np.ndarray]], int, int]) -> tuple[int, np.ndarray, np.ndarray]:
    fn, lo, hi = args
    xs, ys = zip(*(fn(i) for i in range(lo, hi)))
    return lo, np.stack(xs), np.stack(ys)


def build_cache(path: str | os.PathLike, make: Callable[[int], tuple[np.ndarray, np.ndarray]], count: int, *,
                key: Mapping[str, Any], workers: int | None = None, desc: str = "samples",
                progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Samples ``make(0) .. make(count-1)`` (each an (x, y) pair of arrays), cached on disk.

    The cache is ``path`` (``.npz``-like pair of ``.npy`` files plus a JSON key);
    it is reused when ``key`` (everything the samples depend on) is unchanged,
    rebuilt otherwise. Samples are made by a process pool (fork) of ``workers``
    processes (default: CPU count; ``make`` must then be picklable), or in this
    process when ``workers == 1``.
    Returns (X, Y) as read-only memory maps.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    want = json.dumps({"count": count, **key}, sort_keys=True, default=str)
    tag = hashlib.sha256(want.encode()).hexdigest()[:16]
    fx, fy, fk = path / f"{tag}.x.npy", path / f"{tag}.y.npy", path / f"{tag}.json"
    if fx.exists() and fy.exists() and fk.exists() and fk.read_text() == want:
        return np.load(fx, mmap_mode="r"), np.load(fy, mmap_mode="r")
    x0, y0 = make(0)
    X = np.lib.format.open_memmap(str(fx) + ".tmp", "w+", x0.dtype, (count, *x0.shape))
    Y = np.lib.format.open_memmap(str(fy) + ".tmp", "w+", y0.dtype, (count, *y0.shape))
    step = 64
    jobs = [(make, lo, min(lo + step, count)) for lo in range(0, count, step)]
    workers = workers or os.cpu_count() or 1
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=count, desc=f"generating {desc}", unit="img", smoothing=0.1)
    def store(results: Any) -> None:
        for lo, xs, ys in results:
            X[lo:lo + len(xs)] = xs
            Y[lo:lo + len(ys)] = ys
            if bar is not None:
                bar.update(len(xs))

    if workers == 1:  # in this process (no pickling)
        store(map(_chunk_worker, jobs))
    else:
        with mp.get_context("fork").Pool(workers) as pool:
            store(pool.imap_unordered(_chunk_worker, jobs))
    if bar is not None:
        bar.close()
    X.flush()
    Y.flush()
    os.replace(str(fx) + ".tmp", fx)
    os.replace(str(fy) + ".tmp", fy)
    fk.write_text(want)
    return np.load(fx, mmap_mode="r"), np.load(fy, mmap_mode="r")


@dataclass
class Checkpointer:
    """``last.pt`` in ``directory``: model, optimizer, scheduler, step, RNG states; written atomically."""

    directory: Path

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    @property
    def path(self) -> Path:
        return self.directory / "last.pt"

    def save(self, step: int, model: Any, optimizer: Any, scheduler: Any, extra: Mapping[str, Any]) -> None:
        import torch

        state = {"step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict() if scheduler is not None else None,
                 "torch_rng": torch.get_rng_state(), "numpy_rng": np.random.get_state(), "extra": dict(extra)}
        with atomic_output(self.path) as tmp:
            torch.save(state, tmp)

    def load(self, model: Any, optimizer: Any, scheduler: Any) -> tuple[int, dict[str, Any]]:
        """Restore from ``last.pt``; returns (step, extra). (0, {}) when there is no checkpoint."""
        import torch

        if not self.path.exists():
            return 0, {}
        state = torch.load(self.path, map_location="cpu", weights_only=False)  # our own file: RNG states are numpy
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        np.random.set_state(state["numpy_rng"])
        return int(state["step"]), dict(state.get("extra", {}))


class Schedule:
    """Warm-up then cosine learning rate over the run's *progress*, a fraction in [0, 1].

    Progress is the larger of ``step / total_steps`` and ``elapsed / budget_s``
    (when a time budget is set), so a run cut short by its wall-clock budget still
    anneals to the end of its schedule instead of stopping at a high learning rate.
    ``elapsed`` carries over a resume (``start_elapsed``).
    """

    def __init__(self, max_lr: float, total_steps: int, budget_s: float | None, *, warmup: float = 0.05,
                 final: float = 0.01, start_elapsed: float = 0.0) -> None:
        self.max_lr, self.total, self.budget = max_lr, max(1, total_steps), budget_s
        self.warmup, self.final = warmup, final
        self.t0 = time.monotonic() - start_elapsed

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def progress(self, step: int) -> float:
        f = step / self.total
        if self.budget:
            f = max(f, self.elapsed / self.budget)
        return min(1.0, f)

    def lr(self, step: int) -> float:
        import math

        f = self.progress(step)
        if f < self.warmup:
            return self.max_lr * (0.1 + 0.9 * f / self.warmup)
        g = (f - self.warmup) / (1 - self.warmup)
        return self.max_lr * (self.final + (1 - self.final) * 0.5 * (1 + math.cos(math.pi * g)))

    def apply(self, optimizer: Any, step: int) -> float:
        lr = self.lr(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr


def fit(model: Any, X: np.ndarray, Y: np.ndarray, loss_fn: Any, out: Path, *, name: str, batch: int, epochs: int,
        lr: float, weight_decay: float, seed: int, time_budget_s: float | None, resume: bool, device: str,
        jitter: tuple[float, float], progress: bool, log_every: int, precision: str | None = "fp32",
        forward: Callable[[Any, Any], Any] | None = None) -> dict[str, Any]:
    """The training loop both recipes share; returns the run's summary figures.

    Each step takes a batch of cached uint8 NHWC BGR inputs ``X[idx]`` (epoch order
    from a seeded permutation, so a resumed run sees the same batches), normalizes
    them like the deploy config (:func:`imagenet_normalizer`), applies a per-image
    brightness gain and offset drawn from ``1 +- jitter[0]`` and ``+- jitter[1]``,
    and minimizes ``loss_fn(model(x), y) -> (loss, {"name": value})`` with AdamW
    under :class:`Schedule`. Checkpoints every 200 steps and at the end
    (``out/checkpoints/last.pt``); the weights go to ``out/<name>.pt``.

    ``precision`` (:func:`pick_precision`): ``bf16`` runs ``forward(model, x)``
    (default ``model(x)``) under ``torch.autocast(dtype=bfloat16)`` with the model
    and inputs in channels-last memory format; weights, optimizer state and the
    loss stay float32, and a recipe's ``forward`` may run precision-critical parts
    (a regression head) with autocast disabled. The saved weights are float32.
    """
    import torch

    samples = len(X)
    precision = pick_precision(precision, device)
    amp = precision == "bf16"
    if amp:
        model = model.to(memory_format=torch.channels_last)
    forward = forward or (lambda m, inp: m(inp))
    norm = imagenet_normalizer(device, channels_last=amp)
    steps_per_epoch = max(1, samples // batch)
    total = steps_per_epoch * epochs
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    ckpt = Checkpointer(out / "checkpoints")
    step, extra = ckpt.load(model, opt, None) if resume else (0, {})
    sched = Schedule(lr, total, time_budget_s, start_elapsed=float(extra.get("elapsed", 0.0)))
    gen = torch.Generator().manual_seed(seed + 1)
    losses: list[float] = []
    logs: dict[str, list[float]] = {}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=step, desc=name, unit="step")
    model.train()
    stopped = "epochs"
    while step < total and sched.progress(step) < 1.0:
        epoch = step // steps_per_epoch
        perm = torch.randperm(samples, generator=torch.Generator().manual_seed(seed * 1000 + epoch)).numpy()
        for b in range(step % steps_per_epoch, steps_per_epoch):
            idx = np.sort(perm[b * batch:(b + 1) * batch])
            x = norm(torch.from_numpy(np.ascontiguousarray(X[idx])))
            y = torch.from_numpy(np.ascontiguousarray(Y[idx])).to(device)
            k = torch.empty(len(idx), 1, 1, 1).uniform_(1 - jitter[0], 1 + jitter[0], generator=gen).to(device)
            o = torch.empty(len(idx), 1, 1, 1).uniform_(-jitter[1], jitter[1], generator=gen).to(device)
            with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=amp):
                pred = forward(model, x * k + o)
            loss, info = loss_fn(_to_float(pred), y)
            cur_lr = sched.apply(opt, step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            losses.append(float(loss.detach()))
            for key, v in info.items():
                logs.setdefault(key, []).append(float(v))
            if bar is not None:
                bar.update(1)
                if step % log_every == 0:
                    shown = {"loss": f"{np.mean(losses[-log_every:]):.5f}", "lr": f"{cur_lr:.2e}"}
                    shown.update({k: f"{np.mean(v[-log_every:]):.4f}" for k, v in logs.items()})
                    bar.set_postfix(shown)
            if step % 200 == 0:
                ckpt.save(step, model, opt, None, {"elapsed": sched.elapsed})
            if sched.progress(step) >= 1.0:
                stopped = "time budget" if step < total else "epochs"
                break
    if bar is not None:
        bar.close()
    ckpt.save(step, model, opt, None, {"elapsed": sched.elapsed})
    model.eval()
    model = model.to(memory_format=torch.contiguous_format)
    torch.save(model.state_dict(), out / f"{name}.pt")
    return {"steps": step, "total_steps": total, "epochs": step / steps_per_epoch, "stopped_by": stopped,
            "precision": precision,
            **_loss_ends(losses), **{f"train_{k}_last100": float(np.mean(v[-100:])) for k, v in logs.items()},
            "seconds": sched.elapsed}


def export_trained(arch: str, arch_kwargs: Mapping[str, Any], weights: str | Path, out: str | Path, *, recipe: str,
                   summary: Mapping[str, Any] | None = None, representative: Any = None) -> Any:
    """Export a recipe's trained weights with full metadata plus a ``training`` section (the run's summary)."""
    import torch

    import exporters
    from exporters.zoo import build

    built = build(arch, **arch_kwargs)
    exporters.load_weights(built.model, weights)
    extra = {"training": {"recipe": recipe, **(summary or {})}}
    return exporters.export_torch(built.model, torch.zeros(2, *built.input_shape), out, **built.export_kwargs(),
                                  extra=extra, representative=representative)


def _loss_ends(losses: list[float]) -> dict[str, float | None]:
    """Mean training loss over the first and the last window of the run (window: min(100, n // 2) steps)."""
    n = len(losses)
    w = max(1, min(100, n // 2))
    if not n:
        return {"loss_first": None, "loss_last": None}
    return {"loss_first": float(np.mean(losses[:w])), "loss_last": float(np.mean(losses[-w:]))}


def _to_float(pred: Any) -> Any:
    """A model output (a tensor or a tuple/list of them) cast to float32 for the loss."""
    if isinstance(pred, (tuple, list)):
        return type(pred)(p.float() for p in pred)
    return pred.float()


def imagenet_normalizer(device: str, *, channels_last: bool = False) -> Callable[[Any], Any]:
    """uint8 NHWC BGR batch -> float NCHW RGB, (x/255 - mean)/std: the configs' preprocessing after the resize.

    ``channels_last``: the result is in torch's channels-last memory format (same
    values and NCHW shape), which oneDNN's bf16 convolutions want.
    """
    import torch

    mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1)
    fmt = torch.channels_last if channels_last else torch.contiguous_format

    def f(x: Any) -> Any:
        x = x.to(device).permute(0, 3, 1, 2).flip(1).float().div_(255.0)
        return ((x - mean) / std).contiguous(memory_format=fmt)

    return f


def carry_card_sections(old: str, new: str) -> str:
    """A rewritten model card ``new`` (Markdown) followed by the ``## `` sections of the card ``old`` it
    replaces whose heading line ``new`` does not have (records a bundling step does not write, such as a
    tried-and-not-bundled section), in their order. ``old`` empty: ``new`` as it is."""
    heads = set(re.findall(r"(?m)^## .*$", new))
    parts = re.split(r"(?m)^(?=## )", old)[1:]
    kept = [p.rstrip("\n") + "\n" for p in parts if p.splitlines()[0] not in heads]
    return new if not kept else new.rstrip("\n") + "\n\n" + "\n".join(kept)


__all__ = ["seed_everything", "start_run", "pick_device", "pick_precision", "build_cache", "Checkpointer", "Schedule", "fit", "export_trained", "imagenet_normalizer",
           "carry_card_sections"]


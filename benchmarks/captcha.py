"""Seed 004's captcha matcher on real held-out icons first, synthetic challenges beside (issue 18).

    python -m benchmarks.captcha [--model M]... [--views V]... [--real DIR] [--trials N] [--synthetic N] [--search F]
                                 [--json PATH] [--markdown PATH]

For each model (default: the bundled ``siamese_icons.onnx`` and ``siamese_icons_int8.onnx``),
through :class:`edgevision.SiameseMatcher` (ONNX Runtime CPU, 1 thread):

- **real**: the fixed list of 1-of-5 trials over the 30 held-out identities of the real
  icon set (:func:`calibration.captcha_real.matching_trials`: reference = one crop of an
  identity, candidates = another crop of it and one crop each of 4 other held-out
  identities). Target: >= 97%. Never trained on.
- **synthetic**: held-out challenges of :func:`calibration.captcha_synth.render_challenge`
  (seeds from ``training.siamese.HELDOUT_CHALLENGE_SEED``, procedural figures, held-out
  identities), cropped at the default layout's slots, each searched at the matcher's crops
  (``SiameseMatcher(search=...)``; ``--search F`` sets it). Target: >= 98%.
- ``--views V`` (repeatable): each model is measured with each of these test-time views
  (``SiameseMatcher(views=...)``, :data:`edgevision.matching.VIEWS`), a row each; default: the
  matcher's own.
- **latency**: one matcher call on one synthetic challenge (the reference and every crop of
  every candidate: 26 crops with the default search, 6 without, each as many times as the views,
  in batches of ``edgevision.matching.EMBED_BATCH``), and one crop alone, milliseconds, the models
  timed round-robin.

The library function is :func:`run_captcha`; ``main`` only parses arguments and prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_MODELS = ("siamese_icons.onnx", "siamese_icons_int8.onnx")
#: First seed of the held-out synthetic challenges (= training.siamese.HELDOUT_CHALLENGE_SEED).
HELDOUT_CHALLENGE_SEED = 4_000_000


def real_accuracy(matcher: Any, trials: Sequence[Any]) -> float:
    """1-of-N accuracy of ``matcher`` on real trials (each crop embedded once)."""
    from calibration.captcha_real import predict_trials, trials_accuracy

    return trials_accuracy(predict_trials(matcher.embed, trials), trials)


def synthetic_challenges(count: int, seed: int = HELDOUT_CHALLENGE_SEED) -> list[Any]:
    """The held-out synthetic challenges ``seed .. seed + count - 1``."""
    from calibration.captcha_synth import render_challenge

    return [render_challenge(s) for s in range(seed, seed + count)]


def synthetic_accuracy(matcher: Any, challenges: Sequence[Any]) -> dict[str, float]:
    """Target accuracy on rendered challenges (default-layout boxes) and the mean distance, in
    pixels, from the answer's coordinates to the labelled centre of the target figure."""
    hits, err = 0, []
    for ch in challenges:
        r = matcher(ch.image)
        hits += r.target == ch.target
        err.append(float(np.hypot(r.center[0] - ch.target_center[0], r.center[1] - ch.target_center[1])))
    return {"accuracy": hits / len(challenges), "center_error_px": float(np.mean(err))}


def run_captcha(models: Sequence[str] = DEFAULT_MODELS, *, real: str | None = None, trials: int | None = None,
                synthetic: int = 500, threads: int = 1, search: float | None = None,
                views: Sequence[str] | None = None, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Measure each model (module docs). Returns ``{"environment", "search", "rows": [...], "real_error"}``:
    one row per model with ``real_accuracy`` (None when the real set is missing),
    ``synthetic_accuracy``, ``center_error_px``, ``ms_per_challenge``, ``ms_per_crop``, ``size_mb``.
    ``search``: the matchers' crop search on the challenge images (``SiameseMatcher(search=...)``;
    default: the matcher's own); the real trials are crops, which it does not touch. ``views``: the test-time
    views to measure each model with (a row per model and views; default: the matcher's own)."""
    from calibration.captcha_real import TRIALS_COUNT, load_icon_set, matching_trials
    from calibration.errors import DatasetNotFoundError
    from calibration.timing import environment, measure_interleaved
    from edgevision.matching import SiameseMatcher, search_boxes

    log = log or (lambda s: None)
    real_trials, real_error = None, None
    try:
        real_trials = matching_trials(load_icon_set(real), trials or TRIALS_COUNT)
    except DatasetNotFoundError as e:
        real_error = str(e)
    challenges = synthetic_challenges(synthetic)
    opts = {} if search is None else {"search": search}
    # one matcher per (model, views); a row is named by its model, and its views when more than one is measured
    named = [(m, v) for m in models for v in (views or [None])]
    matchers = {(f"{m} [views={v}]" if views and len(views) > 1 else m): SiameseMatcher(
        m, threads=threads, **opts, **({} if v is None else {"views": v})) for m, v in named}
    rows = []
    for m, matcher in matchers.items():
        log(f"{m}: real trials")
        ra = real_accuracy(matcher, real_trials) if real_trials else None
        log(f"{m}: synthetic challenges")
        sa = synthetic_accuracy(matcher, challenges)
        rows.append({"model": m, "path": str(matcher.predictor.path), "views": matcher.views, "real_accuracy": ra,
                     "real_trials": len(real_trials) if real_trials else 0,
                     "synthetic_accuracy": sa["accuracy"], "center_error_px": sa["center_error_px"],
                     "synthetic_count": len(challenges),
                     "size_mb": Path(matcher.predictor.path).stat().st_size / 2**20})
    img = challenges[0].image
    crop = img[94:174, 0:80]
    fns: dict[str, Callable[[], Any]] = {}
    for m, matcher in matchers.items():
        fns[f"{m}|challenge"] = lambda mt=matcher: mt(img)
        fns[f"{m}|crop"] = lambda mt=matcher: mt.predictor(crop)
    stats = measure_interleaved(fns, rounds=6, min_samples=60, min_time_s=1.5)
    for row in rows:
        row["ms_per_challenge"] = stats[f"{row['model']}|challenge"].median
        row["ms_per_crop"] = stats[f"{row['model']}|crop"].median
    used = next(iter(matchers.values())).search if matchers else search
    per_box = len(search_boxes((0.0, 0.0, 1.0, 1.0), (2, 2), used or 0.0))
    crops = 1 + len(challenges[0].centers) * per_box if challenges else None
    return {"environment": environment(), "threads": threads, "search": used, "crops_per_challenge": crops,
            "rows": rows, "real_error": real_error}


def to_markdown(result: dict[str, Any]) -> str:
    """The result as a Markdown table (real held-out first)."""
    from edgevision.matching import EMBED_BATCH

    def pct(v: float | None) -> str:
        return "not measured" if v is None else f"{100 * v:.1f}%"

    rows = result["rows"]
    several = len({r.get("views") for r in rows}) > 1
    head = "| | " + " | ".join(f"`{Path(r['path']).stem}`" + (f" (views {r['views']})" if several else "")
                               for r in rows) + " | target |\n|---|" + "---|" * (len(rows) + 1)
    n_real = rows[0]["real_trials"] if rows else 0
    search = result.get("search") or 0.0
    crops = result.get("crops_per_challenge") or 6
    where = f"default-layout slots, crop search +-{search:g}" if search else "default-layout slots"
    lines = [head,
             f"| real held-out icons: 1-of-5 accuracy ({n_real} trials, 30 identities never trained on) | "
             + " | ".join(pct(r["real_accuracy"]) for r in rows) + " | >= 97% |",
             f"| synthetic held-out challenges: target accuracy ({rows[0]['synthetic_count'] if rows else 0}) | "
             + " | ".join(pct(r["synthetic_accuracy"]) for r in rows) + " | >= 98% |",
             f"| answer to target-centre distance, mean px (synthetic, {where}) | "
             + " | ".join(f"{r['center_error_px']:.1f}" for r in rows) + " | |",
             f"| ms per challenge ({crops} crops, times the views' count, in batches of {EMBED_BATCH}), p50, "
             f"{result['threads']} thread | "
             + " | ".join(f"{r['ms_per_challenge']:.2f}" for r in rows) + " | int8 <= 0.5x fp32 |",
             f"| ms per crop, p50, {result['threads']} thread | " + " | ".join(f"{r['ms_per_crop']:.2f}" for r in rows)
             + " | |",
             "| model size, MB | " + " | ".join(f"{r['size_mb']:.2f}" for r in rows) + " | |"]
    env = result["environment"]
    out = f"{env.get('date')}, {env.get('cpu')} ({env.get('cores')} cores), onnxruntime {env.get('onnxruntime', '')}\n\n"
    out += "\n".join(lines) + "\n"
    if result.get("real_error"):
        out += f"\nReal icons not measured: {result['real_error']}\n"
    return out


def main(argv: list[str] | None = None) -> int:
    from edgevision.errors import EdgeVisionError
    from edgevision.matching import VIEWS

    ap = argparse.ArgumentParser(prog="python -m benchmarks.captcha", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", help="an embedding model (repeatable; default: the bundled fp32 "
                                                      "and int8 siamese_icons)")
    ap.add_argument("--real", help="the real-data root (default: calibration.real.real_root())")
    ap.add_argument("--trials", type=int, help="real trials (default: the fixed list of 1000)")
    ap.add_argument("--synthetic", type=int, default=500, help="held-out synthetic challenges (default 500)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--search", type=float, default=None,
                    help="the matchers' crop search, a fraction of a box's side in [0, 0.5) (SiameseMatcher(search=); "
                         "default: the matcher's own)")
    ap.add_argument("--views", action="append", choices=sorted(VIEWS),
                    help="the matchers' test-time views (SiameseMatcher(views=); repeatable: a row per model and "
                         "views; default: the matcher's own)")
    ap.add_argument("--json", help="write the result as JSON")
    ap.add_argument("--markdown", help="write the table as Markdown")
    args = ap.parse_args(argv)
    try:
        res = run_captcha(args.model or DEFAULT_MODELS, real=args.real, trials=args.trials, synthetic=args.synthetic,
                          threads=args.threads, search=args.search, views=args.views,
                          log=lambda s: print(s, file=sys.stderr))
    except (EdgeVisionError, OSError) as e:
        print(f"python -m benchmarks.captcha: error: {e}", file=sys.stderr)
        return 2
    md = to_markdown(res)
    print(md)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2, default=str))
    if args.markdown:
        Path(args.markdown).write_text(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())

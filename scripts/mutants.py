"""Plant small bugs in the runtime and the metrics, one at a time, and see whether the tests notice.

    python3 scripts/mutants.py [--only N[,N...]] [--list] [--timeout S]

Each mutant replaces one exact snippet of one file (the snippet must occur exactly once:
a stale mutant fails loudly instead of silently testing nothing), runs the tests that
cover that file, records whether they failed ("killed") or passed ("survived"), and
restores the file byte for byte, also on Ctrl-C or SIGTERM. It edits the working tree
while it runs: run nothing else from this checkout meanwhile. Run it before calling a
runtime change done; it is not part of CI (about 20 runs of a test subset, a few minutes
on 2 cores).

The bugs are the kind review misses: an off-by-one at a boundary, a strict comparison
made loose, a rounding rule changed, a sign flipped, an index shifted.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Test subsets per planted file (what a developer would run after touching it).
TESTS = {
    "edgevision/decoders.py": ["tests/test_decoders.py", "tests/test_geometry_boundaries.py"],
    "edgevision/preprocess.py": ["tests/test_geometry_boundaries.py", "tests/test_preprocess_parity.py",
                                 "tests/test_preprocess_warp.py", "tests/test_preprocess_errors.py"],
    "edgevision/plates.py": ["tests/test_plates.py"],
    "edgevision/config.py": ["tests/test_config.py"],
    "calibration/metrics.py": ["tests/test_metrics.py"],
}


@dataclass(frozen=True)
class Mutant:
    path: str
    original: str
    mutated: str
    what: str


MUTANTS: tuple[Mutant, ...] = (
    Mutant("edgevision/decoders.py", "areas[idx]) > t).any(axis=0)]", "areas[idx]) >= t).any(axis=0)]",
           "NMS against kept boxes suppresses at IoU == threshold"),
    Mutant("edgevision/decoders.py", "areas[idx]) > t, 1)", "areas[idx]) >= t, 1)",
           "NMS inside a block suppresses at IoU == threshold"),
    Mutant("edgevision/decoders.py", "new_run[:, 1:] = best[:, 1:] != best[:, :-1]",
           "new_run[:, 1:] = best[:, 1:] != best[:, :1]", "CTC merges repeats against the first step only"),
    Mutant("edgevision/decoders.py", "emit = new_run & (best != blank)", "emit = new_run",
           "CTC emits blanks"),
    Mutant("edgevision/decoders.py", "table = list(charset[:blank]) + [\"\"] + list(charset[blank:])",
           "table = list(charset[:blank]) + list(charset[blank:]) + [\"\"]",
           "CTC class table ignores where the blank is"),
    Mutant("edgevision/decoders.py", "x, score = x[score > conf], score[score > conf]",
           "x, score = x[score >= conf], score[score >= conf]", "YOLOv8 keeps scores equal to the threshold"),
    Mutant("edgevision/decoders.py", "n_rows = [int(v) + 1 for v in r.argmax(axis=1)]",
           "n_rows = [int(v) for v in r.argmax(axis=1)]", "slots decoder's rows count off by one"),
    Mutant("edgevision/decoders.py", "xyxy = np.concatenate([xywh[:, :2] - half, xywh[:, :2] + half], axis=1)",
           "xyxy = np.concatenate([xywh[:, :2] - half, xywh[:, :2] + 2 * half], axis=1)",
           "box width doubled on the right"),
    Mutant("edgevision/preprocess.py", "cw = min(W, max(1, int(math.floor(w * r + 0.5))))",
           "cw = min(W, max(1, int(w * r)))", "letterbox content width truncated instead of rounded"),
    Mutant("edgevision/preprocess.py", "ch = min(H, max(1, int(math.floor(h * r + 0.5))))",
           "ch = min(H, max(1, int(math.floor(h * r + 0.49))))", "letterbox content height rounds .5 down"),
    Mutant("edgevision/preprocess.py", "return np.clip(p, 0.0, src_wh) if clip else p",
           "return np.clip(p, 0.0, src_wh - 1) if clip else p", "to_source clips to the last pixel"),
    Mutant("edgevision/preprocess.py", "return (W - cw) // 2, (H - ch) // 2, cw, ch",
           "return (W - cw + 1) // 2, (H - ch) // 2, cw, ch", "centred padding puts the odd pixel first"),
    Mutant("edgevision/preprocess.py", "cw = min(W, max(1, -(-w * H // h)))",
           "cw = min(W, max(1, w * H // h))", "pad_right width floored instead of ceiled"),
    Mutant("edgevision/preprocess.py", "p = _points(points, \"points\") * scale + pad",
           "p = _points(points, \"points\") * scale - pad", "to_input subtracts the padding"),
    Mutant("edgevision/preprocess.py", "if not scaleup:", "if scaleup:", "scaleup inverted"),
    Mutant("calibration/metrics.py", "cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))",
           "cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + 2 * (ca != cb)))",
           "Levenshtein substitution costs 2"),
    Mutant("calibration/metrics.py", "\"cer\": edits / chars if chars else None",
           "\"cer\": edits / (chars + 1) if chars else None", "CER denominator off by one"),
    Mutant("calibration/metrics.py", "if ious[k] >= 0.5 and not taken[i][k]:",
           "if ious[k] > 0.5 and not taken[i][k]:", "mAP@0.5 rejects IoU exactly 0.5"),
    Mutant("calibration/metrics.py", "else \"partial\" if f < 0.3 else \"heavy\" if f < ILLEGIBLE_OCCLUSION",
           "else \"partial\" if f <= 0.3 else \"heavy\" if f <= ILLEGIBLE_OCCLUSION",
           "occlusion levels take their upper bound"),
    Mutant("calibration/metrics.py", "out[\"mae_norm\"] = float(err.mean())",
           "out[\"mae_norm\"] = float(err.max())", "corner MAE reports the max"),
    Mutant("calibration/metrics.py", "mpre = np.maximum.accumulate(mpre[::-1])[::-1]",
           "mpre = np.maximum.accumulate(mpre)", "AP envelope taken from the wrong side"),
    Mutant("calibration/metrics.py", "recall = ctp / npos", "recall = ctp / (npos + 1)",
           "recall denominator off by one"),
)


def run(m: Mutant, timeout: float) -> tuple[str, float, str]:
    path = ROOT / m.path
    before = path.read_bytes()
    text = before.decode("utf-8")
    if text.count(m.original) != 1:
        raise SystemExit(f"mutant {m.what!r}: the snippet occurs {text.count(m.original)} times in {m.path}; "
                         "expected exactly once (update the mutant)")
    t0 = time.perf_counter()
    try:
        path.write_text(text.replace(m.original, m.mutated), encoding="utf-8")
        proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *TESTS[m.path]],
                              cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        status = "survived" if proc.returncode == 0 else "killed"
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("FAILED")]
        detail = lines[0][7:] if lines else proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    except subprocess.TimeoutExpired:
        status, detail = "killed", f"timeout after {timeout:.0f} s"
    finally:
        path.write_bytes(before)
    return status, time.perf_counter() - t0, detail


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/mutants.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help="comma-separated mutant numbers (1-based)")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per mutant's test run")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: the planted file is restored
    chosen = list(enumerate(MUTANTS, 1))
    if args.only:
        want = {int(v) for v in args.only.split(",")}
        chosen = [(i, m) for i, m in chosen if i in want]
    if args.list:
        for i, m in chosen:
            print(f"{i:2d} {m.path}: {m.what}")
        return 0
    killed = 0
    for i, m in chosen:
        status, secs, detail = run(m, args.timeout)
        killed += status == "killed"
        print(f"{i:2d} {status:8s} {secs:5.1f}s {m.path}: {m.what}" + (f"  [{detail}]" if detail else ""), flush=True)
    print(f"{killed} of {len(chosen)} killed ({killed / max(len(chosen), 1):.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Reporting: the console table, Markdown, CSV, JSON and the plot."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from calibration.timing import format_ratio
from edgevision.errors import InvalidArgumentError

from .results import BenchResult, Row, TIME_RATIOS
from .variants import STAGES, noise_stage


def _ms(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.3f}" if v < 10 else f"{v:.1f}"


def _num(v: float | None, fmt: str = ".1f") -> str:
    return "-" if v is None else format(v, fmt)


def _size(mb: float | None) -> str:
    return "-" if mb is None else (f"{mb:.2f}" if mb >= 0.1 else f"{mb:.4f}")


def _rate(ips: float | None) -> str:
    return "-" if ips is None else (f"{ips:.0f}" if ips >= 100 else f"{ips:.1f}")


def _ratio_cell(row: Row, key: str) -> str:
    if row.is_baseline and key in row.ratios:
        return "base"
    return format_ratio(row.ratios.get(key), row.noise_pct if key in TIME_RATIOS else None)


def _metric_text(row: Row) -> str:
    if row.metric and row.metric.get("value") is not None:
        return f"{row.metric['metric']} {row.metric['value']:.4g}"
    return "-"


COLUMNS = ("variant", "device", "batch", "threads", "pre ms", "pre cv ms", "infer ms", "post ms", "e2e p50",
           "e2e p90", "e2e p99", "img/s", "size MB", "metric", "RSS +MB", "e2e x fp32", "infer x fp32",
           "size x fp32", "metric x fp32")


def table_rows(result: BenchResult) -> list[list[str]]:
    """The table's cells (strings), one list per ok row, in :data:`COLUMNS` order."""
    out = []
    for r in result.ok_rows:
        e2e = r.stages.get("e2e")
        out.append([
            r.model + (" (base)" if r.is_baseline else ""), r.device, str(r.batch),
            "auto" if r.threads is None else str(r.threads),
            _ms(r.p50("pre")), _ms(r.p50("pre_cv")), _ms(r.p50("infer")), _ms(r.p50("post")),
            _ms(e2e.p50 if e2e else None), _ms(e2e.p90 if e2e else None), _ms(e2e.p99 if e2e else None),
            _rate(r.throughput_ips), _size(r.size_mb), _metric_text(r), _num(r.rss_delta_mb),
            _ratio_cell(r, "e2e"), _ratio_cell(r, "infer"), _ratio_cell(r, "size"), _ratio_cell(r, "metric"),
        ])
    return out


def header_line(result: BenchResult) -> str:
    env = result.environment
    return (f"edgevision {env['edgevision']} | {env['date']} | {env['cpu']} ({env['cores']} cores, {env['machine']}) | "
            f"kernel SIMD {env['kernel']['simd']} | onnxruntime {env.get('onnxruntime')} "
            f"(providers: {', '.join(env.get('ort_providers') or [])}) | OpenCV {env['opencv']} | "
            f"Python {env['python']}")


def _legend(result: BenchResult) -> list[str]:
    c = result.config
    noise = ", ".join(f"{k}: {v:.1f}%" for k, v in result.noise.items()) or "not measured"
    return [
        f"Data: {result.data}. Times are ms per call of `batch` images; p50 = median of {c['repeats']} interleaved "
        f"repeats (>= {c['iters']} calls and >= {c['min_time_s']} s per stage each, {c['warmup']} warm-up calls).",
        "pre = Predictor.preprocess (compiled kernel); pre cv = the OpenCV chain of benchmarks.preprocess "
        "(a baseline); infer = Predictor.infer; post = Predictor.postprocess; e2e = p(images).",
        "x fp32 = ratio to the fp32 baseline of the same family, backend, device, batch and threads in this run; "
        f"~ = within the noise. Noise (the baseline's {noise_stage(c.get('stages') or STAGES)} p50 measured twice, "
        f"interleaved; spread): {noise}.",
        "RSS +MB = resident-set growth while the variant was loaded, evaluated and first run (approximate); "
        f"process peak RSS {_num(result.environment.get('peak_rss_mb'))} MB.",
    ]


def print_table(result: BenchResult, console: Any = None) -> None:
    """The results as a rich table (plus failures and notes) on ``console`` (default: stdout)."""
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    if console is None:
        console = Console()
        if not console.is_terminal:  # a pipe or a log: do not squeeze 19 columns into 80
            console = Console(width=260)
    console.print(header_line(result), highlight=False)
    table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False)
    for col in COLUMNS:
        table.add_column(col, justify="left" if col in ("variant", "device", "metric") else "right")
    for cells in table_rows(result):
        table.add_row(*cells)
    console.print(table)
    for r in result.rows:
        if r.status != "ok":
            console.print(f"[red]FAILED[/red] {escape(r.label)}: {escape(r.reason or '')}", highlight=False)
    for line in _legend(result) + _row_notes(result) + result.notes:
        console.print(line, highlight=False, markup=False)


def _row_notes(result: BenchResult) -> list[str]:
    """Per-model notes (metric not computed, OpenCV chain n/a, timing images), each once."""
    notes: list[str] = []
    for r in result.ok_rows:
        texts = []
        if r.metric_note and r.metric_note != "--no-metric":
            texts.append(f"{r.model}: metric: {r.metric_note}")
        if "pre_cv" in r.stage_notes:
            texts.append(f"{r.model}: pre cv: {r.stage_notes['pre_cv']}")
        if "images" in r.stage_notes:
            texts.append(f"{r.model}: timed on {r.stage_notes['images']}")
        notes += [t for t in texts if t not in notes]
    return notes


def to_markdown(result: BenchResult) -> str:
    """The results as Markdown: the environment, the table, failures, the legend and notes."""
    lines = [f"Measured with `python -m benchmarks.latency`: {header_line(result)}.", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for cells in table_rows(result):
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    failed = [r for r in result.rows if r.status != "ok"]
    if failed:
        lines += ["", "Failed rows:", ""]
        lines += [f"- `{r.label}`: {r.reason}" for r in failed]
    lines += [""] + [f"- {t}" for t in _legend(result) + _row_notes(result) + result.notes]
    return "\n".join(lines) + "\n"


def _flat(row: Row) -> dict[str, Any]:
    d: dict[str, Any] = {
        "label": row.label, "model": row.model, "path": row.path, "family": row.family, "precision": row.precision,
        "quantization": row.quantization,
        "baseline": row.is_baseline, "backend": row.backend, "device": row.device, "providers": " ".join(row.providers),
        "batch": row.batch, "threads": row.threads, "status": row.status, "reason": row.reason, "task": row.task,
        "size_mb": row.size_mb, "load_ms": row.load_ms, "rss_delta_mb": row.rss_delta_mb,
        "peak_rss_mb": row.peak_rss_mb, "throughput_ips": row.throughput_ips, "noise_pct": row.noise_pct,
        "metric": row.metric.get("metric") if row.metric else None,
        "metric_value": row.metric.get("value") if row.metric else None,
        "metric_higher_is_better": row.metric.get("higher_is_better") if row.metric else None,
        "metric_count": row.metric.get("count") if row.metric else None, "metric_note": row.metric_note,
    }
    for stage in STAGES:
        s = row.stages.get(stage)
        for q in ("p50", "p90", "p99"):
            d[f"{stage}_{q}_ms"] = getattr(s, q) if s is not None else None
    for k in (*STAGES, "throughput", "size", "metric"):
        r = row.ratios.get(k)
        d[f"{k}_x_fp32"] = r
        if k in TIME_RATIOS:
            d[f"{k}_x_fp32_within_noise"] = row.flagged(k) if r is not None else None
    return d


def write_csv(result: BenchResult, path: str | os.PathLike) -> Path:
    """One CSV line per row (every row, failed ones with their reason)."""
    flat = [_flat(r) for r in result.rows]
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(flat[0]) if flat else ["label"])
        w.writeheader()
        w.writerows(flat)
    return path


def write_json(result: BenchResult, path: str | os.PathLike) -> Path:
    path = Path(path)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(result.to_dict(), f, indent=2, ensure_ascii=False, default=str)
    return path


def plot(result: BenchResult, path: str | os.PathLike) -> Path:
    """A PNG of end-to-end p50 latency (x, ms) against the task metric (y), one labelled
    point per ok row, one panel per (task, metric); rows without a metric are plotted
    against model size (MB) instead. matplotlib (Agg) is imported here only."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    groups: dict[str, list[tuple[Row, float]]] = {}
    for r in result.ok_rows:
        if r.p50("e2e") is None:
            continue
        if r.metric and r.metric.get("value") is not None:
            better = "higher" if r.metric.get("higher_is_better") else "lower"
            groups.setdefault(f"{r.task}: {r.metric['metric']} ({better} is better)", []).append((r, r.metric["value"]))
        elif r.size_mb is not None:
            groups.setdefault("no task metric: model size, MB", []).append((r, r.size_mb))
    one_config = len({(r.device, r.batch, r.threads) for r in result.ok_rows}) <= 1
    n = max(1, len(groups))
    fig = Figure(figsize=(7, 4.5 * n), layout="constrained")
    FigureCanvasAgg(fig)
    if not groups:
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no successful row to plot", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    for k, (title, pts) in enumerate(groups.items(), start=1):
        ax = fig.add_subplot(n, 1, k)
        for j, (r, y) in enumerate(sorted(pts, key=lambda t: (t[1], t[0].p50("e2e")))):
            ax.scatter([r.p50("e2e")], [y], color="tab:red" if r.is_baseline else "tab:blue")
            name = Path(r.model).stem if one_config else r.label
            # Staggered offsets, so that variants with equal metrics do not print over each other.
            ax.annotate(name, (r.p50("e2e"), y), textcoords="offset points", xytext=(5, 4 + 9 * (j % 3)),
                        fontsize=7)
        xmax = max(r.p50("e2e") for r, _ in pts)
        ax.set_xlim(0, xmax * 1.45)  # from 0, so that distances are not exaggerated; room for the labels
        ax.margins(y=0.2)
        ax.set_xlabel("end-to-end p50 latency, ms per call (red: fp32 baseline)")
        ax.set_ylabel(title.split(": ", 1)[1])
        ax.set_title(title, fontsize=9)
        ax.grid(True, alpha=0.3)
    title = f"edgevision latency vs task metric ({result.environment['date']})"
    if one_config and result.ok_rows:
        r0 = result.ok_rows[0]
        title += f"\n{r0.device}, batch {r0.batch}, threads {'auto' if r0.threads is None else r0.threads}"
    fig.suptitle(title, fontsize=10)
    path = Path(path)
    fig.savefig(path, dpi=110)
    return path


def write_outputs(result: BenchResult, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Writes ``latency.md``, ``latency.json``, ``latency.csv`` and ``latency.png`` into
    ``out_dir`` (created if needed); returns their paths by kind."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InvalidArgumentError(f"out: {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    md = out / "latency.md"
    md.write_text(to_markdown(result), encoding="utf-8")
    return {"md": md, "json": write_json(result, out / "latency.json"), "csv": write_csv(result, out / "latency.csv"),
            "png": plot(result, out / "latency.png")}


# ---------------------------------------------------------------------------
# The one-row-per-variant view (``calibration.quantize.report``)

#: What each stage's p50 is, in the per-variant view's header.
_STAGE_WORDS = {"pre": "`Predictor.preprocess`", "pre_cv": "the OpenCV preprocessing chain",
                "infer": "`Predictor.infer` on one batch-1 input", "post": "`Predictor.postprocess`",
                "e2e": "`Predictor(image)`, end to end"}


def variant_rows(result: BenchResult, stage: str = "infer") -> list[dict[str, Any]]:
    """One dict per measured row (a variant, for a run of :func:`~.run.run_variants`): ``variant,
    path, kind, p50_ms, p90_ms, latency_ratio, metric, value, higher_is_better, count, metric_delta,
    size_mb, size_ratio, noise_pct, within_noise, evaluation``. Latency is ``stage``'s; ratios are to
    the row's baseline; ``metric_delta`` is the relative change for lower-is-better metrics and the
    absolute one for the others; ``evaluation`` is the full ``EvalResult.to_dict()`` (or None)."""
    bases = {r.label: r for r in result.ok_rows if r.is_baseline}
    out = []
    for r in result.ok_rows:
        st = r.stages.get(stage)
        m = r.metric or {}
        base = r if r.is_baseline else bases.get(r.baseline or "")
        bm = (base.metric or {}) if base is not None else {}
        value, bvalue = m.get("value"), bm.get("value")
        delta = None
        if value is not None and bvalue is not None and m.get("metric") == bm.get("metric"):
            delta = value - bvalue if m.get("higher_is_better") else (value / bvalue - 1.0 if bvalue else None)
        out.append({"variant": r.model, "path": r.path, "kind": r.quantization,
                    "p50_ms": st.p50 if st else None, "p90_ms": st.p90 if st else None,
                    "latency_ratio": r.ratios.get(stage), "metric": m.get("metric"), "value": value,
                    "higher_is_better": m.get("higher_is_better"), "count": m.get("count") or 0,
                    "metric_delta": delta, "size_mb": r.size_mb, "size_ratio": r.ratios.get("size"),
                    "noise_pct": r.noise_pct, "within_noise": r.flagged(stage), "evaluation": r.metric or None})
    return out


def variants_markdown(doc: dict[str, Any]) -> str:
    """The per-variant view as Markdown: ``doc`` is ``{"environment", "baseline", "rows"}`` (rows of
    :func:`variant_rows`), with optional ``"stage"`` (default ``infer``) and ``"repeats"``."""
    env = doc["environment"]
    base = next(r for r in doc["rows"] if r["variant"] == doc["baseline"])
    stage = doc.get("stage", "infer")
    repeats = f"median of {doc['repeats']} repeats' medians" if doc.get("repeats") else "median of the repeats' medians"
    header = (f"Baseline `{base['variant']}` (`{base['path']}`); {env.get('cpu')}, {env.get('cores')} cores, "
              f"onnxruntime {env.get('onnxruntime')}, {env.get('date')}. p50 of {_STAGE_WORDS.get(stage, stage)} "
              f"({repeats}), variants timed round-robin; ratios to the baseline, ~ within the noise"
              + (f" ({base['noise_pct']:.1f}%)." if base.get("noise_pct") is not None else "."))
    lines = [header, "",
             "| variant | kind | p50 latency ms | task metric | size MB |", "|---|---|---|---|---|"]
    for r in doc["rows"]:
        noise = r.get("noise_pct") if r["variant"] != doc["baseline"] else None
        lat = f"{r['p50_ms']:.3f} ({format_ratio(r['latency_ratio'], noise)})" if r["latency_ratio"] is not None else \
            f"{r['p50_ms']:.3f}"
        if r["value"] is None:
            met = "n/a"
        else:
            met = f"{r['metric']} {r['value']:.6g}"
            if r["metric_delta"] is not None and r["variant"] != doc["baseline"]:
                met += (f" ({r['metric_delta'] * 100:+.2f} pp)" if r["higher_is_better"]
                        else f" ({r['metric_delta'] * 100:+.1f}%)")
            legible = ((r.get("evaluation") or {}).get("details") or {}).get("legible")
            if legible and r["metric"] in legible:  # OCR: the same metric without the illegible plates
                met += f"; legible {legible[r['metric']]:.6g}"
        size = f"{r['size_mb']:.3f} ({r['size_ratio']:.2f}x)" if r["size_ratio"] is not None else f"{r['size_mb']:.3f}"
        lines.append(f"| {r['variant']} | {r['kind']} | {lat} | {met} | {size} |")
    return "\n".join(lines) + "\n"

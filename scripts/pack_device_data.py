"""Pack the plate detector recipe's real inputs (train scenes and photos only) small enough to travel to a GPU machine.

    python scripts/pack_device_data.py [--real DIR] [--out device_data/real] [--quality 65]

A thin CLI over :func:`calibration.pack.pack_detector_data` (its docs say what is copied and why).
Then, on the GPU machine, with ``device_data`` carried beside the checkout:

    EDGEVISION_REAL_DATA=device_data/real python -m training.detector --device cuda --easypr-split fit ...
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    from calibration.pack import pack_detector_data

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--real", default=None, help="the real-data folder (default ../shared/data/real)")
    ap.add_argument("--out", default=str(REPO / "device_data" / "real"))
    ap.add_argument("--quality", type=int, default=65, help="JPEG quality of the copies, 50-100 (65: the packed data is about 32 MiB)")
    args = ap.parse_args(argv)
    if not 50 <= args.quality <= 100:
        ap.error(f"--quality must be in [50, 100], got {args.quality}")
    res = pack_detector_data(args.real, args.out, quality=args.quality)
    print(json.dumps({**res, "MiB": round(res["bytes"] / 2**20, 1)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

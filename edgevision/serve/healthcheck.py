"""Container health check of ``edgevision serve`` (standard library only, for Docker's HEALTHCHECK).

    python -m edgevision.serve.healthcheck [URL] [--timeout S]

Exits 0 when ``GET URL`` (default ``http://127.0.0.1:8080/health``) answers 200 with
``"ready": true``, else 1, printing why. Slim images carry no curl; this needs
nothing but Python.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8080/health"


def check(url: str = DEFAULT_URL, timeout_s: float = 3.0) -> tuple[bool, str]:
    """``(healthy, reason)`` of one ``GET url`` (a service's ``/health``), waiting at most ``timeout_s`` seconds."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as r:  # noqa: S310 - a local URL by default
            body = json.loads(r.read())
    except urllib.error.HTTPError as e:
        return False, f"{url}: HTTP {e.code}"
    except (OSError, ValueError) as e:
        return False, f"{url}: {e}"
    if not (isinstance(body, dict) and body.get("ready") is True):
        return False, f"{url}: not ready ({str(body)[:200]})"
    return True, f"{url}: ok"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edgevision.serve.healthcheck", description=__doc__.split("\n\n")[0])
    ap.add_argument("url", nargs="?", default=DEFAULT_URL, help=f"the /health URL (default {DEFAULT_URL})")
    ap.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")
    args = ap.parse_args(argv)
    ok, reason = check(args.url, args.timeout)
    print(reason, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

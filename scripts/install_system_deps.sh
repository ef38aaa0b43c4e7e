#!/usr/bin/env bash
# System packages the host-side tools and their tests need, installed when missing:
#   fonts-wqy-microhei: a CJK font for calibration.synth (plate glyphs). ~1.6 MB.
# Best effort: without root or apt it says what to install and exits 0, so a
# user's own setup (EDGEVISION_CJK_FONT=/path/to/font.ttc) still works.
set -uo pipefail
need=()
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || [ -n "${EDGEVISION_CJK_FONT:-}" ] || need+=(fonts-wqy-microhei)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "install_system_deps: installing ${need[*]}"
    (timeout 180 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 300 \
        apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null) \
        || echo "install_system_deps: could not install ${need[*]}; calibration.synth will say which font it needs"
else
    echo "install_system_deps: please install ${need[*]} (or set EDGEVISION_CJK_FONT to a CJK .ttf/.ttc)"
fi
exit 0

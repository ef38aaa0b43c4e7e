"""Finding a CJK TrueType font that can draw every plate character.

The synthetic plate generator (:mod:`calibration.synth`) draws the province
characters (皖, 沪, 京...) with a real font, so a font without CJK glyphs would
render "tofu" boxes and poison the training data. :func:`find_cjk_font` looks,
in order, at:

1. the environment variable ``EDGEVISION_CJK_FONT`` (a path; when set it must be
   usable, it is never skipped silently);
2. the known install paths in :data:`KNOWN_CJK_FONTS` (WenQuanYi Micro Hei / Zen
   Hei, Noto Sans CJK, Droid Sans Fallback);
3. ``fc-match -f '%{file}' ':lang=zh'`` when fontconfig is installed.

A candidate is accepted only when its character map (read with fontTools,
``TTFont(path, fontNumber=0)``, the first face of a ``.ttc`` collection) holds
every character asked for. When none is found,
:class:`~calibration.errors.FontNotFoundError` says what was tried and how to
install one (``apt-get install fonts-wqy-microhei``).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import warnings
from collections.abc import Iterable
from pathlib import Path

from .errors import FontNotFoundError

__all__ = ["CJK_FONT_ENV", "INSTALL_HINT", "KNOWN_CJK_FONTS", "find_cjk_font", "font_codepoints", "missing_glyphs"]

#: Environment variable naming a font file to use (checked first).
CJK_FONT_ENV = "EDGEVISION_CJK_FONT"

#: Known install locations of CJK fonts (Debian/Ubuntu, Fedora, Arch, Alpine), in order of preference.
KNOWN_CJK_FONTS: tuple[str, ...] = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc",
    "/usr/share/fonts/wenquanyi/wqy-zenhei/wqy-zenhei.ttc",
    "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc",
    "/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-sans-cjk-fonts/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)

#: How to get a usable font (part of every FontNotFoundError message).
INSTALL_HINT = (f"install one with `apt-get install fonts-wqy-microhei` (Debian/Ubuntu), "
                f"or point {CJK_FONT_ENV} at a .ttf/.ttc/.otf file with CJK glyphs")


@functools.lru_cache(maxsize=16)
def _codepoints(path: str, mtime_ns: int) -> frozenset[int]:
    from fontTools.ttLib import TTFont  # host-side dependency (the `data` extra)

    # Open the file here so that it is closed even when fontTools rejects it.
    with warnings.catch_warnings(), open(path, "rb") as fh:  # fontTools may warn about odd tables
        warnings.simplefilter("ignore")
        font = TTFont(fh, fontNumber=0, lazy=True)
        cmap = font.getBestCmap() or {}
    return frozenset(cmap)


def font_codepoints(path: str | os.PathLike[str]) -> frozenset[int]:
    """The Unicode code points the font at ``path`` maps to a glyph (its best cmap; the
    first face of a collection). Raises :class:`FontNotFoundError` when the file is
    missing or is not a font fontTools can read."""
    p = Path(path)
    try:
        mtime = p.stat().st_mtime_ns
    except OSError:
        raise FontNotFoundError(f"font: {str(p)!r} does not exist; {INSTALL_HINT}", tried=(str(p),)) from None
    if not p.is_file():
        raise FontNotFoundError(f"font: {str(p)!r} is not a file; {INSTALL_HINT}", tried=(str(p),))
    try:
        return _codepoints(str(p), mtime)
    except Exception as e:  # noqa: BLE001 - fontTools raises TTLibError, struct.error, KeyError... on non-fonts
        raise FontNotFoundError(f"font: {str(p)!r} is not a readable TrueType/OpenType font "
                                f"({type(e).__name__}: {e}); {INSTALL_HINT}", tried=(str(p),)) from None


def missing_glyphs(path: str | os.PathLike[str], chars: Iterable[str]) -> str:
    """The characters of ``chars`` (in first-seen order, without repeats) that the font at
    ``path`` has no glyph for; ``""`` when it covers them all."""
    have = font_codepoints(path)
    return "".join(dict.fromkeys(c for c in chars if ord(c) not in have))


def _fc_match() -> str | None:
    """The file fontconfig picks for Chinese, or None without fontconfig (or on any failure)."""
    exe = shutil.which("fc-match")
    if exe is None:
        return None
    try:
        done = subprocess.run([exe, "-f", "%{file}", ":lang=zh"], capture_output=True, text=True, timeout=10,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    out = done.stdout.strip()
    return out if done.returncode == 0 and out else None


def _candidates() -> list[tuple[str, str]]:
    """(where, path) pairs to try after the environment variable, in order."""
    out = [("known path", p) for p in KNOWN_CJK_FONTS]
    fc = _fc_match()
    if fc:
        out.append(("fc-match ':lang=zh'", fc))
    return out


def find_cjk_font(chars: Iterable[str] = "", *, font: str | os.PathLike[str] | None = None) -> Path:
    """A font file that has a glyph for every character of ``chars``.

    Args:
        chars: the characters the caller will draw (e.g. :data:`calibration.synth.PLATE_CHARS`).
        font: an explicit font file; when given it is the only candidate.

    Returns:
        the font's path (use face 0 of a ``.ttc`` collection).

    Raises:
        FontNotFoundError: no candidate exists and covers ``chars``. An explicit ``font``
            or ``$EDGEVISION_CJK_FONT`` that is missing, unreadable or lacks glyphs is an
            error too (never skipped silently). The message lists what was tried and
            gives the install command.
    """
    chars = "".join(dict.fromkeys(chars))
    explicit = ("font", font) if font is not None else None
    env = os.environ.get(CJK_FONT_ENV)
    if explicit is None and env:
        explicit = (f"${CJK_FONT_ENV}", env)
    if explicit is not None:
        where, path = explicit
        try:
            lacking = missing_glyphs(path, chars)
        except FontNotFoundError as e:
            raise FontNotFoundError(f"{where}: {e}", tried=(str(path),)) from None
        if lacking:
            raise FontNotFoundError(f"{where}: {str(path)!r} has no glyph for {len(lacking)} of the characters "
                                    f"to draw ({lacking[:20]!r}); {INSTALL_HINT}", tried=(str(path),))
        return Path(path)

    tried: list[str] = []
    notes: list[str] = []
    for where, path in _candidates():
        if not os.path.isfile(path):
            tried.append(path)
            continue
        tried.append(path)
        try:
            lacking = missing_glyphs(path, chars)
        except FontNotFoundError:
            notes.append(f"{path} ({where}) is not a readable font")
            continue
        if not lacking:
            return Path(path)
        notes.append(f"{path} ({where}) lacks {len(lacking)} characters, e.g. {lacking[:5]!r}")
    found = ("; ".join(notes) + ". ") if notes else "no candidate file exists. "
    raise FontNotFoundError(
        f"font: no CJK font covering the plate characters was found: {found}Looked at ${CJK_FONT_ENV} (unset), "
        f"{len(KNOWN_CJK_FONTS)} known paths (e.g. {KNOWN_CJK_FONTS[0]}) and fc-match; {INSTALL_HINT}",
        tried=tuple(tried))

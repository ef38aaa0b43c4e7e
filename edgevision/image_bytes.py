"""Encoded images in memory (uploads): format sniffing, the size from the header, bounded decoding.

    fmt, width, height = image_header(data)          # from the first bytes; nothing decoded
    img = decode_image(data, max_pixels=40_000_000)  # uint8 BGR (H, W, 3), as cv2.imread gives

The formats are the ones OpenCV decodes that an uploader is likely to send:
JPEG, PNG, BMP and WebP. The format is recognized from the bytes (the file
signature), never from a file name or a declared media type. The width and
height are read from the format's own header (JPEG's SOFn frame header, PNG's
IHDR chunk, BMP's DIB header, WebP's VP8/VP8L/VP8X chunk) by the small parsers
below, so a decompression bomb (a 20000x20000 PNG is a few KB) is refused
before a single pixel is allocated. Pillow's lazy ``Image.open`` could read
these headers too, but it would add a dependency and its process-wide
``MAX_IMAGE_PIXELS`` guard; OpenCV, which decodes, has no header-only call.

Errors are :mod:`edgevision.errors` classes (see :class:`UnsupportedImageError`,
:class:`ImageTooLargeError`, :class:`ImageDecodeError` here); each message says
what was wrong and what was expected.
"""

from __future__ import annotations

import struct

import numpy as np

from .checks import check_int
from .errors import ImageReadError, InvalidArgumentError, InvalidTypeError

#: Formats accepted, by the name :func:`image_header` returns.
FORMATS = ("jpeg", "png", "bmp", "webp")
#: The compiled kernel's largest image side (pixels).
MAX_SIDE = 32768

# Signatures of other image formats, named in the refusal so that a user knows what was sent.
_OTHER = ((b"GIF87a", "GIF"), (b"GIF89a", "GIF"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
          (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"), (b"\x76\x2f\x31\x01", "OpenEXR"), (b"#?RADIANCE", "Radiance HDR"))


class UnsupportedImageError(InvalidArgumentError):
    """The bytes are not an image in one of :data:`FORMATS` (another format, or not an image at all)."""


class ImageTooLargeError(InvalidArgumentError):
    """The image's header declares more pixels than allowed, or a side longer than :data:`MAX_SIDE`."""


class ImageDecodeError(ImageReadError):
    """The bytes start like a supported image but its header or data is malformed or cut short."""


_SIGNATURES = ((b"\xff\xd8\xff", "jpeg"), (b"\x89PNG\r\n\x1a\n", "png"), (b"BM", "bmp"))


def sniff_format(data: bytes) -> str | None:
    """The format of an encoded image from its first bytes (one of :data:`FORMATS`), or None.

    A body shorter than a signature but matching its start (2 bytes or more) counts as
    that format (its header check then reports it truncated).
    """
    for sig, fmt in _SIGNATURES:
        if data[:len(sig)] == sig or (2 <= len(data) < len(sig) and sig.startswith(data)):
            return fmt
    if len(data) >= 2 and b"RIFF".startswith(data[:4]) and (len(data) <= 8 or b"WEBP".startswith(data[8:12])):
        return "webp"
    return None


def _u16be(data: bytes, at: int) -> int:
    return struct.unpack_from(">H", data, at)[0]


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the first SOFn frame header, walking the marker segments."""
    i = 2
    n = len(data)
    while i < n:
        if data[i] != 0xFF:
            raise ImageDecodeError(f"JPEG: expected a marker at byte {i}, got 0x{data[i]:02x}")
        while i < n and data[i] == 0xFF:  # fill bytes
            i += 1
        if i >= n:
            break
        marker = data[i]
        i += 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # TEM, RSTn, SOI: no length
            continue
        if marker in (0xD9, 0xDA):
            raise ImageDecodeError("JPEG: no frame header (SOFn) before the image data")
        if i + 2 > n:
            break
        length = _u16be(data, i)
        if length < 2:
            raise ImageDecodeError(f"JPEG: segment 0xFF{marker:02X} has a length of {length}")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if i + 7 > n:
                break
            height, width = _u16be(data, i + 3), _u16be(data, i + 5)
            if height == 0 or width == 0:
                raise ImageDecodeError(f"JPEG: the frame header declares {width}x{height} pixels")
            return width, height
        i += length
    raise ImageDecodeError("JPEG: the data ends before the frame header (SOFn): truncated")


def _png_size(data: bytes) -> tuple[int, int]:
    if len(data) < 24:
        raise ImageDecodeError(f"PNG: {len(data)} bytes, too short for the IHDR header (24): truncated")
    if data[12:16] != b"IHDR":
        raise ImageDecodeError("PNG: the first chunk is not IHDR")
    width, height = struct.unpack_from(">II", data, 16)
    return width, height


def _bmp_size(data: bytes) -> tuple[int, int]:
    if len(data) < 26:
        raise ImageDecodeError(f"BMP: {len(data)} bytes, too short for its header (26): truncated")
    header = struct.unpack_from("<I", data, 14)[0]
    if header == 12:  # BITMAPCOREHEADER: unsigned 16-bit sides
        return struct.unpack_from("<HH", data, 18)
    if header < 40:
        raise ImageDecodeError(f"BMP: DIB header of {header} bytes (expected 12, or 40 and more)")
    width, height = struct.unpack_from("<ii", data, 18)
    return abs(width), abs(height)  # a negative height is a top-down bitmap


def _webp_size(data: bytes) -> tuple[int, int]:
    if len(data) < 16:
        raise ImageDecodeError(f"WebP: {len(data)} bytes, too short for its first chunk header (16): truncated")
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    if chunk == b"VP8 " and len(data) >= 30:
        if data[23:26] != b"\x9d\x01\x2a":
            raise ImageDecodeError("WebP: the VP8 frame has no start code")
        return struct.unpack_from("<H", data, 26)[0] & 0x3FFF, struct.unpack_from("<H", data, 28)[0] & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        if data[20] != 0x2F:
            raise ImageDecodeError("WebP: the VP8L chunk has no signature byte")
        bits = struct.unpack_from("<I", data, 21)[0]
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk in (b"VP8X", b"VP8 ", b"VP8L"):
        raise ImageDecodeError(f"WebP: {len(data)} bytes, too short for the {chunk.decode().strip()} header: truncated")
    raise ImageDecodeError(f"WebP: unknown first chunk {chunk!r} (expected VP8, VP8L or VP8X)")


_SIZE = {"jpeg": _jpeg_size, "png": _png_size, "bmp": _bmp_size, "webp": _webp_size}


def _as_bytes(data: bytes | bytearray | memoryview, name: str) -> bytes:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidTypeError(f"{name}: expected the encoded image as bytes, got {type(data).__name__}")
    return bytes(data) if isinstance(data, memoryview) else data  # type: ignore[return-value]


def image_header(data: bytes | bytearray | memoryview, name: str = "data") -> tuple[str, int, int]:
    """``(format, width, height)`` of an encoded image from its header alone (pixels; nothing is decoded).

    Raises:
        InvalidTypeError: ``data`` is not bytes-like.
        UnsupportedImageError: empty, or not one of :data:`FORMATS` (the message names
            GIF, TIFF, JPEG 2000... when it recognizes them).
        ImageDecodeError: a supported format whose header is malformed or cut short.
    """
    data = _as_bytes(data, name)
    if not data:
        raise UnsupportedImageError(f"{name}: empty; expected a JPEG, PNG, BMP or WebP image")
    fmt = sniff_format(data)
    if fmt is None:
        other = next((label for sig, label in _OTHER if data.startswith(sig)), None)
        what = f"a {other} image" if other else f"not a recognized image (first bytes {data[:8].hex(' ')})"
        raise UnsupportedImageError(f"{name}: {what}; expected a JPEG, PNG, BMP or WebP image")
    try:
        width, height = _SIZE[fmt](data)
    except struct.error:
        raise ImageDecodeError(f"{name}: {fmt.upper()} header cut short: truncated") from None
    if width <= 0 or height <= 0:
        raise ImageDecodeError(f"{name}: the {fmt.upper()} header declares {width}x{height} pixels")
    return fmt, int(width), int(height)


def check_image_size(width: int, height: int, max_pixels: int, name: str = "data") -> None:
    """Raises :class:`ImageTooLargeError` when ``width * height > max_pixels`` or a side exceeds :data:`MAX_SIDE`."""
    if width * height > max_pixels:
        raise ImageTooLargeError(f"{name}: {width}x{height} = {width * height:,} pixels; the limit is "
                                 f"{max_pixels:,} pixels")
    if max(width, height) > MAX_SIDE:
        raise ImageTooLargeError(f"{name}: {width}x{height} pixels; each side must be at most {MAX_SIDE}")


def decode_image(data: bytes | bytearray | memoryview, max_pixels: int = 40_000_000, name: str = "data") -> np.ndarray:
    """Decodes an encoded JPEG/PNG/BMP/WebP image to a uint8 BGR ``(H, W, 3)`` array, as ``cv2.imread`` would
    (gray, palette, 16-bit and alpha images are converted; EXIF orientation is applied).

    The header is checked first (:func:`image_header`, :func:`check_image_size`), so an
    image over ``max_pixels`` pixels is refused without being decoded. A file cut short
    is refused rather than returned half grey.

    Raises:
        UnsupportedImageError, ImageTooLargeError, ImageDecodeError: see above
        (``InvalidArgumentError``/``ImageReadError`` subclasses).
        InvalidArgumentError: ``max_pixels`` is not a positive integer.
    """
    check_int(max_pixels, "max_pixels", minimum=1, expected="a positive integer", error=InvalidArgumentError)
    fmt, width, height = image_header(data, name)
    check_image_size(width, height, max_pixels, name)
    import cv2

    img = cv2.imdecode(np.frombuffer(_as_bytes(data, name), np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ImageDecodeError(f"{name}: OpenCV cannot decode this {fmt.upper()} image ({width}x{height} declared): "
                               "corrupt or truncated")
    if img.shape[0] * img.shape[1] != width * height:  # the header and the decoder disagree
        raise ImageDecodeError(f"{name}: the {fmt.upper()} header declares {width}x{height} pixels but the data "
                               f"decodes to {img.shape[1]}x{img.shape[0]}")
    return img


__all__ = ["FORMATS", "MAX_SIDE", "UnsupportedImageError", "ImageTooLargeError", "ImageDecodeError",
           "sniff_format", "image_header", "check_image_size", "decode_image"]

"""edgevision.image_bytes: format sniffing, sizes from the headers, bounded decoding."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from edgevision.errors import ImageReadError, InvalidArgumentError, InvalidTypeError
from edgevision.image_bytes import (
    MAX_SIDE,
    ImageDecodeError,
    ImageTooLargeError,
    UnsupportedImageError,
    decode_image,
    image_header,
    sniff_format,
)


def encoded(ext: str, h: int, w: int, channels: int = 3, params: tuple = ()) -> bytes:
    shape = (h, w) if channels == 1 else (h, w, channels)
    ok, buf = cv2.imencode(ext, np.random.default_rng(h + w).integers(0, 256, shape, np.uint8), list(params))
    assert ok
    return buf.tobytes()


def png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))


CASES = [
    ("jpeg", ".jpg", ()), ("jpeg", ".jpg", (cv2.IMWRITE_JPEG_PROGRESSIVE, 1)), ("png", ".png", ()),
    ("bmp", ".bmp", ()), ("webp", ".webp", (cv2.IMWRITE_WEBP_QUALITY, 80)), ("webp", ".webp", (cv2.IMWRITE_WEBP_QUALITY, 101)),
]


@pytest.mark.parametrize("fmt,ext,params", CASES)
@pytest.mark.parametrize("h,w", [(1, 1), (37, 1203), (480, 640)])
def test_the_header_gives_the_decoded_size(fmt: str, ext: str, params: tuple, h: int, w: int) -> None:
    data = encoded(ext, h, w, params=params)
    assert sniff_format(data) == fmt
    assert image_header(data) == (fmt, w, h)
    img = decode_image(data)
    assert img.shape == (h, w, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(img, cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))


def test_webp_with_alpha_vp8x_and_gray_and_bgra_png() -> None:
    data = encoded(".webp", 20, 30, channels=4, params=(cv2.IMWRITE_WEBP_QUALITY, 80))
    assert image_header(data) == ("webp", 30, 20)
    assert decode_image(data).shape == (20, 30, 3)
    assert decode_image(encoded(".png", 9, 7, channels=1)).shape == (9, 7, 3)
    assert decode_image(encoded(".png", 9, 7, channels=4)).shape == (9, 7, 3)


def test_a_bmp_core_header_and_a_top_down_bmp() -> None:
    core = b"BM" + b"\x00" * 12 + struct.pack("<IHH", 12, 31, 17) + b"\x00" * 8
    assert image_header(core) == ("bmp", 31, 17)
    info = b"BM" + b"\x00" * 12 + struct.pack("<Iii", 40, 31, -17) + b"\x00" * 8
    assert image_header(info) == ("bmp", 31, 17)


@pytest.mark.parametrize("data,name", [
    (b"GIF89a" + b"\x00" * 20, "GIF"), (b"II*\x00" + b"\x00" * 20, "TIFF"), (b"MM\x00*" + b"\x00" * 20, "TIFF"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"), (b"hello world", "not a recognized image"),
    (b"", "empty"),
])
def test_other_formats_are_refused_by_name(data: bytes, name: str) -> None:
    with pytest.raises(UnsupportedImageError, match=name) as e:
        image_header(data, "upload")
    assert isinstance(e.value, InvalidArgumentError) and str(e.value).startswith("upload: ")


@pytest.mark.parametrize("ext", [".jpg", ".png", ".bmp", ".webp"])
def test_cut_short_headers_and_data_are_refused(ext: str) -> None:
    data = encoded(ext, 40, 50)
    for cut in (len(data) // 2, 10):
        with pytest.raises(ImageDecodeError) as e:
            decode_image(data[:cut])
        assert isinstance(e.value, ImageReadError)


def test_malformed_headers() -> None:
    with pytest.raises(ImageDecodeError, match="no frame header"):
        image_header(b"\xff\xd8\xff\xda\x00\x02")  # scan data before any SOFn
    with pytest.raises(ImageDecodeError, match="expected a marker"):
        image_header(b"\xff\xd8\xff\xe0\x00\x04ab\x12")
    with pytest.raises(ImageDecodeError, match="0x0"):
        image_header(b"\xff\xd8\xff\xc0\x00\x0b\x08\x00\x00\x00\x00\x03")
    with pytest.raises(ImageDecodeError, match="first chunk is not IHDR"):
        image_header(b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIDAT" + b"\x00" * 13)
    with pytest.raises(ImageDecodeError, match="DIB header"):
        image_header(b"BM" + b"\x00" * 12 + struct.pack("<Iii", 20, 3, 3))
    with pytest.raises(ImageDecodeError, match="unknown first chunk"):
        image_header(b"RIFF\x00\x00\x00\x00WEBPABCD" + b"\x00" * 20)


def test_the_pixel_limit_is_applied_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encoded(".png", 100, 100)
    assert decode_image(data, max_pixels=10_000).shape == (100, 100, 3)

    def never(*a: object) -> None:
        raise AssertionError("decoded")

    monkeypatch.setattr(cv2, "imdecode", never)
    with pytest.raises(ImageTooLargeError, match="100x100 = 10,000 pixels; the limit is 9,999"):
        decode_image(data, max_pixels=9_999)
    with pytest.raises(ImageTooLargeError, match=f"at most {MAX_SIDE}"):
        decode_image(png_header_only(MAX_SIDE + 1, 1))
    with pytest.raises(ImageTooLargeError, match="20000x20000"):
        decode_image(png_header_only(20000, 20000))


def test_argument_errors() -> None:
    with pytest.raises(InvalidTypeError, match="data: expected the encoded image as bytes, got str"):
        image_header("a.jpg")  # type: ignore[arg-type]
    for bad in (0, -1, 1.5, True):
        with pytest.raises(InvalidArgumentError, match="max_pixels"):
            decode_image(encoded(".png", 4, 4), max_pixels=bad)  # type: ignore[arg-type]
    assert decode_image(memoryview(encoded(".png", 4, 5))).shape == (4, 5, 3)
    assert image_header(bytearray(encoded(".bmp", 4, 5))) == ("bmp", 5, 4)

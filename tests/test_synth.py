"""The synthetic media generators make what they promise (fast: small images only)."""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import pytest
from PIL import Image, ImageOps

from toolkit import _synth as synth


def test_photo_size_mode_and_determinism():
    a = synth.photo(160, 90, seed=3)
    assert a.size == (160, 90) and a.mode == "RGB"
    assert a.tobytes() == synth.photo(160, 90, seed=3).tobytes()
    assert a.tobytes() != synth.photo(160, 90, seed=4).tobytes()


def test_photo_is_photo_like_not_flat_not_pure_noise():
    img = synth.photo(640, 480, seed=1)
    lo, hi = img.convert("L").getextrema()
    assert hi - lo > 60  # structure and contrast
    jpeg, raw = io.BytesIO(), 640 * 480 * 3
    img.save(jpeg, "JPEG", quality=90)
    # real photos compress ~5-20x at q90; pure noise barely compresses, a flat image compresses ~1000x
    assert raw / 30 < len(jpeg.getvalue()) < raw / 3


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "P", "I;16", "LA"])
def test_photo_modes(mode):
    img = synth.photo(48, 32, seed=2, mode=mode)
    assert img.mode == mode and img.size == (48, 32)
    if mode == "I;16":
        assert img.getextrema()[1] > 255  # really 16-bit
    if mode == "RGBA":
        lo, hi = img.getchannel("A").getextrema()
        assert lo < 32 and hi == 255  # partly transparent


@pytest.mark.parametrize("fmt,ext", [("JPEG", ".jpg"), ("PNG", ".png"), ("WEBP", ".webp"), ("GIF", ".gif")])
def test_write_photo_formats_and_parents(tmp_path, fmt, ext):
    p = synth.write_photo(tmp_path / "a" / "b" / f"x{ext}", 120, 80, seed=5, fmt=fmt)
    with Image.open(p) as im:
        assert im.format == fmt and im.size == (120, 80)
        im.load()


def test_write_photo_is_byte_deterministic(tmp_path):
    a = synth.write_photo(tmp_path / "a.jpg", 300, 200, seed=9).read_bytes()
    b = synth.write_photo(tmp_path / "b.jpg", 300, 200, seed=9).read_bytes()
    assert a == b


def test_truncated_jpeg_headers_parse_but_decoding_fails(tmp_path):
    p = synth.write_truncated_jpeg(tmp_path / "t.jpg", seed=1)
    assert p.read_bytes()[:3] == b"\xff\xd8\xff"
    with Image.open(p) as im:
        assert im.size == (640, 480)
        with pytest.raises(OSError, match="truncated"):
            im.load()


def test_garbage_is_not_an_image(tmp_path):
    p = synth.write_garbage(tmp_path / "g.jpg", seed=1, size=1000)
    assert p.stat().st_size == 1000
    assert p.read_bytes() == synth.write_garbage(tmp_path / "h.jpg", seed=1, size=1000).read_bytes()
    with pytest.raises(Image.UnidentifiedImageError):
        Image.open(p)


def test_empty(tmp_path):
    p = synth.write_empty(tmp_path / "sub" / "e.jpg")
    assert p.exists() and p.stat().st_size == 0


def test_bomb_png_is_tiny_but_declares_huge_size(tmp_path):
    p = synth.write_bomb_png(tmp_path / "bomb.png")
    data = p.read_bytes()
    assert len(data) < 4096
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    body = data[16 : 16 + length]
    assert kind == b"IHDR" and struct.unpack(">II", body[:8]) == (40000, 40000)
    (crc,) = struct.unpack(">I", data[16 + length : 20 + length])
    assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF  # valid: a decoder will not reject it early
    with pytest.raises(Image.DecompressionBombError):
        Image.open(p)


def test_bomb_png_custom_size_below_limit_is_openable(tmp_path):
    p = synth.write_bomb_png(tmp_path / "b.png", width=5000, height=3000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(p) as im:
            assert im.size == (5000, 3000)


def test_eps_is_postscript(tmp_path):
    p = synth.write_eps(tmp_path / "v.eps")
    assert p.read_bytes().startswith(b"%!PS-Adobe-3.0 EPSF")
    with Image.open(p) as im:  # header only: load() would need Ghostscript
        assert im.format == "EPS"


@pytest.mark.parametrize("orientation,expected", [(1, (90, 60)), (3, (90, 60)), (6, (60, 90)), (8, (60, 90))])
def test_exif_orientation(tmp_path, orientation, expected):
    p = synth.write_with_exif_orientation(tmp_path / f"o{orientation}.jpg", 90, 60, orientation, seed=1)
    with Image.open(p) as im:
        assert im.size == (90, 60)  # stored pixels
        assert im.getexif().get(0x0112) == orientation
        assert ImageOps.exif_transpose(im).size == expected


def test_exif_orientation_out_of_range(tmp_path):
    with pytest.raises(ValueError):
        synth.write_with_exif_orientation(tmp_path / "x.jpg", 10, 10, 9, seed=1)


def test_broken_exif_jpeg_still_decodes(tmp_path):
    p = synth.write_broken_exif_jpeg(tmp_path / "be.jpg", seed=1)
    data = p.read_bytes()
    assert data[2:4] == b"\xff\xe1" and data[6:12] == b"Exif\x00\x00"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Image.open(p) as im:
            im.load()
            assert im.size == (320, 240)
            im.getexif()
    assert any("Corrupt EXIF" in str(w.message) for w in caught)


def test_big_png_is_valid_and_small_on_disk(tmp_path):
    p = synth.write_big_png(tmp_path / "big.png", 2000, 1500, seed=1)
    assert p.stat().st_size < 100_000
    with Image.open(p) as im:
        assert im.size == (2000, 1500) and im.mode == "RGB"
        im.load()

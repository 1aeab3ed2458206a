"""Formats users have in photo folders: HEIC/HEIF (pillow-heif), TGA (known by name), and bombs
hidden inside containers (ICO, ICNS). All media made here."""

from __future__ import annotations

import io
import struct
import zlib

import pillow_heif
import pytest
from PIL import Image, ImageCms

from toolkit import _synth_icc as synth_icc
from toolkit._media import MediaItem
from toolkit._ops import FileProblem, OpSpec
from toolkit._ops import image as iops
from toolkit._probe import probe_one
from toolkit._scan import scan
from toolkit._synth import png_chunk

pillow_heif.register_heif_opener()  # to write HEIC test files, whatever the toolkit registers
THUMB = (OpSpec.make("thumbnail", size=128),)
LIMIT = 89_478_485


def png_declaring(width: int, height: int) -> bytes:
    """A PNG of a few bytes whose header declares ``width`` x ``height`` RGBA."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + png_chunk(b"IEND", b"")
    )


def ico_holding(payload: bytes) -> bytes:
    """An ICO with one directory entry (256x256, the most its directory can say) holding ``payload``."""
    return struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(payload), 22) + payload


def icns_holding(payload: bytes, kind: bytes = b"ic10") -> bytes:
    """An ICNS with one 1024x1024 (``ic10``) entry holding ``payload``."""
    entry = kind + struct.pack(">I", len(payload) + 8) + payload
    return b"icns" + struct.pack(">I", len(entry) + 8) + entry


def code_of(fn, *a, **k) -> FileProblem:
    with pytest.raises(FileProblem) as info:
        fn(*a, **k)
    return info.value


def scanned(path):
    (item,) = scan(path.parent).items
    return item


# ---------------------------------------------------------------- HEIC / HEIF


def test_heic_is_read_with_its_colour_profile(tmp_path):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    path = tmp_path / "IMG_0001.HEIC"
    im = Image.new("RGB", (80, 60), (200, 40, 40))
    im.save(path, "HEIF", quality=90, icc_profile=icc)
    item = scanned(path)
    assert (item.kind, item.format) == ("image", "HEIF")
    probed = probe_one(item, THUMB, "jpeg", LIMIT)
    assert (probed.info.width, probed.info.height, probed.info.codec) == (80, 60, "HEIF")
    out, warnings = iops.load_image(str(path), max_pixels=LIMIT)
    r, g, b = out.convert("RGB").getpixel((40, 30))
    assert warnings == [] and out.size == (80, 60) and r > 170 and g < 80 and b < 80
    # the profile reaches the colour step: a Display P3 HEIC (every recent iPhone photo) comes out in sRGB
    p3 = tmp_path / "IMG_0002.HEIC"
    Image.new("RGB", (80, 60), (200, 100, 50)).save(
        p3, "HEIF", quality=95, icc_profile=synth_icc.rgb_profile(synth_icc.DISPLAY_P3)
    )
    out, warnings = iops.load_image(str(p3), max_pixels=LIMIT)
    got = out.convert("RGB").getpixel((40, 30))
    assert warnings == [] and all(abs(g - w) <= 4 for g, w in zip(got, (215, 93, 31))), got  # copied: (200, 100, 50)


def test_heif_estimate_counts_the_decoders_own_buffer():
    """pillow-heif decodes into its own buffer, then copies into Pillow's: both exist for a moment
    (a 12 MP HEIC: 95 MiB peak, measured), and there is no draft decoding."""
    n = 4032 * 3024
    heif = iops.estimate_bytes(4032, 3024, "RGB", "HEIF", THUMB)
    png = iops.estimate_bytes(4032, 3024, "RGB", "PNG", THUMB)
    assert heif >= 2 * n * 4 > png


def test_a_damaged_heic_is_a_typed_failure(tmp_path):
    path = tmp_path / "broken.heic"
    Image.new("RGB", (64, 64), "blue").save(path, "HEIF")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    for call in (
        lambda: iops.probe_image(str(path), ops=THUMB, max_pixels=LIMIT),
        lambda: iops.load_image(str(path), max_pixels=LIMIT),
    ):
        try:
            call()
        except FileProblem as err:
            assert err.code in ("corrupt", "truncated") and str(path) in err.message
        else:
            pytest.fail("half a HEIC was read without complaint")


def test_a_heic_declaring_an_enormous_image_is_a_bomb(tmp_path):
    path = tmp_path / "huge.heic"
    Image.new("RGB", (64, 64), "red").save(path, "HEIF")
    data = bytearray(path.read_bytes())
    at = data.find(b"ispe")  # the image's spatial extent box: width, height after version/flags
    struct.pack_into(">II", data, at + 8, 40000, 40000)
    path.write_bytes(bytes(data))
    for call in (
        lambda: iops.probe_image(str(path), ops=THUMB, max_pixels=LIMIT),
        lambda: iops.load_image(str(path), max_pixels=LIMIT),
    ):
        err = code_of(call)
        assert err.code == "decompression-bomb" and "1,600,000,000 pixels" in err.message and "huge.heic" in err.message


# ---------------------------------------------------------------- TGA


@pytest.mark.parametrize("origin", [-1, 1], ids=["bottom-up", "top-down"])
@pytest.mark.parametrize("rle", [False, True])
def test_tga_is_found_by_name_and_read(tmp_path, rle, origin):
    """Either row order (the header's origin bit, which Pillow's reader honours) shows red top-left."""
    path = tmp_path / "sprite.tga"
    im = Image.new("RGBA", (40, 30), (0, 0, 255, 255))
    im.paste((255, 0, 0, 255), (0, 0, 20, 15))
    im.save(path, "TGA", rle=rle, orientation=origin)
    item = scanned(path)
    assert (item.kind, item.format) == ("image", "TGA")
    assert probe_one(item, THUMB, "png", LIMIT).info.width == 40
    out, _ = iops.load_image(str(path), max_pixels=LIMIT)
    assert out.size == (40, 30) and out.getpixel((5, 5))[:3] == (255, 0, 0) and out.getpixel((35, 25))[:3] == (0, 0, 255)


def test_junk_named_tga_is_a_clear_failure(tmp_path):
    path = tmp_path / "texture.tga"
    path.write_bytes(b"this is a text file, not a picture\n" * 10)
    item = scanned(path)
    assert item.kind == "image"  # it claims to be media: it gets a failed row, never a silent skip
    row = probe_one(item, THUMB, "jpeg", LIMIT)
    assert row.status == "failed" and row.error.type == "unidentified"
    assert "texture.tga" in row.error.message and "TGA" in row.error.message


def test_tga_is_never_tried_on_files_not_named_so(tmp_path):
    """TGA has no signature; a file named .jpg whose first bytes happen to pass TGA's header check
    is not decoded as a TGA picture of noise."""
    tga = io.BytesIO()
    Image.new("L", (16, 16), 90).save(tga, "TGA")
    path = tmp_path / "photo.jpg"
    path.write_bytes(tga.getvalue())
    assert code_of(iops.load_image, str(path), max_pixels=LIMIT).code == "unidentified"


# ---------------------------------------------------------------- bombs inside containers


@pytest.mark.parametrize(
    "name,data",
    [
        ("icon.ico", ico_holding(png_declaring(30000, 30000))),
        ("wide.ico", ico_holding(png_declaring(20000, 20000))),
        ("app.icns", icns_holding(png_declaring(30000, 30000))),
    ],
    ids=["ico-30000", "ico-20000", "icns-30000"],
)
def test_an_enormous_image_inside_a_container_is_a_bomb(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    probed = probe_one(scanned(path), THUMB, "jpeg", LIMIT)  # ICO decodes while opening; ICNS on load
    assert isinstance(probed, MediaItem) or probed.error.type == "decompression-bomb"
    load = code_of(iops.load_image, str(path), max_pixels=LIMIT)
    assert load.code == "decompression-bomb" and name in load.message and "`max_pixels`" in load.message


@pytest.mark.parametrize("fmt,ext", [("ICO", "ico"), ("ICNS", "icns")])
def test_genuine_icons_still_load(tmp_path, fmt, ext):
    path = tmp_path / f"icon.{ext}"
    Image.new("RGBA", (64, 64), (0, 128, 0, 255)).save(path, fmt)
    item = scanned(path)
    assert item.format == fmt
    assert isinstance(probe_one(item, THUMB, "png", LIMIT), MediaItem)
    out, warnings = iops.load_image(str(path), max_pixels=LIMIT)
    assert warnings == [] and out.getpixel((out.width // 2, out.height // 2))[:3] == (0, 128, 0)

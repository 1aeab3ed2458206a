"""Unit tests of the image ops (toolkit._ops.image): geometry, modes, EXIF, limits and error codes. All media made here."""

from __future__ import annotations

import io
import os
import random
import struct
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image, ImageFile

from toolkit import _synth as synth, _synth_icc as synth_icc
from toolkit._media import MediaInfo, Problem
from toolkit._ops import FileProblem, OpSpec
from toolkit._ops import image as iops
from toolkit._ops.image import probe as image_probe
from toolkit._synth import png_chunk

from helpers import exif_bytes

MODES = ("1", "L", "LA", "P", "P+transparency", "RGB", "RGBA", "CMYK", "I;16", "I", "F", "YCbCr")
FORMATS = ("jpeg", "png", "webp")


# ---------------------------------------------------------------- media made here


def noise(mode: str, size: tuple[int, int], seed: int = 0) -> Image.Image:
    """A seeded random image in any 8-bit-per-band mode Pillow can build from bytes."""
    bands = len(Image.new(mode, (1, 1)).getbands())
    data = random.Random(seed).randbytes(size[0] * size[1] * bands)
    return Image.frombytes(mode, size, data)


def make_mode(mode: str, size: tuple[int, int] = (48, 32), seed: int = 1) -> Image.Image:
    rgb = noise("RGB", size, seed)
    if mode == "1":
        return rgb.convert("1")
    if mode == "LA":
        return Image.merge("LA", (rgb.convert("L"), noise("L", size, seed + 1)))
    if mode == "P":
        return rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    if mode == "P+transparency":
        p = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
        p.info["transparency"] = 0
        return p
    if mode == "RGBA":
        return Image.merge("RGBA", (*rgb.split(), noise("L", size, seed + 1)))
    if mode == "I;16":
        rnd = random.Random(seed)
        return Image.frombytes(
            "I;16", size, struct.pack(f"<{size[0] * size[1]}H", *(rnd.randrange(65536) for _ in range(size[0] * size[1])))
        )
    if mode == "I":  # 32-bit signed, a range far outside 0..255
        rnd = random.Random(seed)
        return Image.frombytes(
            "I", size, struct.pack(f"<{size[0] * size[1]}i", *(rnd.randrange(-50_000, 200_000) for _ in range(size[0] * size[1])))
        )
    if mode == "F":
        return rgb.convert("L").convert("F").point(lambda v: v / 255.0)
    return rgb.convert(mode)


def save(im: Image.Image, path, fmt: str, **kw) -> str:
    im.save(path, fmt, **kw)
    return str(path)


def png_with(width: int, height: int, idat: bytes) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` RGB, with valid CRCs and the given IDAT payload."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def fds_open_on(path) -> list[str]:
    target = os.path.realpath(path)
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == target:
                found.append(fd)
        except OSError:
            pass
    return found


@pytest.fixture
def no_decoding(monkeypatch):
    """Any attempt to create a pixel decoder fails the test."""

    def boom(*a, **k):
        raise AssertionError("a pixel decoder was created")

    monkeypatch.setattr(Image, "_getdecoder", boom)


@pytest.fixture(autouse=True)
def pillow_globals_untouched():
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    yield
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == before


@pytest.fixture(scope="module")
def big_jpeg(tmp_path_factory):
    """A 2000x1500 JPEG (a smooth gradient: quick to encode) and a PNG of the same size."""
    d = tmp_path_factory.mktemp("big")
    im = Image.linear_gradient("L").resize((2000, 1500)).convert("RGB")
    return save(im, d / "big.jpg", "JPEG", quality=80), save(im, d / "big.png", "PNG", compress_level=1)


def code_of(fn, *a, **k) -> FileProblem:
    with pytest.raises(FileProblem) as info:
        fn(*a, **k)
    return info.value


THUMB = (OpSpec.make("thumbnail", size=128),)


# ---------------------------------------------------------------- geometry


@pytest.mark.parametrize(
    "src,box,want",
    [
        ((400, 200), (100, 100), (100, 50)),
        ((200, 400), (100, 100), (50, 100)),
        ((1000, 10), (64, 64), (64, 1)),
        ((50, 20), (200, 200), (50, 20)),  # never enlarges
        ((640, 480), (640, 480), (640, 480)),
    ],
)
def test_thumbnail_keeps_aspect_and_never_enlarges(src, box, want):
    im = noise("RGB", src)
    out = iops.thumbnail(im, box)
    assert out.size == want
    assert out is not im and im.size == src
    assert abs(out.width / out.height - src[0] / src[1]) <= max(1 / out.height, 1 / out.width) * src[0] / src[1] + 1e-9


@pytest.mark.parametrize(
    "mode,src,box,want",
    [
        ("fit", (400, 200), (100, 100), (100, 50)),
        ("fit", (50, 20), (200, 200), (200, 80)),  # fit may enlarge
        ("fill", (400, 200), (100, 100), (100, 100)),
        ("fill", (200, 401), (64, 48), (64, 48)),
        ("pad", (400, 200), (100, 100), (100, 100)),
        ("pad", (7, 300), (33, 17), (33, 17)),
        ("exact", (400, 200), (30, 90), (30, 90)),
    ],
)
def test_resize_modes_give_exact_sizes(mode, src, box, want):
    assert iops.resize(noise("RGB", src), box, mode).size == want
    assert iops.render(noise("RGB", src), OpSpec.make("resize", size=list(box), mode=mode)).size == want


@pytest.mark.parametrize("size", [(1920, 1080), (4000, 3000), (6000, 4000)])
def test_thumbnails_are_as_faithful_as_seed_000s(tmp_path, size):
    """Ours (JPEG draft, box pre-reduction, Lanczos) against the seed's ``Image.thumbnail``, both
    compared with a fair reference: the full-size decode shrunk by Lanczos in one step."""
    from PIL import ImageChops, ImageStat

    path = tmp_path / "photo.jpg"
    synth.photo(*size, seed=sum(size)).save(path, quality=90)
    thumb_op = OpSpec.make("thumbnail", size=128)
    im, _ = iops.load_image(str(path), max_pixels=10**9, draft_size=iops.combined_draft([thumb_op]))
    ours = iops.render(im, thumb_op)
    with Image.open(path) as full:
        reference = full.convert("RGB").resize(ours.size, Image.Resampling.LANCZOS)
    with Image.open(path) as seed:
        seed.thumbnail((128, 128))
        seed = seed.convert("RGB").resize(ours.size) if seed.size != ours.size else seed.convert("RGB")

    def rms(a):
        return max(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), reference)).rms)

    assert ours.size == (128, round(128 * size[1] / size[0]))
    assert rms(ours) <= rms(seed) and rms(ours) < 1.5  # 1.5 levels of 255: ~45 dB, invisible


def test_fill_crops_the_centre():
    im = Image.new("RGB", (300, 100), (255, 0, 0))
    im.paste((0, 255, 0), (100, 0, 200, 100))
    im.paste((0, 0, 255), (200, 0, 300, 100))
    out = iops.resize(im, (50, 50), "fill")
    assert out.getpixel((0, 25))[1] > 200 and out.getpixel((49, 25))[1] > 200  # all green, edges too


def test_pad_fills_margins_with_background_or_transparency():
    out = iops.resize(Image.new("RGB", (200, 100), (255, 0, 0)), (100, 100), "pad", background="#0000ff")
    assert out.getpixel((50, 2)) == (0, 0, 255) and out.getpixel((50, 97)) == (0, 0, 255)
    assert out.getpixel((50, 50)) == (255, 0, 0)
    rgba = iops.resize(Image.new("RGBA", (200, 100), (255, 0, 0, 255)), (100, 100), "pad")
    assert rgba.mode == "RGBA" and rgba.getpixel((50, 2))[3] == 0 and rgba.getpixel((50, 50)) == (255, 0, 0, 255)
    grey = iops.resize(Image.new("L", (10, 100), 0), (100, 100), "pad", background="#808080")
    assert grey.mode == "L" and grey.getpixel((0, 50)) == 128 and grey.getpixel((50, 50)) == 0


def test_render_dispatches_and_rejects_video_ops():
    im = noise("RGB", (300, 150))
    assert iops.render(im, OpSpec.make("thumbnail", size=60)).size == (60, 30)
    assert iops.render(im, OpSpec.make("resize", size=[64, 32], mode="exact")).size == (64, 32)
    with pytest.raises(ValueError):
        iops.render(im, OpSpec.make("poster"))
    assert iops.draft_hint(OpSpec.make("thumbnail", size=[128, 96])) == (128, 96)
    assert iops.draft_hint(OpSpec.make("resize", size=64, mode="fill")) == (64, 64)
    assert iops.draft_hint(OpSpec.make("poster")) is None


# ---------------------------------------------------------------- EXIF


def test_exif_orientation_6_swaps_width_and_height(tmp_path):
    im = Image.new("RGB", (60, 40), (255, 0, 0))
    im.paste((0, 0, 255), (30, 0, 60, 40))  # stored: red left, blue right
    path = save(im, tmp_path / "rot.jpg", "JPEG", exif=exif_bytes(6), quality=95)
    info = iops.probe_image(path, ops=THUMB, fmt="jpeg", max_pixels=10**6)
    assert (info.width, info.height, info.rotation) == (40, 60, 270)
    out, warnings = iops.load_image(path, max_pixels=10**6)
    assert out.size == (40, 60) and warnings == []
    r, g, b = out.getpixel((20, 5))  # rotated 90 degrees clockwise: the stored left side is now on top
    assert r > 200 and b < 60


def test_png_exif_after_the_pixels_is_seen_by_probe_and_load(tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (30, 10), (0, 200, 0)).save(buf, "PNG")
    data = buf.getvalue()
    iend = data.rindex(b"IEND") - 4  # move the orientation behind IDAT, as some writers do
    path = tmp_path / "late-exif.png"
    path.write_bytes(data[:iend] + png_chunk(b"eXIf", exif_bytes(8)) + data[iend:])
    info = iops.probe_image(str(path), ops=THUMB, fmt="png", max_pixels=10**6)
    im, warnings = iops.load_image(str(path), max_pixels=10**6)
    assert (info.width, info.height, info.rotation) == (10, 30, 90) and im.size == (10, 30) and warnings == []


def test_broken_exif_still_loads_with_a_warning(tmp_path):
    path = save(noise("RGB", (40, 30)), tmp_path / "bad-exif.jpg", "JPEG", exif=b"Exif\x00\x00" + b"\x07garbage" * 4)
    info = iops.probe_image(path, ops=THUMB, fmt="jpeg", max_pixels=10**6)
    assert (info.width, info.height) == (40, 30)
    out, warnings = iops.load_image(path, max_pixels=10**6)
    assert out.size == (40, 30)
    assert [w.type for w in warnings] == ["exif"] and str(path) in warnings[0].message


# ---------------------------------------------------------------- modes and outputs


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("mode", MODES)
def test_every_mode_encodes_and_decodes(mode, fmt):
    im = make_mode(mode)
    for out in (iops.prepare_for(im, fmt), iops.prepare_for(iops.render(im, OpSpec.make("thumbnail", size=24)), fmt)):
        data = iops.encode(out, fmt, 85)
        back = Image.open(io.BytesIO(data))
        back.load()
        assert back.format == fmt.upper() and back.size == out.size
        if mode in ("LA", "RGBA", "P+transparency") and fmt != "jpeg":
            assert "A" in back.getbands() or "transparency" in back.info
        if fmt == "jpeg":
            assert back.mode in ("L", "RGB")


def test_16_bit_is_scaled_to_the_visible_range():
    rnd = random.Random(3)
    values = [1000 + rnd.randrange(256) for _ in range(64 * 64)]  # very dark as 16-bit
    values[0], values[1] = 1000, 1255
    im = Image.frombytes("I;16", (64, 64), struct.pack(f"<{len(values)}H", *values))
    out = iops.prepare_for(im, "png")
    lo, hi = out.getextrema()
    assert out.mode == "L" and lo < 5 and hi > 250


def test_rgba_on_white_is_white_where_transparent():
    im = Image.new("RGBA", (40, 20), (255, 0, 0, 0))
    im.paste((0, 0, 255, 255), (20, 0, 40, 20))
    out = iops.prepare_for(im, "jpeg")
    assert out.mode == "RGB" and out.getpixel((5, 10)) == (255, 255, 255) and out.getpixel((35, 10)) == (0, 0, 255)
    back = Image.open(io.BytesIO(iops.encode(out, "jpeg", 90))).convert("RGB")
    assert min(back.getpixel((5, 10))) > 245
    assert iops.prepare_for(im, "png").mode == "RGBA" and iops.prepare_for(im, "webp").mode == "RGBA"


def test_encode_is_explicit_about_jpeg_chroma_subsampling():
    from PIL import JpegImagePlugin

    im = noise("RGB", (32, 32))
    assert JpegImagePlugin.get_sampling(Image.open(io.BytesIO(iops.encode(im, "jpeg", 95)))) == 0  # 4:4:4
    assert JpegImagePlugin.get_sampling(Image.open(io.BytesIO(iops.encode(im, "jpeg", 75)))) == 2  # 4:2:0


# ---------------------------------------------------------------- limits and bad files


def test_decompression_bomb_is_refused_from_the_header(tmp_path, no_decoding):
    path = synth.write_bomb_png(tmp_path / "bomb.png", 30000, 30000)
    for call in (
        lambda: iops.probe_image(str(path), ops=THUMB, fmt="jpeg", max_pixels=89_478_485),
        lambda: iops.load_image(str(path), max_pixels=89_478_485),
    ):
        err = code_of(call)
        assert err.code == "decompression-bomb" and str(path) in err.message and "`max_pixels`" in err.message
    assert fds_open_on(path) == []


def test_between_the_limit_and_twice_it_is_still_a_bomb(tmp_path):
    # Pillow alone would only warn between MAX_IMAGE_PIXELS and twice that; we refuse at the limit
    path = save(noise("RGB", (100, 100)), tmp_path / "big.png", "PNG")
    assert code_of(iops.load_image, path, max_pixels=6000).code == "decompression-bomb"
    assert code_of(iops.probe_image, path, ops=THUMB, fmt="png", max_pixels=9999).code == "decompression-bomb"
    im, _ = iops.load_image(path, max_pixels=10000)
    assert im.size == (100, 100)


def test_max_pixels_above_pillows_default_is_honoured(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # the process default is far below our limit
    path = save(noise("RGB", (100, 100)), tmp_path / "ok.png", "PNG")
    im, warnings = iops.load_image(path, max_pixels=20000)
    assert im.size == (100, 100) and warnings == []
    assert Image.MAX_IMAGE_PIXELS == 100


def test_eps_is_unsupported_and_ghostscript_never_runs(tmp_path, monkeypatch):
    from PIL import EpsImagePlugin

    calls = []
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(subprocess, "check_call", lambda *a, **k: calls.append(a))
    path = synth.write_eps(tmp_path / "drawing.eps")
    for call in (
        lambda: iops.probe_image(str(path), ops=THUMB, fmt="jpeg", max_pixels=10**6),
        lambda: iops.load_image(str(path), max_pixels=10**6),
    ):
        err = code_of(call)
        assert err.code == "unsupported-format" and str(path) in err.message
    assert calls == []
    assert "EPS" not in iops.ALLOWED_FORMATS and "PDF" not in iops.ALLOWED_FORMATS


def test_truncated_jpeg_fails_or_recovers_with_a_warning(tmp_path):
    path = synth.write_truncated_jpeg(tmp_path / "cut.jpg", seed=0, width=120, height=90)
    err = code_of(iops.load_image, str(path), max_pixels=10**6)
    assert err.code == "truncated" and str(path) in err.message and "`allow_truncated`" in err.message
    im, warnings = iops.load_image(str(path), max_pixels=10**6, allow_truncated=True)
    assert im.size == (120, 90) and [w.type for w in warnings] == ["truncated"]
    assert fds_open_on(path) == []
    # the header is intact, so probing still works
    assert iops.probe_image(str(path), ops=THUMB, fmt="jpeg", max_pixels=10**6).width == 120


def test_tolerant_and_strict_loads_in_threads_do_not_leak_settings(tmp_path):
    data = io.BytesIO()
    noise("RGB", (64, 64)).save(data, "JPEG")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data.getvalue()[: len(data.getvalue()) * 2 // 3])

    def one(i):
        tolerant = i % 2 == 0
        try:
            iops.load_image(str(cut), max_pixels=10**6, allow_truncated=tolerant)
            return tolerant, "ok"
        except FileProblem as fp:
            return tolerant, fp.code

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(48)))
    assert all(code == ("ok" if tolerant else "truncated") for tolerant, code in results)


@pytest.mark.parametrize(
    "content,code",
    [
        (bytes(random.Random(7).randbytes(4096)), "unidentified"),
        (b"", "empty-file"),
        (b"8BPS\x00\x01" + bytes(40), "unsupported-format"),  # Photoshop: recognised, not read
    ],
)
def test_bad_files_get_stable_codes(tmp_path, content, code):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    for call in (
        lambda: iops.probe_image(str(path), ops=THUMB, fmt="jpeg", max_pixels=10**6),
        lambda: iops.load_image(str(path), max_pixels=10**6),
    ):
        err = code_of(call)
        assert err.code == code and str(path) in err.message


def test_missing_and_non_regular_files(tmp_path):
    assert code_of(iops.load_image, str(tmp_path / "gone.png"), max_pixels=10).code == "not-found"
    assert code_of(iops.probe_image, str(tmp_path), ops=THUMB, fmt="png", max_pixels=10).code == "not-regular-file"


@pytest.mark.parametrize(
    "exc,code",
    [
        (Image.DecompressionBombError("x"), "decompression-bomb"),
        (Image.DecompressionBombWarning("x"), "decompression-bomb"),
        (ValueError("Decompressed data too large for PngImagePlugin.MAX_TEXT_CHUNK"), "limit-exceeded"),
        (MemoryError(), "limit-exceeded"),
        (OSError("image file is truncated (3 bytes not processed)"), "truncated"),
        (OSError("broken data stream when reading image file"), "corrupt"),
        (SyntaxError("broken PNG file"), "corrupt"),
        (PermissionError(13, "denied"), "permission-denied"),
        (FileNotFoundError(2, "no such file"), "not-found"),
        (ValueError("conversion from LAB to I;16 not supported"), "unsupported-mode"),
    ],
)
def test_classify_maps_exceptions_to_codes_naming_the_file(exc, code):
    fp = iops.classify(exc, "/data/imgs/caf\udce9.png")
    assert fp.code == code and "/data/imgs/caf\\xe9.png" in fp.message


# ---------------------------------------------------------------- probe and draft


def test_draft_decodes_a_large_jpeg_at_reduced_size(big_jpeg):
    jpg, png = big_jpeg
    hint = iops.draft_hint(OpSpec.make("thumbnail", size=128))
    im, warnings = iops.load_image(jpg, max_pixels=10**8, draft_size=hint)
    assert im.size == (250, 188) and warnings == []  # 1/8 scale, still at least 128 on both sides
    assert iops.thumbnail(im, (128, 128)).size == (128, 96)
    im, _ = iops.load_image(jpg, max_pixels=10**8, draft_size=(600, 600))
    assert im.size == (1000, 750)  # 1/2: 1/4 would give 375 < 600
    im, _ = iops.load_image(png, max_pixels=10**8, draft_size=hint)
    assert im.size == (2000, 1500)  # no draft for PNG


def test_est_bytes_reflects_the_jpeg_draft(big_jpeg):
    jpg, png = big_jpeg
    j = iops.probe_image(jpg, ops=THUMB, fmt="jpeg", max_pixels=10**8)
    p = iops.probe_image(png, ops=THUMB, fmt="jpeg", max_pixels=10**8)
    assert (j.width, j.height) == (p.width, p.height) == (2000, 1500)
    assert p.est_bytes >= 2000 * 1500 * 4 > 4 * j.est_bytes
    full = iops.probe_image(
        jpg, ops=(OpSpec.make("poster"), OpSpec.make("resize", size=1024)), fmt="jpeg", max_pixels=10**8
    )  # no draft: a full decode
    assert full.est_bytes >= 2000 * 1500 * 4


def test_probe_reads_headers_only(tmp_path, no_decoding):
    garbage = tmp_path / "garbage-pixels.png"
    garbage.write_bytes(png_with(64, 48, random.Random(5).randbytes(500)))
    info = iops.probe_image(str(garbage), ops=THUMB, fmt="png", max_pixels=10**6)
    assert isinstance(info, MediaInfo) and (info.width, info.height, info.mode, info.frames) == (64, 48, "RGB", 1)
    jpg = save(Image.new("RGB", (30, 20), (9, 99, 199)), tmp_path / "x.jpg", "JPEG")
    assert iops.probe_image(jpg, ops=THUMB, fmt="jpeg", max_pixels=10**6).width == 30


def test_garbage_pixels_fail_to_load_as_corrupt(tmp_path):
    garbage = tmp_path / "garbage-pixels.png"
    garbage.write_bytes(png_with(64, 48, random.Random(5).randbytes(500)))
    err = code_of(iops.load_image, str(garbage), max_pixels=10**6)
    assert err.code in ("corrupt", "truncated") and str(garbage) in err.message
    assert fds_open_on(garbage) == []


def test_animated_gif_first_frame_frame_count_and_closed_file(tmp_path):
    frames = [Image.new("RGB", (20, 10), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50)
    info = iops.probe_image(str(path), ops=THUMB, fmt="png", max_pixels=10**6)
    assert info.frames == 3 and (info.width, info.height) == (20, 10)
    im, warnings = iops.load_image(str(path), max_pixels=10**6)
    assert im.size == (20, 10) and warnings == [] and im.convert("RGB").getpixel((5, 5)) == (255, 0, 0)
    assert fds_open_on(path) == []
    tif = tmp_path / "pages.tif"
    frames[0].save(tif, save_all=True, append_images=frames[1:])
    assert iops.probe_image(str(tif), ops=THUMB, fmt="png", max_pixels=10**6).frames == 3
    im, _ = iops.load_image(str(tif), max_pixels=10**6)
    assert im.getpixel((5, 5)) == (255, 0, 0) and fds_open_on(tif) == []
    assert iops.encode(iops.prepare_for(iops.render(im, THUMB[0]), "jpeg"), "jpeg", 80)[:2] == b"\xff\xd8"


def test_load_warnings_are_problems(tmp_path):
    path = save(noise("RGB", (10, 10)), tmp_path / "e.jpg", "JPEG", exif=b"Exif\x00\x00MM\x00*\x00\x00\xff\xff")
    _, warnings = iops.load_image(path, max_pixels=10**6)
    assert warnings and all(isinstance(w, Problem) for w in warnings)


def _segments(jpeg: bytes) -> tuple[list[tuple[bytes, int]], bytes]:
    """A JPEG's header segments as (bytes, marker), and the rest from the start of scan on."""
    i, segs = 2, []
    while jpeg[i + 1] != 0xDA:
        length = int.from_bytes(jpeg[i + 2 : i + 4], "big")
        segs.append((jpeg[i : i + 2 + length], jpeg[i + 1]))
        i += 2 + length
    return segs, jpeg[i:]


def _jpeg_variants(tmp_path) -> dict[str, str]:
    base = synth.photo(320, 200, seed=5)
    exif = Image.Exif()
    exif[0x0112] = 6
    big_icc = bytes(range(256)) * 800  # 200 KiB: several APP2 segments, past the fast reader's window
    out = {}
    for name, im, kw in [
        ("baseline", base, {}),
        ("progressive", base, {"progressive": True}),
        ("grey", base.convert("L"), {}),
        ("cmyk", base.convert("CMYK"), {}),
        ("rotated", base, {"exif": exif.tobytes()}),
        ("broken-exif", base, {"exif": b"Exif\x00\x00II*\x00\xff\xff\xff\x7f"}),
        ("big-icc", base, {"icc_profile": big_icc}),
        ("display-p3", base, {"icc_profile": synth_icc.rgb_profile(synth_icc.DISPLAY_P3, v4=True)}),
        ("subsampled-444", base, {"subsampling": 0, "quality": 95}),
    ]:
        p = tmp_path / f"{name}.jpg"
        im.save(p, "JPEG", **kw)
        out[name] = str(p)
    # hand-made layouts: segments moved after the frame header, a second frame header, a cut
    segs, data = _segments((tmp_path / "rotated.jpg").read_bytes())
    app1 = next(x for x in segs if x[1] == 0xE1)
    sof = next(x for x in segs if x[1] == 0xC0)
    late_exif = [x for x in segs if x is not app1]
    late_exif.insert(late_exif.index(sof) + 1, app1)
    for name, order in [("exif-after-frame", late_exif), ("two-frames", [x if x is not app1 else sof for x in segs])]:
        p = tmp_path / f"{name}.jpg"
        p.write_bytes(b"\xff\xd8" + b"".join(x[0] for x in order) + data)
        out[name] = str(p)
    cut = tmp_path / "cut-before-scan.jpg"
    cut.write_bytes(b"\xff\xd8" + b"".join(x[0] for x in segs))
    out["cut-before-scan"] = str(cut)
    mpo = tmp_path / "pair.mpo.jpg"
    base.save(mpo, "MPO", save_all=True, append_images=[base.rotate(180)])
    out["mpo"] = str(mpo)
    return out


def test_fast_jpeg_probe_says_exactly_what_pillow_says(tmp_path, monkeypatch):
    """The probe reads plain JPEG headers itself (cheaper); for every kind of JPEG it must agree
    with Pillow's reading, or step aside for it (MPO, ICC past its window)."""
    files = _jpeg_variants(tmp_path)
    ops = (OpSpec.make("thumbnail", size=128),)

    def probe_all() -> dict:
        found = {}
        for k, p in files.items():
            try:
                found[k] = iops.probe_image(p, ops=ops)
            except FileProblem as exc:
                found[k] = exc.code
        return found

    fast = probe_all()
    stepped_aside = {k for k, p in files.items() if image_probe._jpeg_header(p) is None}
    monkeypatch.setattr(image_probe, "_jpeg_header", lambda path, limit=0: None)
    pillow = probe_all()
    assert fast == pillow
    assert fast["exif-after-frame"].rotation == 270  # Pillow reads EXIF wherever it is in the headers
    # the rest really took the fast path
    assert stepped_aside == {"mpo", "big-icc", "two-frames", "cut-before-scan"}
    assert fast["rotated"].width == 200 and fast["rotated"].rotation == 270 and fast["cmyk"].mode == "CMYK"
    assert fast["display-p3"].est_bytes > fast["baseline"].est_bytes  # the sRGB copy, found in the APP2 segments


@pytest.mark.parametrize("cut", [3, 10, 25, 120])
def test_fast_jpeg_probe_leaves_damaged_headers_to_pillow(tmp_path, cut):
    p = tmp_path / "cut.jpg"
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(buf, "JPEG")
    p.write_bytes(buf.getvalue()[:cut])
    assert image_probe._jpeg_header(str(p)) is None
    with pytest.raises(FileProblem):
        iops.probe_image(str(p), ops=(OpSpec.make("thumbnail"),))


def test_only_the_plugins_of_the_formats_we_open_are_loaded():
    """Importing the image ops loads Pillow's plugins for the formats they open, not all of them
    (``Image.init()``): no PostScript plugin is even imported."""
    import ast
    import sys

    code = (
        "import sys, toolkit._ops.image as m; "
        "print(sorted(m.ALLOWED_FORMATS)); print('PIL.EpsImagePlugin' in sys.modules, 'PIL.PdfImagePlugin' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    from PIL import features

    expected = ["BMP", "GIF", "HEIF", "ICNS", "ICO", "JPEG", "PNG", "PPM", "TGA", "TIFF", "WEBP"] + (
        ["AVIF"] if features.check("avif") else []
    )
    assert ast.literal_eval(out[0]) == sorted(expected)
    assert out[1] == "False False"

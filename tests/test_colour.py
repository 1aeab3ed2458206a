"""Colour management: ICC profiles other than sRGB are applied, sRGB ones cost nothing, bad ones warn.

Profiles are written by ``toolkit.synth_icc`` and checked against published numbers; expected
colours are computed here with textbook matrices, independently of LittleCMS.
"""

from __future__ import annotations

import dataclasses
import io
import json

import pytest
from PIL import Image, ImageCms

from toolkit import _synth as synth, _synth_icc as synth_icc
from toolkit._media import MediaItem
from toolkit._ops import OpSpec, colour
from toolkit._ops import image as iops

THUMB = OpSpec.make("thumbnail", size=64)
# Display P3 (D65) linear RGB -> XYZ, and XYZ -> linear sRGB (SMPTE EG 432-1; IEC 61966-2-1)
P3_TO_XYZ = ((0.4865709, 0.2656677, 0.1982173), (0.2289746, 0.6917385, 0.0792869), (0.0, 0.0451134, 1.0439444))
ADOBE_TO_XYZ = ((0.5767309, 0.1855540, 0.1881852), (0.2973769, 0.6273491, 0.0752741), (0.0270343, 0.0706872, 0.9911085))
XYZ_TO_SRGB = ((3.2404542, -1.5371385, -0.4985314), (-0.9692660, 1.8760108, 0.0415560), (0.0556434, -0.2040259, 1.0572252))
PATCHES = [(200, 100, 50), (128, 128, 128), (0, 255, 0), (60, 140, 210), (255, 255, 255), (0, 0, 0)]


def expected_srgb(rgb, to_xyz, decode) -> tuple[int, ...]:
    """Encoded RGB in a wide space -> encoded sRGB, clipped: plain matrices, no colour library."""
    lin = [decode(v / 255) for v in rgb]
    xyz = [sum(to_xyz[i][k] * lin[k] for k in range(3)) for i in range(3)]
    out = [min(1.0, max(0.0, sum(XYZ_TO_SRGB[i][k] * xyz[k] for k in range(3)))) for i in range(3)]
    enc = [12.92 * v if v <= 0.0031308 else 1.055 * v ** (1 / 2.4) - 0.055 for v in out]
    return tuple(round(v * 255) for v in enc)


def patches(mode: str = "RGB", size: int = 16) -> Image.Image:
    """Flat squares of PATCHES side by side (flat, so resizing keeps each square's colour)."""
    im = Image.new(mode, (size * len(PATCHES), size))
    for i, c in enumerate(PATCHES):
        im.paste(c + ((255 - 40 * i,) if mode == "RGBA" else ()), (i * size, 0, (i + 1) * size, size))
    return im


def centres(im: Image.Image, size: int = 16):
    return [im.getpixel((i * size + size // 2, size // 2)) for i in range(len(PATCHES))]


def close(a, b, tol=2) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b))


def load(path, **kw):
    return iops.load_image(str(path), max_pixels=10**8, **kw)


# ---------------------------------------------------------------- the synthetic profiles are real ones


@pytest.mark.parametrize(
    "space, colorants",
    [
        # D50-adapted colorants as the published Display P3 and Adobe RGB (1998) profiles store them
        (synth_icc.DISPLAY_P3, ((0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841))),
        (synth_icc.ADOBE_RGB, ((0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609), (0.1492, 0.0632, 0.7446))),
    ],
)
@pytest.mark.parametrize("v4", [False, True])
def test_profiles_written_here_load_in_littlecms_with_the_published_colorants(space, colorants, v4):
    prof = ImageCms.ImageCmsProfile(io.BytesIO(synth_icc.rgb_profile(space, v4=v4)))
    p = prof.profile
    assert p.profile_description == space.name and p.xcolor_space == "RGB " and p.is_matrix_shaper
    assert int(p.version) == (4 if v4 else 2)
    for got, want in zip((p.red_colorant, p.green_colorant, p.blue_colorant), colorants):
        assert close(got[0], want, 0.0006), (got[0], want)
    ImageCms.buildTransform(prof, ImageCms.createProfile("sRGB"), "RGB", "RGB")  # usable
    for extra in (synth_icc.gray_profile(), synth_icc.cmyk_profile()):
        ImageCms.ImageCmsProfile(io.BytesIO(extra))


def test_srgb_is_recognised_by_its_numbers_whoever_wrote_it():
    littlecms = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()  # parametric curve
    for icc in (
        littlecms,
        synth_icc.rgb_profile(synth_icc.SRGB),
        synth_icc.rgb_profile(synth_icc.SRGB, v4=True),
        synth_icc.gray_profile(None),
    ):
        assert colour.is_srgb(icc)
    linear_srgb = synth_icc.RgbSpace("linear sRGB", synth_icc.SRGB.red, synth_icc.SRGB.green, synth_icc.SRGB.blue, gamma=1.0)
    for icc in (
        synth_icc.rgb_profile(synth_icc.DISPLAY_P3),
        synth_icc.rgb_profile(synth_icc.ADOBE_RGB),
        synth_icc.rgb_profile(linear_srgb),
        synth_icc.gray_profile(2.2),
        synth_icc.cmyk_profile(),
        b"junk" * 50,
    ):
        assert not colour.is_srgb(icc)


# ---------------------------------------------------------------- conversion, numerically


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF"])
def test_display_p3_pixels_come_out_as_the_same_colours_in_srgb(tmp_path, fmt):
    """Copying P3 values as if they were sRGB dulls every colour: (200, 100, 50) must come out
    ~(215, 93, 31). Grey stays grey, P3 green clips to sRGB's green, and the thumbnail agrees."""
    path = synth_icc.write_tagged(
        tmp_path / f"p3.{fmt.lower()}",
        patches(),
        synth_icc.rgb_profile(synth_icc.DISPLAY_P3),
        fmt,
        **({"lossless": True} if fmt == "WEBP" else {}),
    )
    im, warnings = load(path)
    assert warnings == [] and "icc_profile" not in im.info
    want = [expected_srgb(c, P3_TO_XYZ, synth_icc.srgb_to_linear) for c in PATCHES]
    got = centres(im)
    assert all(close(g, w) for g, w in zip(got, want)), (got, want)
    assert close(got[0], (215, 93, 31)) and got[1][0] == got[1][1] == got[1][2]
    assert got[2][0] == 0 and got[2][1] == 255 and got[2][2] <= 5
    thumb = Image.open(io.BytesIO(iops.encode(iops.render(im, OpSpec.make("resize", size=(192, 32))), "png", 90)))
    assert all(close(g, w) for g, w in zip(centres(thumb, 32), want))


def test_adobe_rgb_v2_and_the_toolkits_thumbnail_of_a_tagged_image_opened_by_the_user(tmp_path):
    path = synth_icc.write_tagged(tmp_path / "adobe.png", patches(), synth_icc.rgb_profile(synth_icc.ADOBE_RGB), "PNG")
    want = [expected_srgb(c, ADOBE_TO_XYZ, lambda v: v ** (563 / 256)) for c in PATCHES]
    with Image.open(path) as mine:  # not through load_image: the ops still honour the profile
        assert all(close(g, w) for g, w in zip(centres(iops.thumbnail(mine, (1000, 1000))), want))


def test_alpha_survives_and_palette_and_grey_profiles_are_applied(tmp_path):
    p3 = synth_icc.rgb_profile(synth_icc.DISPLAY_P3)
    rgba = patches("RGBA")
    im, _ = load(synth_icc.write_tagged(tmp_path / "a.png", rgba, p3, "PNG"))
    assert im.mode == "RGBA" and [c[3] for c in centres(im)] == [c[3] for c in centres(rgba)]
    assert close(centres(im)[0][:3], (215, 93, 31))
    pal, _ = load(synth_icc.write_tagged(tmp_path / "p.png", patches().convert("P", palette=Image.Palette.ADAPTIVE), p3, "PNG"))
    assert close(centres(pal)[0], (215, 93, 31))
    # a linear grey profile: stored 128 is 50% light, which sRGB writes as 188
    linear = synth_icc.gray_profile(1.0, "Linear grey")
    grey, _ = load(synth_icc.write_tagged(tmp_path / "g.png", Image.new("L", (8, 8), 128), linear, "PNG"))
    la_src = Image.merge("LA", (Image.new("L", (8, 8), 128), Image.new("L", (8, 8), 77)))
    la, _ = load(synth_icc.write_tagged(tmp_path / "la.png", la_src, linear, "PNG"))
    deep, _ = load(synth_icc.write_tagged(tmp_path / "g16.png", Image.new("I;16", (8, 8), 32768), linear, "PNG"))
    assert (grey.mode, grey.getpixel((1, 1))) == ("L", 188)
    assert (la.mode, la.getpixel((1, 1))) == ("LA", (188, 77))
    assert deep.mode == "L" and abs(deep.getpixel((1, 1)) - 188) <= 1  # through the profile, not stretched


def test_cmyk_goes_through_its_profile(tmp_path):
    path = synth_icc.write_cmyk_with_profile(tmp_path / "press.jpg", 96, 64, seed=3)
    im, warnings = load(path)
    with Image.open(path) as raw:
        raw.load()
        prof = ImageCms.ImageCmsProfile(io.BytesIO(raw.info["icc_profile"]))
        ref = ImageCms.profileToProfile(raw, prof, ImageCms.createProfile("sRGB"), outputMode="RGB")
        plain = raw.convert("RGB")
    assert warnings == [] and im.mode == "RGB"
    assert close(im.getpixel((10, 10)), ref.getpixel((10, 10)), 1)
    assert not close(im.getpixel((10, 10)), plain.getpixel((10, 10)), 8)  # the profile made a difference


# ---------------------------------------------------------------- sRGB costs nothing; bad profiles warn


def test_srgb_tagged_photos_build_no_transform_and_keep_their_pixels(tmp_path, monkeypatch):
    src = synth.photo(64, 48, seed=4)
    plain = synth_icc.write_tagged(tmp_path / "plain.png", src, b"", "PNG")
    for name, icc in [
        ("lcms", ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()),
        ("hp-style", synth_icc.rgb_profile(synth_icc.SRGB)),
    ]:
        tagged = synth_icc.write_tagged(tmp_path / f"{name}.png", src, icc, "PNG")

        def no_transform(*a, **k):
            raise AssertionError("a transform was built for an sRGB photo")

        monkeypatch.setattr(ImageCms, "buildTransform", no_transform)
        monkeypatch.setattr(ImageCms, "ImageCmsProfile", no_transform)
        got, warnings = load(tagged)
        assert warnings == [] and got.tobytes() == load(plain)[0].tobytes()
        monkeypatch.undo()


def test_built_transforms_are_cached_per_profile_and_bounded(tmp_path):
    colour._CACHE.transforms.clear()
    for i in range(colour.MAX_TRANSFORMS + 4):
        space = dataclasses.replace(synth_icc.ADOBE_RGB, name=f"gamma {i}", gamma=1.5 + i / 10)
        im = patches()
        im.info["icc_profile"] = synth_icc.rgb_profile(space)
        for _ in range(2):
            colour.to_srgb(im)
    assert len(colour._CACHE.transforms) == colour.MAX_TRANSFORMS


@pytest.mark.parametrize("mode", ["RGB", "CMYK"])
def test_a_profile_that_cannot_be_read_is_an_icc_warning_and_the_pixels_are_kept(tmp_path, mode):
    if mode == "RGB":
        path = synth_icc.write_garbage_profile_jpeg(tmp_path / "bad icc.jpg", 64, 48, seed=6)
    else:
        path = synth_icc.write_tagged(tmp_path / "bad icc.jpg", synth.photo(64, 48, 6, mode="CMYK"), b"\x00" * 300, "JPEG")
    im, warnings = load(path)
    with Image.open(path) as raw:
        kept = raw.convert("RGB")
    assert [w.type for w in warnings] == ["icc"]
    msg = warnings[0].message
    assert "bad icc.jpg" in msg and "cannot be read" in msg
    assert ("plain CMYK formula" if mode == "CMYK" else "kept as they are") in msg
    assert iops.render(im, THUMB).convert("RGB").resize((64, 48)).tobytes() == kept.tobytes()
    with pytest.warns(UserWarning, match="cannot be read"):
        with Image.open(path) as mine:
            iops.thumbnail(mine, (32, 32))


def test_the_row_of_a_file_with_a_bad_profile_is_ok_with_an_icc_warning(tmp_path):
    from toolkit._worker import JobSpec, process_item

    src = synth_icc.write_garbage_profile_jpeg(tmp_path / "in" / "a.jpg", 64, 48, seed=7)
    (tmp_path / "out").mkdir()  # a build makes it; a worker never remakes an output folder that is gone
    job = JobSpec(ops=(THUMB,), output=str(tmp_path / "out"))
    item = MediaItem(
        path=str(src),
        rel="a.jpg",
        root=str(src.parent),
        kind="image",
        format="JPEG",
        size=src.stat().st_size,
        mtime_ns=src.stat().st_mtime_ns,
        out_rel="a.jpg",
    )
    row = json.loads(json.dumps(process_item(item, job).to_row()))
    assert row["status"] == "ok" and [w["type"] for w in row["warnings"]] == ["icc"]
    assert "a.jpg" in row["warnings"][0]["message"] and row["outputs"]


# ---------------------------------------------------------------- memory estimate


def test_the_memory_estimate_counts_the_converted_copy(tmp_path):
    """A big image's small thumbnail needs little beyond the decoded pixels, except the sRGB copy of
    a P3 one (a JPEG's is of its draft, smaller than what resizing needs anyway: the JPEG header
    reader's profile is checked in test_image_ops' fast-probe test)."""
    ops = (OpSpec.make("thumbnail", size=128),)
    src = synth.photo(1600, 1200, 8)
    made = {
        "plain": synth_icc.write_tagged(tmp_path / "plain.png", src, b""),
        "srgb": synth_icc.write_tagged(tmp_path / "srgb.png", src, synth_icc.rgb_profile(synth_icc.SRGB)),
        "p3": synth_icc.write_p3_photo(tmp_path / "p3.png", 1600, 1200, seed=8, fmt=None),
    }
    # less the file's bytes, which the worker holds while decoding (the files differ by their profiles)
    est = {k: iops.probe_image(str(p), ops=ops).est_bytes - p.stat().st_size for k, p in made.items()}
    copy = 1600 * 1200 * 4
    assert est["plain"] == est["srgb"]
    assert 0.75 * copy <= est["p3"] - est["plain"] <= copy, est


@pytest.mark.integration
def test_a_build_converts_p3_and_counts_the_bad_profile_as_an_icc_warning(tmp_path, cli, capsys):
    """Through the real command and cluster: the P3 photo's thumbnail is in sRGB, the file with a
    damaged profile is ok with an `icc` warning, and the summary says so."""
    src, out = tmp_path / "in", tmp_path / "out"
    synth_icc.write_tagged(src / "p3.png", patches(), synth_icc.rgb_profile(synth_icc.DISPLAY_P3), "PNG")
    synth_icc.write_garbage_profile_jpeg(src / "bad.jpg", 64, 48, seed=9)
    argv = [
        "build",
        "-i",
        str(src),
        "-o",
        str(out),
        "--jobs",
        "1",
        "--dashboard-address",
        "127.0.0.1:0",
        "-q",
        "--op",
        "resize",
        "--size",
        "192x32",
        "--format",
        "png",
    ]
    assert cli(argv) == 0
    assert "ok with a warning: icc=1" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"ok": 2} and summary["warnings"] == {"icc": 1}
    with Image.open(next(out.glob("p3*.png"))) as thumb:
        assert "icc_profile" not in thumb.info
        assert close(centres(thumb.convert("RGB"), 32)[0], expected_srgb(PATCHES[0], P3_TO_XYZ, synth_icc.srgb_to_linear))


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF"])
def test_a_rotated_p3_photo_comes_out_upright_and_in_srgb(tmp_path, fmt):
    """Orientation and colour each applied once, whatever their order inside the loader: a P3
    photo stored sideways (EXIF orientation 6; a TIFF's own tag, turned by Pillow) is shown
    upright and its colour converted."""
    im = Image.new("RGB", (64, 32), (200, 100, 50))
    im.paste((128, 128, 128), (0, 0, 16, 32))  # the stored left edge is the displayed top
    exif = Image.Exif()
    exif[274] = 6
    path = synth_icc.write_tagged(
        tmp_path / f"rot.{fmt.lower()}",
        im,
        synth_icc.rgb_profile(synth_icc.DISPLAY_P3),
        fmt,
        exif=exif.tobytes(),
        **({"quality": 95} if fmt == "JPEG" else {}),
    )
    out, warnings = load(path)
    assert warnings == [] and out.size == (32, 64)
    assert close(out.getpixel((16, 4)), (128, 128, 128), 4) and close(out.getpixel((16, 48)), (215, 93, 31), 4)

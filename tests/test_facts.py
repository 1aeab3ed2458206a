"""The per-file facts (``toolkit._facts``): content hash, perceptual hash, sharpness."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings, strategies as st
from PIL import Image, ImageFilter

from toolkit import _synth
from toolkit._facts import content_hash, file_hash, hamming, pixel_facts

SEEDS = st.integers(0, 10_000)
_PHOTOS: dict[int, Image.Image] = {}


def photo(seed: int) -> Image.Image:
    """A 480x360 synthetic photo (cached: Hypothesis asks for the same seeds again)."""
    if seed not in _PHOTOS:
        _PHOTOS[seed] = _synth.photo(480, 360, seed)
    return _PHOTOS[seed]


def jpeg(im: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


@given(st.binary(max_size=4096), st.binary(max_size=4096))
def test_content_hash_is_equal_exactly_for_equal_bytes(a, b):
    assert (content_hash(a) == content_hash(b)) == (a == b)
    assert len(content_hash(a)) == 32 and int(content_hash(a), 16) >= 0


@settings(max_examples=30, deadline=None)
@given(data=st.binary(max_size=300), chunk=st.integers(1, 64))
def test_a_file_streamed_in_chunks_hashes_as_its_bytes(tmp_path_factory, data, chunk):
    """Videos are hashed as they stream (never whole in memory): the same hash as their bytes at once."""
    path = tmp_path_factory.mktemp("h") / "f.bin"
    path.write_bytes(data)
    assert file_hash(path, chunk) == file_hash(path) == content_hash(data)


@settings(max_examples=25, deadline=None)
@given(
    seed=SEEDS,
    scale=st.floats(0.25, 0.9),
    quality=st.integers(40, 95),
    crop=st.floats(0.0, 0.03),
)
def test_a_resized_recompressed_cropped_copy_keeps_its_phash_close(seed, scale, quality, crop):
    """What people call "the same photo" (another size, another JPEG quality, a border trimmed all
    round, up to 3%) stays within 10 bits of 64, the default benchmarks/near_distance.py suggests (it
    measures these at 0-8; unrelated photos at 20 and more). Trims of 4-5% can pass 10 (Hypothesis found
    seed 65, half size, quality 40, 4.7% trimmed: 12 bits): the perceptual hash is sensitive to framing."""
    im = photo(seed)
    dx, dy = round(im.width * crop / 2), round(im.height * crop / 2)
    copy = im.crop((dx, dy, im.width - dx, im.height - dy))
    copy = jpeg(copy.resize((round(copy.width * scale), round(copy.height * scale)), Image.Resampling.LANCZOS), quality)
    assert hamming(pixel_facts(im)["phash"], pixel_facts(copy)["phash"]) <= 10


@settings(max_examples=25, deadline=None)
@given(a=SEEDS, b=SEEDS)
def test_unrelated_photos_are_far_apart(a, b):
    d = hamming(pixel_facts(photo(a))["phash"], pixel_facts(photo(b))["phash"])
    assert d == 0 if a == b else d > 12


@settings(max_examples=20, deadline=None)
@given(seed=SEEDS, radius=st.floats(1.0, 6.0))
def test_a_blurred_copy_is_less_sharp(seed, radius):
    im = photo(seed)
    assert pixel_facts(im.filter(ImageFilter.GaussianBlur(radius)))["sharpness"] < pixel_facts(im)["sharpness"]


def test_sharpness_compares_across_sizes():
    """Measured on a reduction that fits 128 px: the same photo at 4x the size measures about the same."""
    small, big = pixel_facts(_synth.photo(400, 300, 5)), pixel_facts(_synth.photo(1600, 1200, 5))
    assert small["sharpness"] == pytest.approx(big["sharpness"], rel=0.35)
    assert pixel_facts(Image.new("RGB", (300, 200), "gray"))["sharpness"] == 0.0


def test_the_phash_is_pinned():
    """Integer arithmetic on Pillow's fixed-point resampling: the same bits on every machine. A change
    of this value moves every stored phash, so it is a change of the manifest's meaning."""
    facts = pixel_facts(_synth.photo(640, 480, 1))
    assert facts["phash"] == PINNED_PHASH and facts["sharpness"] == PINNED_SHARPNESS


PINNED_PHASH = "9c21e71cf16e1873"
PINNED_SHARPNESS = 47.484


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "CMYK", "I;16", "I", "F", "1"])
def test_every_mode_a_load_can_give_has_facts(mode):
    im = _synth.photo(96, 64, 3, mode="L" if mode in ("LA", "F", "1") else mode)
    im = im.convert(mode) if mode in ("LA", "F", "1") else im
    facts = pixel_facts(im)
    assert len(facts["phash"]) == 16 and facts["sharpness"] >= 0


@pytest.mark.parametrize("mode", ["P", "1"])
def test_a_large_palette_or_bilevel_image_has_facts_close_to_its_original(mode):
    """A GIF or an 8-bit PNG loads as P, a fax-like scan as 1: larger than twice the grey side they
    are reduced first, which Pillow cannot do on palette indices or bits (they had no facts at all:
    never deduplicated, never filtered as blurry)."""
    original = photo(7)  # 480x360
    facts = pixel_facts(original.convert(mode))
    assert len(facts["phash"] or "") == 16 and facts["sharpness"] is not None
    if mode == "P":  # the same picture in 256 colours: a near copy
        assert hamming(facts["phash"], pixel_facts(original)["phash"]) <= 8


def test_pixels_without_a_grey_reading_have_no_facts_and_do_not_fail():
    """CIELAB (a TIFF may hold it) has no conversion to grey in Pillow: no facts, and no failure."""
    assert pixel_facts(Image.new("LAB", (64, 64))) == {"phash": None, "sharpness": None}


@pytest.mark.parametrize(
    "exc",
    [PermissionError(13, "Permission denied"), FileNotFoundError(2, "No such file"), OSError(24, "Too many open files")],
    ids=["permission", "vanished", "no-descriptor"],
)
def test_reading_the_bytes_fails_as_pillow_opening_the_path_did(tmp_path, monkeypatch, exc):
    """The worker reads each image once itself (to hash it) instead of letting Pillow open the path:
    a file it cannot open fails with the same code and message as before (both through ``classify``)."""
    from toolkit._ops import FileProblem, image as iops
    from toolkit._ops.image import load

    path = str(_synth.write_photo(tmp_path / "a.jpg", 32, 24, seed=1))

    def refuse(*a, **k):
        raise exc

    monkeypatch.setattr(load, "open", refuse, raising=False)
    with pytest.raises(FileProblem) as got:
        iops.read_source(path)
    expected = iops.classify(exc, path)
    assert (got.value.code, got.value.message) == (expected.code, expected.message)
    assert path in got.value.message

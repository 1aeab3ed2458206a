"""Seeded synthetic media with ICC colour profiles: a small, standard-conforming ICC profile writer.

Pillow builds only sRGB, LAB and XYZ profiles itself; tests and the demo sample need the profiles
real photos carry. This writes them from first principles (ICC.1:2001-04 for v2, ICC.1:2022 for v4):

* RGB matrix/TRC display profiles from primaries and a white point, colorants adapted to the PCS
  white (D50) with the Bradford transform, as every display profile does: :data:`DISPLAY_P3`
  (iPhones and most phones since 2016), :data:`ADOBE_RGB` (cameras), :data:`SRGB` (an sRGB made the
  way HP's classic profile is: a 1024-entry curve, not LittleCMS's own);
* a grey profile (``GRAY``, one tone curve), as scanners and Photoshop write;
* a CMYK printer profile (a lut8 CMYK -> Lab table of a made-up press with warm paper, dot gain and
  a black that is not 0), so CMYK through the profile differs visibly from Pillow's plain formula.

>>> from PIL import ImageCms
>>> import io
>>> ImageCms.ImageCmsProfile(io.BytesIO(rgb_profile(DISPLAY_P3))).profile.profile_description
'Display P3 (synthetic)'
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

__all__ = [
    "RgbSpace",
    "DISPLAY_P3",
    "ADOBE_RGB",
    "SRGB",
    "rgb_profile",
    "gray_profile",
    "cmyk_profile",
    "srgb_to_linear",
    "write_tagged",
    "write_p3_photo",
    "write_cmyk_with_profile",
    "write_garbage_profile_jpeg",
]

D50 = (0.9642, 1.0, 0.8249)  # the PCS illuminant, as the ICC encodes it
_D65_XY = (0.3127, 0.3290)
_BRADFORD = ((0.8951, 0.2664, -0.1614), (-0.7502, 1.7135, 0.0367), (0.0389, -0.0685, 1.0296))
#: sRGB's tone curve as an ICC parametric curve of type 3: (g, a, b, c, d)
SRGB_CURVE = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)


@dataclass(frozen=True)
class RgbSpace:
    """An RGB colour space: chromaticities (x, y) of its primaries and white, and its tone curve
    (a plain gamma, or None for sRGB's piecewise curve)."""

    name: str
    red: tuple[float, float]
    green: tuple[float, float]
    blue: tuple[float, float]
    white: tuple[float, float] = _D65_XY
    gamma: float | None = None


DISPLAY_P3 = RgbSpace("Display P3 (synthetic)", (0.680, 0.320), (0.265, 0.690), (0.150, 0.060))
ADOBE_RGB = RgbSpace("Adobe RGB (1998) (synthetic)", (0.64, 0.33), (0.21, 0.71), (0.15, 0.06), gamma=563 / 256)
SRGB = RgbSpace("sRGB IEC61966-2.1 (synthetic)", (0.64, 0.33), (0.30, 0.60), (0.15, 0.06))


# ---------------------------------------------------------------- colour maths (3x3, no numpy)


def _mul(m, v):
    return tuple(sum(m[i][k] * v[k] for k in range(3)) for i in range(3))


def _matmul(a, b):
    return tuple(tuple(sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3)) for i in range(3))


def _inv(m):
    (a, b, c), (d, e, f), (g, h, i) = m
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    adj = (
        (e * i - f * h, c * h - b * i, b * f - c * e),
        (f * g - d * i, a * i - c * g, c * d - a * f),
        (d * h - e * g, b * g - a * h, a * e - b * d),
    )
    return tuple(tuple(x / det for x in row) for row in adj)


def _xyz(xy: tuple[float, float]) -> tuple[float, float, float]:
    x, y = xy
    return (x / y, 1.0, (1 - x - y) / y)


def _adaptation(src_white, dst_white):
    """Bradford chromatic adaptation matrix from one white (XYZ) to another."""
    s, d = _mul(_BRADFORD, src_white), _mul(_BRADFORD, dst_white)
    scale = ((d[0] / s[0], 0, 0), (0, d[1] / s[1], 0), (0, 0, d[2] / s[2]))
    return _matmul(_inv(_BRADFORD), _matmul(scale, _BRADFORD))


def rgb_to_xyz_d50(space: RgbSpace):
    """The 3x3 matrix from linear RGB to PCS XYZ (D50): its columns are the profile's colorants."""
    w = _xyz(space.white)
    prim = tuple(zip(*(_xyz(p) for p in (space.red, space.green, space.blue))))  # columns = primaries
    s = _mul(_inv(prim), w)
    to_xyz = tuple(tuple(prim[i][j] * s[j] for j in range(3)) for i in range(3))
    return _matmul(_adaptation(w, D50), to_xyz)


def srgb_to_linear(v: float) -> float:
    """sRGB's tone curve (encoded 0..1 -> linear 0..1)."""
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


# ---------------------------------------------------------------- ICC encoding


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def _xyz_tag(xyz) -> bytes:
    return b"XYZ " + bytes(4) + b"".join(_s15(c) for c in xyz)


def _curve_tag(gamma: float | None, v4: bool) -> bytes:
    if gamma is not None:  # curv with one entry: a u8Fixed8 gamma
        return b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256))
    if v4:  # sRGB's curve as a parametric curve
        return b"para" + bytes(4) + struct.pack(">HH", 3, 0) + b"".join(_s15(p) for p in SRGB_CURVE)
    table = [round(srgb_to_linear(i / 1023) * 65535) for i in range(1024)]  # as v2 sRGB profiles do
    return b"curv" + bytes(4) + struct.pack(f">I{len(table)}H", len(table), *table)


def _text_tag(text: str, v4: bool, kind: str) -> bytes:
    if v4:  # multiLocalizedUnicode, one record (en-US)
        body = text.encode("utf-16-be")
        return b"mluc" + bytes(4) + struct.pack(">II2s2sII", 1, 12, b"en", b"US", len(body), 28) + body
    if kind == "desc":  # textDescriptionType: ASCII, then empty Unicode and ScriptCode parts
        ascii_ = text.encode("ascii") + b"\x00"
        return b"desc" + bytes(4) + struct.pack(">I", len(ascii_)) + ascii_ + bytes(8) + bytes(3) + bytes(67)
    return b"text" + bytes(4) + text.encode("ascii") + b"\x00"


def _profile(device_class: bytes, space: bytes, pcs: bytes, tags: list[tuple[bytes, bytes]], v4: bool) -> bytes:
    """Header + tag table + tag data (4-byte aligned; tags with identical data share it)."""
    n = len(tags)
    offset = 128 + 4 + 12 * n
    table, data, seen = [], b"", {}
    for sig, body in tags:
        if body not in seen:
            seen[body] = offset + len(data)
            data += body + bytes(-len(body) % 4)
        table.append(struct.pack(">4sII", sig, seen[body], len(body)))
    size = offset + len(data)
    # size, CMM, version, class, colour space, PCS, date, 'acsp', platform, flags, maker, model,
    # attributes, intent (offsets 0..67), then the PCS illuminant; creator and ID stay zero
    header = struct.pack(
        ">I4sI4s4s4s6H4sII4sIQI",
        size,
        bytes(4),
        0x04300000 if v4 else 0x02100000,
        device_class,
        space,
        pcs,
        2024,
        1,
        1,
        0,
        0,
        0,
        b"acsp",
        0,
        0,
        bytes(4),
        0,
        0,
        0,
    )
    header += b"".join(_s15(c) for c in D50)
    header += bytes(128 - len(header))
    return header + struct.pack(">I", n) + b"".join(table) + data


def rgb_profile(space: RgbSpace, *, v4: bool = False) -> bytes:
    """An ICC display profile (matrix/TRC) of ``space``: v2 (wtpt = the space's white) or v4 (wtpt =
    D50 and a ``chad`` tag, as v4 requires)."""
    m = rgb_to_xyz_d50(space)
    white = _xyz(space.white)
    curve = _curve_tag(space.gamma, v4)
    tags = [
        (b"desc", _text_tag(space.name, v4, "desc")),
        (b"cprt", _text_tag("No copyright, synthetic", v4, "cprt")),
        (b"wtpt", _xyz_tag(D50 if v4 else white)),
    ]
    if v4:
        chad = _adaptation(white, D50)
        tags.append((b"chad", b"sf32" + bytes(4) + b"".join(_s15(c) for row in chad for c in row)))
    tags += [
        (b"rXYZ", _xyz_tag([row[0] for row in m])),
        (b"gXYZ", _xyz_tag([row[1] for row in m])),
        (b"bXYZ", _xyz_tag([row[2] for row in m])),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    return _profile(b"mntr", b"RGB ", b"XYZ ", tags, v4)


def gray_profile(gamma: float | None = 2.2, name: str = "Gray Gamma 2.2 (synthetic)", *, v4: bool = False) -> bytes:
    """A grey display profile: a D50 white point and one tone curve (``gamma``, or sRGB's when None)."""
    tags = [
        (b"desc", _text_tag(name, v4, "desc")),
        (b"cprt", _text_tag("No copyright, synthetic", v4, "cprt")),
        (b"wtpt", _xyz_tag(D50)),
        (b"kTRC", _curve_tag(gamma, v4)),
    ]
    return _profile(b"mntr", b"GRAY", b"XYZ ", tags, v4)


def _lab(xyz) -> tuple[float, float, float]:
    f = [(t / w) ** (1 / 3) if t / w > 216 / 24389 else (24389 / 27 * t / w + 16) / 116 for t, w in zip(xyz, D50)]
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


def _press(c: float, k: float, m: float, y: float) -> tuple[float, float, float]:
    """A made-up press: 15% dot gain, inks that absorb 92% at most, warm paper. -> PCS Lab (D50)."""

    def ink(v: float) -> float:
        return 1 - 0.92 * (v + 0.15 * v * (1 - v) * 4)

    paper = (0.96, 0.95, 0.90)
    rgb = [paper[i] * ink(v) * ink(k) for i, v in enumerate((c, m, y))]
    lin = [srgb_to_linear(max(0.0, min(1.0, v))) for v in rgb]
    return _lab(_mul(rgb_to_xyz_d50(SRGB), lin))


def cmyk_profile(grid: int = 9) -> bytes:
    """A v2 CMYK output profile whose A2B0 (a lut8: CMYK -> Lab) models :func:`_press`."""
    steps = [i / (grid - 1) for i in range(grid)]
    clut = bytearray()
    for c in steps:
        for m in steps:
            for y in steps:
                for k in steps:
                    lab = _press(c, k, m, y)
                    clut += bytes((round(lab[0] * 255 / 100), round(lab[1] + 128), round(lab[2] + 128)))
    identity = b"".join(_s15(1.0 if i == j else 0.0) for i in range(3) for j in range(3))
    ramp = bytes(range(256))
    lut = b"mft1" + bytes(4) + bytes((4, 3, grid, 0)) + identity + ramp * 4 + bytes(clut) + ramp * 3
    tags = [
        (b"desc", _text_tag("Made-up press CMYK (synthetic)", False, "desc")),
        (b"cprt", _text_tag("No copyright, synthetic", False, "cprt")),
        (b"wtpt", _xyz_tag(D50)),
        (b"A2B0", lut),
    ]
    return _profile(b"prtr", b"CMYK", b"Lab ", tags, False)


# ---------------------------------------------------------------- files


def write_tagged(path, im: Image.Image, icc: bytes, fmt: str | None = None, **save_kw) -> Path:
    """Save ``im`` to ``path`` with ``icc`` embedded as its colour profile; returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    im.save(p, fmt, icc_profile=icc, **save_kw)
    return p


def write_p3_photo(path, width: int, height: int, seed: int, fmt: str | None = "JPEG", **save_kw) -> Path:
    """A photo whose pixels are Display P3 values, tagged with a Display P3 profile (as phones write)."""
    from ._synth import photo

    if (fmt or "").upper() in ("JPEG", "WEBP"):
        save_kw.setdefault("quality", 90)
    return write_tagged(path, photo(width, height, seed), rgb_profile(DISPLAY_P3, v4=True), fmt, **save_kw)


def write_cmyk_with_profile(path, width: int, height: int, seed: int, **save_kw) -> Path:
    """A CMYK JPEG tagged with :func:`cmyk_profile` (as print workflows write)."""
    from ._synth import photo

    return write_tagged(path, photo(width, height, seed, mode="CMYK"), cmyk_profile(), "JPEG", quality=90, **save_kw)


def write_garbage_profile_jpeg(path, width: int, height: int, seed: int) -> Path:
    """A JPEG that decodes fine but whose embedded ICC profile is cut short (its tag table points
    past the end): the profile cannot be read."""
    from ._synth import photo

    broken = rgb_profile(ADOBE_RGB)[:150]
    return write_tagged(path, photo(width, height, seed), broken, "JPEG", quality=90)

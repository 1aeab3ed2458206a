"""Which image formats are opened, and how their plugins are loaded.

Opening is restricted to :data:`ALLOWED_FORMATS`, so PostScript/EPS never reaches Ghostscript.
"""

from __future__ import annotations

import importlib
import os
import warnings

from PIL import Image

# Only the plugins of the formats we open and write (AVIF when this Pillow has it, HEIF through
# pillow-heif: libheif, a library), not the ~45 that Pillow's ``Image.init()`` imports: ~17 ms
# less CPU in each process that imports this (the client and the workers' fork server); HEIF
# adds ~6 ms. (Pillow still imports the plugin its file name suggests as it opens a file, e.g.
# a JPEG named .eps; ``formats=ALLOWED_FORMATS`` keeps it unused.)
#: Pillow format names we open, in the order they are tried, with the modules that register
#: them. Never EPS/PS/PDF (Ghostscript) nor any other format that runs a program, nor the long
#: tail of rarely used plugins. AVIF before HEIF: both accept the generic ``mif1`` brand.
_PLUGINS = {
    "JPEG": "PIL.JpegImagePlugin",
    "MPO": "PIL.MpoImagePlugin",
    "PNG": "PIL.PngImagePlugin",
    "WEBP": "PIL.WebPImagePlugin",
    "GIF": "PIL.GifImagePlugin",
    "BMP": "PIL.BmpImagePlugin",
    "TIFF": "PIL.TiffImagePlugin",
    "PPM": "PIL.PpmImagePlugin",
    "ICO": "PIL.IcoImagePlugin",
    "ICNS": "PIL.IcnsImagePlugin",
    "AVIF": "PIL.AvifImagePlugin",
    "HEIF": "pillow_heif.HeifImagePlugin",
    "TGA": "PIL.TgaImagePlugin",
}
#: Formats without a signature at the start of the file: tried only on files with these extensions
#: (Pillow's TGA reader would otherwise get a go at every unrecognised file).
_BY_NAME_ONLY = {"TGA": (".tga",)}
for _module in dict.fromkeys(_PLUGINS.values()):
    try:
        importlib.import_module(_module)
    except ImportError:  # pragma: no cover - AVIF on an older Pillow, HEIF where pillow-heif has no wheel
        pass
# Pillow prints "Corrupt EXIF data" from inside Image.open (on workers: straight to the terminal);
# the damage is recorded on the row as an ``exif`` warning instead.
warnings.filterwarnings("ignore", message="Corrupt EXIF data", category=UserWarning)
# Our own limit is exact (header and after load); Pillow's warning at half of it during load says nothing.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning, module="PIL")

#: The formats of ``_PLUGINS`` this Pillow opens (AVIF only when it was built with it).
ALLOWED_FORMATS: tuple[str, ...] = tuple(f for f in _PLUGINS if f in Image.OPEN)

_JPEG = ("JPEG", "MPO")
#: Decoded whole (no draft) by a library into its own buffer, then copied into Pillow's: twice the
#: pixels for a moment (a 12 MP HEIC: 46 MiB decoded, 95 MiB peak measured with or without irot).
_OWN_BUFFER = ("HEIF",)


def _formats_for(path: str) -> tuple[str, ...]:
    """The formats tried on ``path``: every allowed one with a signature, and those known by name if it has theirs."""
    ext = os.path.splitext(path)[1].lower()
    return tuple(f for f in ALLOWED_FORMATS if f not in _BY_NAME_ONLY or ext in _BY_NAME_ONLY[f])

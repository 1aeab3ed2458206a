"""Bytes and durations, read and written one way for the whole toolkit.

``parse_bytes`` reads what a user types (``"768MiB"``, ``"2 GB"``, ``1073741824``) through
``dask.utils.parse_bytes``, so a size means the same to the toolkit as to the Dask cluster it
configures; it only adds a message that names the setting. ``format_bytes`` writes binary units
with at most one decimal and no trailing ``.0`` (``"300 MiB"``, ``"1.5 GiB"``): dask's own
``format_bytes`` always prints two decimals (``"300.00 MiB"``), which reads oddly for a limit the
user typed as ``300MiB`` and which messages and tests quote as written.

>>> parse_bytes("1.5 GiB"), format_bytes(1610612736), format_duration(185)
(1610612736, '1.5 GiB', '3m05s')
"""

from __future__ import annotations

import math
import re
from typing import Any

from ._errors import ConfigError

__all__ = ["parse_bytes", "format_bytes", "format_duration"]

#: A number, then letters only: dask alone would also take ``"MB"`` (as 1 MB) or ``"1e3"``.
_SIZE = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*")

_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def parse_bytes(value: Any, key: str = "size") -> int:
    """Bytes from ``"768MiB"``, ``"2GB"``, ``"1.5 GiB"`` or a plain number of bytes.

    Decimal units (kB, MB, GB, TB, and k, m, g, t) are powers of 1000, binary ones (KiB, MiB,
    GiB, TiB) of 1024, as in Dask. A value it cannot read raises :class:`ConfigError` naming
    ``key`` (the setting it came from). No minimum here: the setting that has one checks it.

    >>> parse_bytes("768MiB") == 768 * 2**20, parse_bytes("2GB"), parse_bytes(4096)
    (True, 2000000000, 4096)
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"`{key}`: expected a size like 2GiB or 768MiB, got {value!r}")
        return int(value)
    if not isinstance(value, str):
        raise ConfigError(f"`{key}`: expected a size like 2GiB or 768MiB, got {value!r}")
    from dask.utils import parse_bytes as dask_parse_bytes  # here: a number needs no dask (its import is 0.1 s)

    m = _SIZE.fullmatch(value)
    try:
        if not m:
            raise ValueError(value)
        return int(dask_parse_bytes(m.group(1) + m.group(2)))
    except ValueError:
        raise ConfigError(f"`{key}`: expected a size like 2GiB, 768MiB or a number of bytes, got {value!r}") from None


def format_bytes(n: float | None) -> str:
    """``"300 MiB"``, ``"1.5 GiB"``, ``"512 B"``: binary units, one decimal at most; ``"?"`` for None.

    >>> format_bytes(300 * 2**20), format_bytes(46.26 * 2**20), format_bytes(0), format_bytes(None)
    ('300 MiB', '46.3 MiB', '0 B', '?')
    """
    if n is None:
        return "?"
    x = float(n)
    for unit in _BINARY:
        if abs(x) < 1024 or unit == _BINARY[-1]:
            break
        x /= 1024
    if round(abs(x), 0 if unit == "B" else 1) >= 1024 and unit != _BINARY[-1]:  # not "1024 KiB" for 1023.96 KiB
        x, unit = x / 1024, _BINARY[_BINARY.index(unit) + 1]
    text = f"{x:.0f}" if unit == "B" else f"{x:.1f}".removesuffix(".0")  # no "," so it reads back
    return f"{text} {unit}"


def format_duration(seconds: float | None) -> str:
    """``"4.2s"``, ``"42s"``, ``"3m05s"``, ``"1h02m"``: a duration or an ETA; ``"–"`` when unknown.

    >>> format_duration(4.24), format_duration(42), format_duration(3725), format_duration(None)
    ('4.2s', '42s', '1h02m', '–')
    """
    if seconds is None or not math.isfinite(seconds):
        return "–"
    s = max(0.0, float(seconds))
    if s < 10:
        return f"{s:.1f}s"
    whole = int(round(s))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"

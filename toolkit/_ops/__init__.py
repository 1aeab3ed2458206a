"""Operations as named, validated specs: ``OpSpec.make("thumbnail", size=128)``.

Ops are data, not callables, so that configs, manifests and the resume key can hold them.
The registry below says which parameters each op takes, their defaults, and which kinds
of media it applies to. Image ops given for a video run on its poster frame. An op of your
own (a decorated function, or ``"module:function"``) is a spec too, carrying its version and
what a worker needs to run it (:mod:`.custom`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from .._errors import ConfigError

if TYPE_CHECKING:
    from .custom import CustomOp

__all__ = ["OpSpec", "OPS", "IMAGE_OPS", "VIDEO_OPS", "RESIZE_MODES", "FORMATS", "EXT"]

RESIZE_MODES = ("fit", "fill", "pad", "exact")
FORMATS = ("jpeg", "png", "webp")
#: file extension of each output format
EXT = {"jpeg": "jpg", "png": "png", "webp": "webp"}


def _size(key: str, v: Any) -> tuple[int, int] | None:
    if v is None:
        return None
    if isinstance(v, bool):
        raise ConfigError(f"`{key}`: expected a size in pixels like 128 or [640, 480], got {v!r}")
    if isinstance(v, str):
        parts = v.lower().replace("x", ",").split(",")
        try:
            nums = [int(p) for p in parts if p.strip()]
        except ValueError:
            raise ConfigError(f"`{key}`: expected a size like 128 or 640x480, got {v!r}") from None
        v = nums[0] if len(nums) == 1 else nums
    if isinstance(v, int):
        v = (v, v)
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(n, int) and not isinstance(n, bool) for n in v):
        if min(v) < 1 or max(v) > 65535:
            raise ConfigError(f"`{key}`: each side must be between 1 and 65535 pixels, got {list(v)}")
        return (int(v[0]), int(v[1]))
    raise ConfigError(f"`{key}`: expected a size like 128 or [640, 480], got {v!r}")


def _pos_int(lo: int = 1, hi: int = 10**9) -> Callable[[str, Any], int | None]:
    def check(key: str, v: Any) -> int | None:
        if v is None:
            return None
        if isinstance(v, str) and v.strip().isdigit():
            v = int(v)
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise ConfigError(f"`{key}`: expected a whole number from {lo} to {hi}, got {v!r}")
        return v

    return check


def _pos_float(key: str, v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ConfigError(f"`{key}`: expected a positive number, got {v!r}") from None
    if isinstance(v, bool) or not f > 0 or f != f or f == float("inf"):
        raise ConfigError(f"`{key}`: expected a positive number, got {v!r}")
    return f


def _bool(key: str, v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
        return v.lower() in ("true", "yes", "on", "1")
    raise ConfigError(f"`{key}`: expected true or false, got {v!r}")


def _choice(*options: str) -> Callable[[str, Any], str]:
    def check(key: str, v: Any) -> str:
        if not isinstance(v, str) or v.lower() not in options:
            raise ConfigError(f"`{key}`: expected one of {', '.join(options)}; got {v!r}")
        return v.lower()

    return check


@dataclass(frozen=True)
class OpDef:
    kinds: tuple[str, ...]  # media kinds it applies to directly
    params: Mapping[str, tuple[Callable[[str, Any], Any], Any]]  # name -> (validator, default)
    help: str = ""


OPS: dict[str, OpDef] = {
    "thumbnail": OpDef(
        ("image", "video"), {"size": (_size, (128, 128))}, "fit inside SIZE keeping the aspect ratio (never enlarges)"
    ),
    "resize": OpDef(
        ("image", "video"),
        {"size": (_size, (512, 512)), "mode": (_choice(*RESIZE_MODES), "fit")},
        "scale to SIZE: fit (inside), fill (crop to cover), pad (letterbox), exact (stretch)",
    ),
    "frames": OpDef(
        ("video",),
        {
            "fps": (_pos_float, None),
            "every": (_pos_int(), None),
            "count": (_pos_int(1, 100000), None),
            "keyframes": (_bool, False),
            "size": (_size, None),
            "mode": (_choice(*RESIZE_MODES), "fit"),
        },
        "extract frames: `fps` N per second, `every` Nth frame, `count` N spread evenly, or `keyframes`",
    ),
    "poster": OpDef(
        ("video",),
        {"size": (_size, None), "mode": (_choice(*RESIZE_MODES), "fit")},
        "one representative (not black) frame as an image",
    ),
    "contact-sheet": OpDef(
        ("video",),
        {"frames": (_pos_int(1, 400), 16), "columns": (_pos_int(1, 50), None), "size": (_size, (320, 320))},
        "one grid image of N evenly spread frames with timestamps",
    ),
    "transcode": OpDef(
        ("video",),
        {"size": (_pos_int(16, 8192), 720), "max_fps": (_pos_float, None), "crf": (_pos_int(0, 51), 23), "audio": (_bool, True)},
        "H.264 MP4; shorter side at most SIZE, frame rate at most MAX_FPS",
    ),
    "clip": OpDef(("video",), {"seconds": (_pos_float, 10.0)}, "cut into fixed-length segments"),
}
IMAGE_OPS = tuple(n for n, d in OPS.items() if "image" in d.kinds)
VIDEO_OPS = tuple(n for n, d in OPS.items() if d.kinds == ("video",))


@dataclass(frozen=True)
class OpSpec:
    """A validated op with all its parameters filled in (hashable, picklable).

    ``make`` takes a built-in op's name, or an op of your own: a function (decorated with
    :func:`toolkit.op` or not), ``"module:function"``, or a decorated op's name. Such a spec has a
    ``version`` (compared, and in :meth:`to_dict`, so it changes the resume key) and ``custom``, what
    a worker needs to run it (not compared; its pickle ships the function, never :meth:`to_dict`).
    """

    name: str
    params: tuple[tuple[str, Any], ...] = ()
    version: str | None = None
    custom: "CustomOp | None" = field(default=None, compare=False, repr=False)

    @classmethod
    def make(cls, name: Any, **params: Any) -> "OpSpec":
        from .custom import custom_op, is_custom

        if is_custom(name):
            made, _fn = custom_op(name)
            asked = params.pop("version", None)  # from to_dict(): the version it was made with
            if asked is not None and str(asked) != made.version:
                raise ConfigError(
                    f"op {made.name}: version {asked!r} was asked for, but the function is version {made.version!r}"
                )
            return cls(made.name, made.values(params), made.version, made)
        name = str(name).strip().lower().replace("_", "-")
        if name not in OPS:
            raise ConfigError(f"op: unknown op {name!r}; choose from {', '.join(OPS)}, or name a function as 'module:function'")
        schema = OPS[name].params
        unknown = sorted(set(params) - set(schema))
        if unknown:
            raise ConfigError(f"op {name}: unknown setting {unknown[0]!r}; it takes {', '.join(schema) or 'none'}")
        values = {}
        for key, (check, default) in schema.items():
            values[key] = check(f"{name}.{key}", params[key]) if params.get(key) is not None else default
        if name == "frames":
            chosen = [k for k in ("fps", "every", "count") if values[k] is not None] + (
                ["keyframes"] if values["keyframes"] else []
            )
            if len(chosen) > 1:
                raise ConfigError(f"op frames: choose one of fps, every, count, keyframes; got {', '.join(chosen)}")
            if not chosen:
                values["fps"] = 1.0
        return cls(name, tuple(sorted(values.items())))

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.params)

    def get(self, key: str, default: Any = None) -> Any:
        return self.kwargs.get(key, default)

    def applies_to(self, kind: str) -> bool:
        return kind in (self.custom.kinds if self.custom is not None else OPS[self.name].kinds)

    @property
    def takes_image(self) -> bool:
        """Runs on decoded pixels (an image, or a video's poster frame): thumbnail, resize, an op of your own."""
        return self.custom is not None or self.name in IMAGE_OPS

    @property
    def writes_image(self) -> bool:
        """Writes one image output per file from decoded pixels (not a ``returns="facts"`` op)."""
        return self.takes_image and (self.custom is None or self.custom.returns == "image")

    def to_dict(self) -> dict[str, Any]:
        """Name and parameters (and an own op's version): what a config holds and the resume key is made of.
        An own op is named ``"module:function"`` where it can be imported, so a config file finds it."""
        op = (self.custom.ref or self.name) if self.custom is not None else self.name
        version = {"version": self.version} if self.version is not None else {}
        return {"op": op, **version, **{k: list(v) if isinstance(v, tuple) else v for k, v in self.params}}


class FileProblem(Exception):
    """A problem with one file (never escapes a worker: it becomes a ``failed`` row).

    ``code`` is a stable manifest error type such as ``corrupt`` or ``decompression-bomb``;
    ``message`` is a sentence that names the file and, where there is one, the fix.
    """

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def check_file(path: str, *, regular: bool = True) -> int:
    """Fail early, with the right code, on a file that is gone, unreadable, not regular or empty.

    -> its size. Used by the image and video ops before they open anything (the scan already keeps
    special files away; ``regular=False`` lets ffmpeg read a pipe, which its tests use to hang it).
    """
    import os
    import stat

    from .._fs import path_text

    name = path_text(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileProblem("not-found", f"{name} does not exist (moved or deleted since the scan?)") from None
    except PermissionError:
        raise FileProblem("permission-denied", f"cannot read {name}: permission denied; check its permissions") from None
    except OSError as exc:
        raise FileProblem("corrupt", f"cannot read {name}: {exc.strerror or exc}; check the disk or share and retry") from None
    if not stat.S_ISREG(st.st_mode):
        if regular:
            raise FileProblem("not-regular-file", f"{name} is not a regular file; it was not opened")
        return 0
    if st.st_size == 0:
        raise FileProblem("empty-file", f"{name} is empty (0 bytes); re-copy it from its source")
    return st.st_size

"""Ops of your own: a per-file function with the guarantees of the built-in ops.

>>> import toolkit
>>> from PIL import ImageOps
>>> @toolkit.op(name="grayscale", version="1")
... def grayscale(im, *, cutoff=0):
...     return ImageOps.autocontrast(im.convert("L"), cutoff=cutoff)
>>> toolkit.OpSpec.make(grayscale, cutoff=2).to_dict()["version"]
'1'

Two shapes, declared with ``returns``:

- ``returns="image"`` (the default): ``fn(im, **params) -> PIL.Image.Image``. The toolkit decodes the
  file as for the built-in ops (allowed formats only, decompression bombs refused, upright, in sRGB,
  in L, LA, RGB or RGBA) and writes what the function returns in the build's ``format`` and
  ``quality``, atomically, named like a built-in output (``.<name>`` before the extension when several
  ops write images).
- ``returns="facts"``: ``fn(im, **params) -> dict``. The dict (JSON values) goes into the file's
  manifest row, under ``facts`` and the op's name; nothing is written.

``kinds`` says which files it applies to: ``("image",)`` (the default: videos are skipped, unopened),
or with ``"video"`` it also gets each video's poster frame, as ``thumbnail`` and ``resize`` do.
Its parameters are the function's keyword parameters (their defaults fill in what a config leaves
out). The image it gets is its own to change (``im.thumbnail(...)`` in place is fine: the ops after
it get the file's pixels). Everything else is as for the built-in ops: batches sized by the file's
estimated memory, one manifest row per file, a function that raises (or returns an image no output
format holds) makes that file ``failed`` with an ``op-error`` naming the op and the exception, a
file that kills its worker is isolated by the batch machinery, and resume skips a file whose output
was made with the same op name, parameters and ``version`` (bump the version when what the function
does changes: every file is done again).

A config names a function as ``"module:function"`` (``op = "mypackage.filters:grayscale"``); an
undecorated function gets its own name and version ``"1"``. How the function reaches the workers:
``cloudpickle`` ships a function defined in ``__main__`` (a notebook, a script) by value; one that
lives in a module is imported there by name, so its module must be importable by the workers (a
local cluster started after the import sees this process's ``sys.path``). It is loaded as a file
starts, so a worker that cannot load it fails each file with an ``op-error`` that says why.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import sys
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Callable, Mapping

from .._errors import ConfigError
from .._fs import path_text
from . import OPS, FileProblem

__all__ = ["op", "CustomOp", "custom_op", "is_custom"]

#: the attribute the decorator sets on a function (a :class:`CustomOp`)
ATTR = "__dataprep_op__"
#: output names keep room for the longest built-in op name (``_names.SUFFIX_MAX``): no longer here
NAME_MAX = max(len(n) for n in OPS)
_NAME = re.compile(r"[a-z][a-z0-9-]*\Z")
KINDS = ("image", "video")
RETURNS = ("image", "facts")
#: custom ops of this process by name, so a name (a config, ``OpSpec.to_dict()``) finds its function
_REGISTRY: dict[str, Callable[..., Any]] = {}


def op(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    version: str | int = "1",
    kinds: tuple[str, ...] = ("image",),
    returns: str = "image",
) -> Any:
    """Decorator: make ``fn`` an op (see the module's documentation). ``@op`` or ``@op(name=..., version=...)``.

    The function is returned as it is (still callable, and importable by name where it was), marked
    with what the toolkit needs; a config finds it by ``name`` in this process or as ``"module:function"``.
    """

    def mark(f: Callable[..., Any]) -> Callable[..., Any]:
        made = CustomOp.describe(f, name=name, version=version, kinds=kinds, returns=returns)
        setattr(f, ATTR, made)
        _REGISTRY[made.name] = f
        return f

    return mark(fn) if fn is not None else mark


def is_custom(name: Any) -> bool:
    """Whether ``name`` (given as an op) means a custom op: a function, ``"module:function"`` or a decorated op's name."""
    return not isinstance(name, str) or ":" in name or _norm(name) in _REGISTRY


def custom_op(ref: Any) -> tuple[CustomOp, Callable[..., Any]]:
    """The op and function that ``ref`` names: a function, ``"module:function"`` or a decorated op's name."""
    if isinstance(ref, str):
        fn = _import(ref) if ":" in ref else _REGISTRY.get(_norm(ref))
        if fn is None:
            raise ConfigError(
                f"op: unknown op {ref!r}; choose from {', '.join([*OPS, *_REGISTRY])} or name a function as 'module:function'"
            )
    elif callable(ref):
        fn = ref
    else:
        raise ConfigError(f"op: expected an op name, 'module:function' or a function, got {ref!r}")
    made = getattr(fn, ATTR, None)
    if not isinstance(made, CustomOp):
        made = CustomOp.describe(fn)
    _REGISTRY[made.name] = fn
    # pickled now, not when decorated: a function from __main__ takes its globals as they are now
    return replace(made, payload=_payload(fn)), fn


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _import(ref: str) -> Callable[..., Any]:
    """The function ``"module:function"`` names. A module in the current folder is found too (as
    uvicorn and gunicorn do): the folder goes on ``sys.path``, where a local cluster started later looks."""
    module_name, _, attr = ref.strip().partition(":")
    try:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name.split(".")[0] or os.getcwd() in sys.path:
                raise
            sys.path.append(os.getcwd())
            module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any error importing a user's module is the config's problem
        raise ConfigError(f"op {ref!r}: cannot import {module_name}: {type(exc).__name__}: {exc}") from exc
    found: Any = module
    for part in attr.split("."):
        found = getattr(found, part, None)
    if not callable(found):
        raise ConfigError(f"op {ref!r}: {module_name} has no function {attr!r}")
    return found


@dataclass(frozen=True)
class CustomOp:
    """What a worker needs of a custom op: its name, version, kinds, shape, parameters, and its
    function as bytes (``payload``, cloudpickle: by value from ``__main__``, else by reference),
    loaded on the worker as a file starts. Its pickle never holds the live function."""

    name: str
    version: str
    kinds: tuple[str, ...]
    returns: str
    params: tuple[tuple[str, Any], ...]  # keyword parameter -> default (``inspect.Parameter.empty``: required)
    takes_any: bool  # the function has ``**kwargs``
    ref: str  # "module:qualname" where it can be imported, else ""
    payload: bytes = b""

    @classmethod
    def describe(
        cls,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        version: str | int = "1",
        kinds: Any = ("image",),
        returns: str = "image",
    ) -> CustomOp:
        if name is None and getattr(fn, "__name__", "<lambda>") == "<lambda>":  # a lambda, a partial, ...
            raise ConfigError("op: a lambda or a partial has no name of its own: give it one, toolkit.op(name='my-op')(...)")
        label = _norm(str(name if name is not None else getattr(fn, "__name__", "")))
        if not _NAME.match(label) or len(label) > NAME_MAX:
            raise ConfigError(f"op name {label!r}: use a letter, then letters, digits or '-', at most {NAME_MAX} characters")
        if label in OPS:
            raise ConfigError(f"op name {label!r} is a built-in op; choose another name")
        if isinstance(version, bool) or not isinstance(version, (str, int)) or not str(version).strip():
            raise ConfigError(f"op {label}: version must be a non-empty string like '1', got {version!r}")
        kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
        if not kinds or any(k not in KINDS for k in kinds):
            raise ConfigError(f"op {label}: kinds must be 'image', 'video' or both, got {kinds!r}")
        if returns not in RETURNS:
            raise ConfigError(f"op {label}: returns must be 'image' or 'facts', got {returns!r}")
        params, takes_any = _signature(label, fn)
        module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
        ref = f"{module}:{qualname}" if module and module != "__main__" and "<" not in qualname else ""
        return cls(label, str(version).strip(), kinds, returns, params, takes_any, ref)

    def values(self, given: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
        """Every parameter of the function, ``given`` over its defaults, checked (JSON values: they
        go into the resume key and the manifest); a string for a number or a boolean is converted."""
        defaults = dict(self.params)
        unknown = sorted(set(given) - set(defaults)) if not self.takes_any else []
        if unknown:
            raise ConfigError(f"op {self.name}: unknown setting {unknown[0]!r}; it takes {', '.join(defaults) or 'none'}")
        out = {}
        for key in sorted({*defaults, *given}):
            value = given[key] if given.get(key) is not None else defaults.get(key)
            if value is inspect.Parameter.empty:
                raise ConfigError(f"op {self.name}: setting {key!r} is required")
            out[key] = _as_type_of(defaults.get(key), value, f"{self.name}.{key}")
        return tuple(out.items())

    def function(self) -> Callable[..., Any]:
        """The function, loaded from ``payload`` (once per process). A worker that cannot load it
        (its module not importable there, say) gets a ``FileProblem`` for the file it is on."""
        try:
            return _load(self.payload)
        except Exception as exc:  # noqa: BLE001 - whatever unpickling raises, the file gets the reason
            where = f"; make {self.ref.split(':')[0]} importable where the workers run" if self.ref else ""
            raise FileProblem(
                "op-error", f"op {self.name}: its function cannot be loaded on this worker ({type(exc).__name__}: {exc}){where}"
            ) from None

    def run(self, im: Any, params: Mapping[str, Any], path: str, *, shared: bool = False) -> Any:
        """``fn(im, **params)`` on the image ``im`` (in L, LA, RGB or RGBA) of file ``path``: the image
        to write, or the facts (JSON values) for its row. Whatever goes wrong is this file's ``op-error``
        (but for ``MemoryError``, the worker's ``limit-exceeded`` as for any op). ``shared``: other ops
        run on ``im`` after this one, so the function gets a copy it may change in place (Pillow's own
        ``im.thumbnail(...)`` does), never ``im`` itself."""
        from PIL import Image

        from .image.modes import _working

        fn = self.function()
        work = _working(im)
        if shared and work is im:
            work = im.copy()
        try:
            result = fn(work, **params)
        except MemoryError:
            raise
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - the function's failure (sys.exit too) is this file's row
            raise FileProblem("op-error", f"op {self.name} failed on {path_text(path)}: {type(exc).__name__}: {exc}") from None
        if self.returns == "image":
            if not isinstance(result, Image.Image):
                hint = ' (declare returns="facts" for a dict)' if isinstance(result, Mapping) else ""
                raise FileProblem(
                    "op-error", f"op {self.name} returned {type(result).__name__} for {path_text(path)}, not an image{hint}"
                )
            return result
        try:
            if not isinstance(result, Mapping) or not all(isinstance(k, str) for k in result):
                raise TypeError(f"{type(result).__name__}, not a dict with string keys")
            return json.loads(json.dumps(result))
        except (TypeError, ValueError) as exc:
            raise FileProblem(
                "op-error", f"op {self.name} returned facts for {path_text(path)} that are not JSON: {exc}"
            ) from None


def _signature(name: str, fn: Callable[..., Any]) -> tuple[tuple[tuple[str, Any], ...], bool]:
    try:
        found = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        raise ConfigError(f"op {name}: {fn!r} is not a function whose parameters can be read") from None
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if not found or found[0].kind not in positional:
        raise ConfigError(f"op {name}: the function must take the image as its first argument: def {name}(im, **params)")
    params = tuple((p.name, p.default) for p in found[1:] if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
    if any(key == "version" for key, _ in params):
        raise ConfigError(f"op {name}: 'version' is the op's own setting; rename the function's parameter")
    return params, any(p.kind is p.VAR_KEYWORD for p in found)


def _as_type_of(default: Any, value: Any, key: str) -> Any:
    """``value`` as a JSON value; a string from a command line or a form becomes the default's type."""
    if isinstance(value, str) and isinstance(default, (bool, int, float)):
        low = value.strip().lower()
        if isinstance(default, bool):
            if low not in ("true", "false", "yes", "no", "1", "0", "on", "off"):
                raise ConfigError(f"`{key}`: expected true or false, got {value!r}")
            return low in ("true", "yes", "1", "on")
        try:
            return type(default)(low)
        except ValueError:
            raise ConfigError(f"`{key}`: expected a {type(default).__name__}, got {value!r}") from None
    try:
        return json.loads(json.dumps(value))  # tuples become lists, as a config file gives them
    except (TypeError, ValueError):
        raise ConfigError(f"`{key}`: expected a JSON value (number, string, list, ...), got {value!r}") from None


def _payload(fn: Callable[..., Any]) -> bytes:
    import cloudpickle

    try:
        return cloudpickle.dumps(fn)
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(
            f"op {getattr(fn, '__name__', fn)!r}: cannot be sent to the workers ({type(exc).__name__}: {exc})"
        ) from exc


@lru_cache(maxsize=32)
def _load(payload: bytes) -> Callable[..., Any]:
    import cloudpickle

    return cloudpickle.loads(payload)

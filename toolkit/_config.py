"""Build settings: one frozen ``BuildConfig``, loaded from keywords, a JSON/TOML file, or CLI flags.

Precedence: defaults < config file < explicit keywords/flags. Every key is checked before any
work starts; an unknown key or a bad value raises :class:`ConfigError` naming it.

>>> cfg = BuildConfig.create(inputs=["photos"], output="out", op="thumbnail", size=128)
>>> cfg.ops[0].name, cfg.ops[0].get("size"), cfg.batch_size
('thumbnail', (128, 128), None)
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Mapping

from ._config_file import load_config_file
from ._errors import ConfigError
from ._ops import OPS, OpSpec
from ._ops.custom import custom_op
from ._settings import SETTINGS, canonical_key
from ._settings_export import SHARD_MAX_BYTES, SHARD_MAX_COUNT

__all__ = ["BuildConfig", "load_config_file"]


@dataclass(frozen=True)
class BuildConfig:
    """Every setting of a build. Create with :meth:`create` (validates) or :meth:`from_file`; one made
    as ``BuildConfig(...)`` is validated when a build starts. Each field but ``ops`` is a setting of
    ``toolkit._settings.SETTINGS`` (its parser, help and flag); its default is the field's."""

    inputs: tuple[str, ...] = ()
    output: str = ""
    ops: tuple[OpSpec, ...] = (OpSpec.make("thumbnail"),)
    format: str = "jpeg"
    quality: int = 85
    background: str = "#ffffff"
    # batch processing (seed 001's section)
    batch_mode: bool = True
    batch_size: int | None = None  # None: automatic
    max_memory_percent: float = 80.0
    # cluster
    jobs: int | None = None  # worker processes; None: one per CPU
    memory_limit: int | None = None  # bytes per worker; None: share of max_memory_percent
    scheduler: str | None = None
    scheduler_file: str | None = None
    dashboard_address: str = "127.0.0.1:8787"
    # safety and robustness
    max_pixels: int = 89_478_485  # Pillow's default limit; above it: decompression-bomb
    allow_truncated: bool = False  # recover truncated images (with a warning) instead of failing
    timeout: float = 300.0  # seconds per file
    force: bool = False
    verify: bool = False  # check every earlier output is on disk even when nothing changed (else trusted then)
    # curation (toolkit/_curate): decided over the rows after the batches, never part of the resume key
    labels: str = "none"
    captions: str = "sidecar"  # sidecar: photo.txt / photo.json are photo.jpg's caption and metadata (toolkit/_sidecar.py)
    dedupe: str | None = None  # None: near when splits are asked for, else off
    near_distance: int = 8  # the million-hash search meets its 60 s target at 8 (benchmarks/near_distance.py)
    filters: dict[str, Any] = field(default_factory=dict)  # min_side, max_aspect, min_sharpness
    splits: dict[str, float] = field(default_factory=dict)
    split_seed: int = 0
    # exports (toolkit/_export, toolkit/_card): written after curation, never part of the resume key
    exports: tuple[str, ...] = ()  # webdataset, imagefolder, parquet
    shard_max_count: int = SHARD_MAX_COUNT
    shard_max_bytes: int = SHARD_MAX_BYTES
    card_source: str | None = None  # None: "unknown" on the card
    card_license: str | None = None
    monitor_interval: float = 1.0
    in_flight_per_worker: int = 2

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(cls, base: "BuildConfig | None" = None, **settings: Any) -> "BuildConfig":
        """Validated config from keyword settings (same keys as a config file)."""
        return _apply(base or cls(), settings, source="argument")

    @classmethod
    def from_file(cls, path: str | os.PathLike, base: "BuildConfig | None" = None, **overrides: Any) -> "BuildConfig":
        """From a JSON or TOML file (over ``base``: a recipe's settings), then ``overrides``."""
        cfg = _apply(base or cls(), load_config_file(path), source=str(path))
        return _apply(cfg, overrides, source="argument") if overrides else cfg

    def replace(self, **settings: Any) -> "BuildConfig":
        return _apply(self, settings, source="argument")

    def checked(self) -> "BuildConfig":
        """This config, validated as :meth:`create` would (for one made as ``BuildConfig(...)``)."""
        return _apply(type(self)(), {f.name: getattr(self, f.name) for f in fields(self)}, source="argument")

    # ------------------------------------------------------------------ derived
    @property
    def settings_key(self) -> str:
        """Hash of everything that changes an output: the resume key."""
        data = {"ops": [o.to_dict() for o in self.ops], **{k: getattr(self, k) for k, s in SETTINGS.items() if s.output}}
        return hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]

    @property
    def curation(self) -> Any:
        """The curation settings (``toolkit._curate.CurationSettings``), checked together."""
        from ._curate import CurationSettings
        from ._settings_curation import CURATION_SETTINGS

        return CurationSettings.from_settings({s.key: getattr(self, s.key) for s in CURATION_SETTINGS})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["inputs"] = list(self.inputs)
        d["ops"] = [o.to_dict() for o in self.ops]
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


_FIELD_NAMES = {f.name for f in fields(BuildConfig)}


def _op_param_keys() -> set[str]:
    """Asked at each use, not at import: an op registered later brings its parameters with it."""
    return {p for d in OPS.values() for p in d.params}


_norm = canonical_key


def _apply(cfg: BuildConfig, settings: Mapping[str, Any], *, source: str) -> BuildConfig:
    settings = dict(settings)
    recipe = settings.pop("recipe", None)
    if recipe is not None:  # under the other settings given with it (toolkit/_recipes.py)
        from ._recipes import recipe_settings

        cfg = _apply(cfg, recipe_settings(recipe), source=f"recipe {recipe}")
    flat: dict[str, Any] = {}
    for raw_key, value in settings.items():
        key = _norm(raw_key)
        if key == "batch_processing":
            if not isinstance(value, Mapping):
                raise ConfigError(f'`batch_processing`: expected an object like {{"enabled": true}}, got {value!r}')
            for sub, v in value.items():
                s = _norm(sub)
                target = {"enabled": "batch_mode", "batch_size": "batch_size", "max_memory_percent": "max_memory_percent"}.get(s)
                if target is None:
                    raise ConfigError(f"`batch_processing.{sub}`: unknown key; use enabled, batch_size, max_memory_percent")
                flat[target] = v
        else:
            flat[key] = value

    changes: dict[str, Any] = {}
    ops = _take_ops(cfg, flat)
    if ops is not None:
        changes["ops"] = ops
    for key, value in flat.items():
        if key not in _FIELD_NAMES:
            hint = _suggest(key)
            raise ConfigError(f"unknown setting {key!r} (from {source}){hint}")
        changes[key] = SETTINGS[key].parse(key, value)
    if not changes:
        return cfg
    new = replace(cfg, **changes)
    if new.scheduler and new.scheduler_file:
        raise ConfigError("`scheduler` and `scheduler_file`: give one of them, not both")
    new.curation  # the curation keys together (errors name the key), before any work
    return new


def _take_ops(cfg: BuildConfig, flat: dict[str, Any]) -> tuple[OpSpec, ...] | None:
    """The ops that ``op``, ``ops`` and flat op parameters (``size=64``) ask for, taken out of
    ``flat``; None if they ask for nothing. A flat parameter goes to each op that takes it."""
    op_names = flat.pop("op", None)
    names = None if op_names is None else [op_names] if isinstance(op_names, str) or callable(op_names) else list(op_names)
    listed = _ops_from_list(flat.pop("ops")) if "ops" in flat else None
    params = _op_param_keys()
    if not all(_builtin(n) for n in names or [o.name for o in (listed or cfg.ops)]):  # a user's op: it checks the rest
        params |= {k for k in flat if k not in _FIELD_NAMES}
    op_params = {k: flat.pop(k) for k in list(flat) if k in params and k not in _FIELD_NAMES}
    if names is None and not op_params:
        return listed
    base: dict[str, dict[str, Any]] = {}
    if names is None:
        names = [o.name for o in (listed or cfg.ops)]
        base = {o.name: o.kwargs for o in (listed or cfg.ops)}
    # a key that a built-in op of the list takes is that op's; the users' ops share the others, each
    # getting those it takes (one op of yours alone gets them all: it names any it does not take)
    builtins = [b for b in map(_builtin, names) if b]
    theirs = {k: v for k, v in op_params.items() if not any(k in OPS[b].params for b in builtins)}
    own = {i: custom_op(n)[0] for i, n in enumerate(names) if not _builtin(n)}
    takes = {i: {k for k in theirs if c.takes_any or k in dict(c.params)} for i, c in own.items()}
    if len(own) > 1 and (unused := sorted(set(theirs) - set().union(*takes.values()))):
        raise ConfigError(f"unknown setting {unused[0]!r}: no op of {', '.join(c.name for c in own.values())} takes it")

    def given(i: int, n: Any) -> dict[str, Any]:
        if _builtin(n):
            return op_params
        return theirs if len(own) == 1 else {k: theirs[k] for k in takes[i]}

    return tuple(_op_with(n, {**base.get(n, {}), **given(i, n)}) for i, n in enumerate(names))


def _builtin(name: Any) -> str | None:
    """The registry's name of op ``name`` if it is registered (``contact_sheet`` -> ``contact-sheet``)."""
    n = str(name).strip().lower().replace("_", "-") if isinstance(name, str) else None
    return n if n in OPS else None


def _op_with(name: Any, params: dict[str, Any]) -> OpSpec:
    """Op ``name`` with the flat parameters it takes. One the registry does not know yet (a
    function, ``"module:function"``, a decorated op's name) is the op registry's to resolve, with
    all the parameters: it names any it does not take."""
    n = _builtin(name)
    if n is None:
        return OpSpec.make(name, **params)
    allowed = OPS[n].params
    return OpSpec.make(n, **{k: v for k, v in params.items() if k in allowed})


def _ops_from_list(value: Any) -> tuple[OpSpec, ...]:
    """Ops from a list of names, functions, ``{"op": ...}`` objects or OpSpecs (checked again), or one of them."""
    if isinstance(value, (str, Mapping, OpSpec)) or callable(value):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f'`ops`: expected a list like [{{"op": "thumbnail", "size": 128}}], got {value!r}')
    out = []
    for i, entry in enumerate(value):
        if isinstance(entry, OpSpec):
            entry = entry.to_dict()
        if isinstance(entry, str) or callable(entry):
            out.append(OpSpec.make(entry))
        elif isinstance(entry, Mapping) and "op" in entry:
            params = {_norm(k): v for k, v in entry.items() if k != "op"}
            out.append(OpSpec.make(entry["op"], **params))
        else:
            raise ConfigError(f'`ops[{i}]`: expected an op name or an object with an "op" key, got {entry!r}')
    return tuple(out)


def _suggest(key: str) -> str:
    import difflib

    cands = difflib.get_close_matches(key, sorted(_FIELD_NAMES | _op_param_keys() | {"op", "batch_processing"}), n=1)
    return f"; did you mean {cands[0]!r}?" if cands else ""

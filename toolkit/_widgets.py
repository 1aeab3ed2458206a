"""The notebook control panel: ``toolkit.Panel(inputs=[...], output=...)``.

The panel only holds widgets and renders engine events; the build itself is the engine's
(:func:`toolkit._engine.start`), running in a background thread so the kernel stays free.

Event callbacks arrive on the engine's threads. They only set widget traits (thread-safe: each
change is one comm message) and append to an ``Output`` with ``append_stdout``; they never use
``with out:`` from a thread. Renders are rate-limited so thousands of ``item`` events stay cheap.

>>> # panel = toolkit.Panel(inputs=["photos"], output="thumbs", op="thumbnail", size=128); panel
"""

from __future__ import annotations

import base64
import html
import json
import os
import threading
import time
from typing import Any

import ipywidgets as W

from ._fs import printable
from ._config import BuildConfig
from ._dashboard import dashboard_link, dashboard_urls
from ._errors import ConfigError
from ._events import Event
from ._ops import OPS, FORMATS, OpSpec
from ._progress import DECISIONS, describe

__all__ = ["Panel", "dashboard_urls", "dashboard_link", "build_code"]

#: settings that have their own widget; any other BuildConfig/op keyword is kept as-is
_WIDGET_KEYS = {
    "inputs",
    "output",
    "op",
    "size",
    "format",
    "quality",
    "batch_mode",
    "batch_size",
    "max_memory_percent",
    "jobs",
    "memory_limit",
    "scheduler",
    "scheduler_file",
    "force",
}
_ALIASES = {"input": "inputs", "max_memory": "max_memory_percent", "scheduler_address": "scheduler"}
_RENDER_EVERY = 0.25  # seconds between live re-renders
_MAX_FAILED_ROWS = 200
_PREVIEW_PAIRS = 6
_PREVIEW_SHEETS = 4


# --------------------------------------------------------------------------- helpers (no widgets)


def _size_text(v: Any) -> str:
    if v is None or v == "":
        return ""
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return v
    w, h = v
    return str(w) if w == h else f"{w}x{h}"


def _fmt_bytes(n: float | None) -> str:
    from ._media import _fmt_bytes as fmt

    return "?" if n is None else fmt(n)


def _fmt_eta(s: float | None) -> str:
    if s is None:
        return "–"
    s = max(0, int(round(s)))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def _op_kwargs(op: OpSpec) -> dict[str, Any]:
    """The params of ``op`` that differ from its defaults (sizes as 128 or [w, h])."""
    default = OpSpec.make(op.name).kwargs
    out = {}
    for k, v in op.kwargs.items():
        if v != default.get(k):
            out[k] = (v[0] if v[0] == v[1] else list(v)) if isinstance(v, tuple) and len(v) == 2 else v
    return out


def build_kwargs(cfg: BuildConfig) -> dict[str, Any]:
    """The shortest keyword settings that recreate ``cfg`` with ``BuildConfig.create(**kw)``."""
    d, base = cfg.to_dict(), BuildConfig().to_dict()
    kw: dict[str, Any] = {"inputs": d["inputs"], "output": d["output"]}
    if len(cfg.ops) == 1:
        kw["op"] = cfg.ops[0].name
        kw.update(_op_kwargs(cfg.ops[0]))
    else:
        kw["ops"] = [{"op": o.name, **_op_kwargs(o)} for o in cfg.ops]
    for k, v in d.items():
        if k in ("inputs", "output", "ops") or v == base.get(k):
            continue
        kw[k] = _fmt_limit(v) if k == "memory_limit" and v else v
    try:
        if BuildConfig.create(**kw) == cfg:
            return kw
    except ConfigError:
        pass
    full = {k: v for k, v in kw.items() if k in d and k != "ops"}
    full["ops"] = d["ops"]
    return full


def build_code(cfg: BuildConfig) -> str:
    """Python that runs the same build as ``cfg`` (the panel's "copy as code")."""
    kw = build_kwargs(cfg)
    args = "".join(f"    {k}={v!r},\n" for k, v in kw.items())
    return f"import toolkit\n\nreport = toolkit.build(\n{args})\nreport\n"


def _thumb_b64(path: str, px: int) -> str | None:
    try:
        from ._ops.image import encode, load_image, thumbnail

        im, _ = load_image(path, max_pixels=BuildConfig.max_pixels, draft_size=(px, px))
        return base64.b64encode(encode(thumbnail(im, (px, px)), "jpeg", 80)).decode("ascii")
    except Exception:  # noqa: BLE001 - a preview is best effort
        return None


def preview_rows(manifest: str, *, pairs: int = _PREVIEW_PAIRS, sheets: int = _PREVIEW_SHEETS) -> tuple[list[dict], list[dict]]:
    """First ``pairs`` image rows and ``sheets`` contact-sheet rows of a manifest (status ok)."""
    images: list[dict] = []
    videos: list[dict] = []
    try:
        fh = open(manifest, encoding="utf-8")  # noqa: SIM115
    except OSError:
        return images, videos
    with fh:
        for line in fh:
            if len(images) >= pairs and len(videos) >= sheets:
                break
            try:
                row = json.loads(line)
            except ValueError:
                continue
            outs = row.get("outputs") or []
            if row.get("status") != "ok" or not outs:
                continue
            contact = [o for o in outs if ".contact." in os.path.basename(o)]
            if contact:
                if len(videos) < sheets:
                    videos.append({**row, "_sheet": contact[0]})
            elif len(images) < pairs and not any(o.lower().endswith((".mp4", ".mov", ".webm")) for o in outs[:1]):
                images.append(row)
    return images, videos


def _name(text: str) -> str:
    """A file name (or a message naming one) for HTML: controls and bidi overrides escaped as the
    manifest writes them (one name cannot reorder or break the table), then HTML-escaped."""
    return html.escape(printable(text))


def preview_html(output: str, manifest: str, *, px: int = 160) -> str:
    """A grid of before/after thumbnails and contact sheets (base64 ``<img>``, no file links)."""
    images, videos = preview_rows(manifest)
    cells = []
    for row in images:
        src = os.path.join(row.get("input_root") or "", row["source"])
        out = os.path.join(output, row["outputs"][0])
        before, after = _thumb_b64(src, px), _thumb_b64(out, px)
        if not after:
            continue
        b = f"<img class='dp-before' src='data:image/jpeg;base64,{before}' title='{_name(src)}'>" if before else "<span>?</span>"
        a = f"<img class='dp-after' src='data:image/jpeg;base64,{after}' title='{_name(out)}'>"
        cells.append(
            f"<figure class='dp-pair' style='margin:4px;display:inline-block;text-align:center'>"
            f"<div style='display:flex;gap:4px;align-items:center'>{b}<span>&rarr;</span>{a}</div>"
            f"<figcaption style='font-size:11px;max-width:{2 * px + 30}px;overflow:hidden'>{_name(row['source'])}</figcaption></figure>"
        )
    sheets = []
    for row in videos:
        path = os.path.join(output, row["_sheet"])
        data = _thumb_b64(path, 2 * px + 120)
        if data:
            sheets.append(
                f"<figure class='dp-sheet' style='margin:4px;display:inline-block'>"
                f"<img class='dp-contact' src='data:image/jpeg;base64,{data}' title='{_name(path)}'>"
                f"<figcaption style='font-size:11px'>{_name(row['source'])}</figcaption></figure>"
            )
    if not cells and not sheets:
        return "<div class='dp-preview'><i>no image outputs to preview</i></div>"
    parts = ["<div class='dp-preview'>"]
    if cells:
        parts.append("<b>Before / after</b><div class='dp-grid'>" + "".join(cells) + "</div>")
    if sheets:
        parts.append("<b>Contact sheets</b><div class='dp-sheets'>" + "".join(sheets) + "</div>")
    parts.append("</div>")
    return "".join(parts)


def _bar(label: str, percent: float | None, text: str = "", warn: float = 80.0) -> str:
    p = 0.0 if percent is None else max(0.0, min(100.0, percent))
    colour = "#d9534f" if p >= 90 else "#f0ad4e" if p >= warn else "#5cb85c"
    return (
        f"<div class='dp-gauge' style='display:flex;align-items:center;gap:6px;margin:1px 0'>"
        f"<span style='width:150px;overflow:hidden;white-space:nowrap'>{html.escape(label)}</span>"
        f"<span style='display:inline-block;width:180px;height:12px;background:#eee;border:1px solid #ccc'>"
        f"<span style='display:block;height:100%;width:{p:.0f}%;background:{colour}'></span></span>"
        f"<span style='font-size:12px'>{html.escape(text or ('–' if percent is None else f'{p:.0f} %'))}</span></div>"
    )


# --------------------------------------------------------------------------- the panel


class Panel:
    """Controls, live progress, resources, failures, the Dask dashboard and previews of one build.

    Every setting can be preset: ``Panel(inputs=["photos"], output="out", op="resize", size=256,
    batch_size=8, jobs=2, memory_limit="1GiB", max_memory_percent=70, scheduler="tcp://...")``.
    ``client=`` uses an existing ``distributed.Client`` (or Cluster); otherwise the panel starts a
    local cluster on the first Start and keeps it for the next runs (``close()`` ends it).
    """

    def __init__(self, *, client: Any = None, start_on_display: bool = False, **settings: Any):
        settings = {_ALIASES.get(k.replace("-", "_"), k.replace("-", "_")): v for k, v in settings.items()}
        self._extra = {k: v for k, v in settings.items() if k not in _WIDGET_KEYS}
        self._client_given = client
        self._client = None  # the client used by runs (given or started here)
        self._client_key: tuple | None = None
        self._owns_client = False
        self.run = None  # the current toolkit Run
        self.report = None  # the last RunReport
        self.error: BaseException | None = None
        self._lock = threading.RLock()
        self._finished = threading.Event()
        self._finished.set()
        self._failed: list[tuple[str, str, str]] = []
        self._last_render = 0.0
        self._last_batch_files: int | None = None
        self._batches_started = 0
        self._resources: dict[str, Any] = {}
        self._start_on_display = start_on_display

        # base settings for the widgets (validated)
        base = BuildConfig.create(**settings) if settings else BuildConfig()
        first = base.ops[0]
        multi = len(base.ops) > 1
        self._ops_override = base.ops if multi else None
        self._stop_requested = False
        self.dashboard_url: str | None = None

        st = {"description_width": "150px"}
        wide = W.Layout(width="560px")
        self.inputs = W.Text(
            value="; ".join(base.inputs),
            description="Input folder(s)",
            style=st,
            layout=wide,
            placeholder="folder (several: separate with ;)",
        )
        self.output = W.Text(
            value=base.output,
            description="Output folder",
            style=st,
            layout=wide,
            placeholder="folder for outputs, manifest.jsonl and summary.json",
        )
        options = [(n, n) for n in OPS]
        if multi:
            label = " + ".join(o.name for o in base.ops)
            options.append((label, label))
        self.op = W.Dropdown(
            options=options, value=(" + ".join(o.name for o in base.ops) if multi else first.name), description="Op", style=st
        )
        size = None if multi else first.get("size")
        shown = _size_text(size) if size is not None and size != OpSpec.make(first.name).get("size") else ""
        if "size" in settings and not multi:
            shown = _size_text(size)
        self.size = W.Text(value=shown, description="Size", style=st, placeholder="", layout=W.Layout(width="300px"))
        self.format = W.Dropdown(options=list(FORMATS), value=base.format, description="Format", style=st)
        self.quality = W.IntSlider(
            value=base.quality,
            min=1,
            max=100,
            description="Quality",
            style=st,
            continuous_update=False,
            layout=W.Layout(width="420px"),
        )
        self.batch_mode = W.Checkbox(value=base.batch_mode, description="Batch mode (several files per task)", indent=False)
        self.batch_auto = W.Checkbox(value=base.batch_size is None, description="Automatic batch size", indent=False)
        self.batch_size = W.IntSlider(
            value=base.batch_size or 16,
            min=1,
            max=max(128, base.batch_size or 1),
            description="Batch size",
            style=st,
            continuous_update=False,
            disabled=base.batch_size is None,
            layout=W.Layout(width="560px"),
        )
        self.jobs = W.BoundedIntText(
            value=base.jobs or 0, min=0, max=1024, description="Jobs (0 = auto)", style=st, layout=W.Layout(width="260px")
        )
        self.memory_limit = W.Text(
            value=("auto" if base.memory_limit is None else _fmt_limit(base.memory_limit)),
            description="Worker memory",
            style=st,
            placeholder="auto, 1GiB, 768MiB",
            layout=W.Layout(width="300px"),
        )
        self.max_memory = W.FloatSlider(
            value=base.max_memory_percent,
            min=5,
            max=100,
            step=1,
            description="Max memory %",
            style=st,
            continuous_update=False,
            readout_format=".0f",
            layout=W.Layout(width="560px"),
        )
        self.force = W.Checkbox(value=base.force, description="Redo files already done (force)", indent=False)
        sched = base.scheduler or base.scheduler_file or ""
        self.scheduler = W.Text(
            value=sched,
            description="Existing scheduler",
            style=st,
            layout=wide,
            placeholder="tcp://host:8786 or scheduler.json (empty: start a local cluster)",
        )
        self.start_button = W.Button(description="Start", button_style="success", icon="play")
        self.stop_button = W.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.start_button.on_click(lambda _b: self.start())
        self.stop_button.on_click(lambda _b: self.stop())

        # live views
        self.status = W.HTML("<span class='dp-status'>ready</span>")
        self.progress = W.IntProgress(value=0, min=0, max=1, description="Files", style=st, layout=W.Layout(width="560px"))
        self.progress_label = W.HTML("", layout=W.Layout(min_height="20px"))
        self.batch_label = W.HTML("")
        self.gauges = W.HTML("")
        self.failed_table = W.HTML("")
        self.dashboard = W.HTML("")
        self.dashboard_frames = W.HTML("")
        self.report_view = W.HTML("")
        self.preview = W.HTML("")
        self.log = W.Output(layout=W.Layout(max_height="160px", overflow="auto"))
        self.code = W.Textarea(value="", description="", layout=W.Layout(width="98%", height="170px"))
        self.config_json = W.Textarea(value="", layout=W.Layout(width="98%", height="170px"))
        self.code_error = W.HTML("")

        for w in (
            self.inputs,
            self.output,
            self.op,
            self.size,
            self.format,
            self.quality,
            self.batch_mode,
            self.batch_auto,
            self.batch_size,
            self.jobs,
            self.memory_limit,
            self.max_memory,
            self.force,
            self.scheduler,
        ):
            w.observe(self._on_setting, names="value")
        self.batch_auto.observe(self._on_live_batch, names="value")
        self.batch_size.observe(self._on_live_batch, names="value")
        self.max_memory.observe(self._on_live_memory, names="value")
        self.op.observe(self._on_op, names="value")
        self._on_op({"new": self.op.value})

        controls = W.VBox(
            [
                self.inputs,
                self.output,
                W.HBox([self.op, self.size]),
                W.HBox([self.format, self.quality]),
                W.HBox([self.batch_mode, self.batch_auto]),
                self.batch_size,
                W.HBox([self.jobs, self.memory_limit]),
                self.max_memory,
                self.force,
                self.scheduler,
                W.HBox([self.start_button, self.stop_button, self.status]),
            ]
        )
        live = W.VBox([self.progress, self.progress_label, self.batch_label, self.gauges, self.failed_table])
        code_box = W.VBox(
            [
                W.HTML("<b>Equivalent code</b> (same settings as above)"),
                self.code,
                W.HTML(
                    "<b>Config file</b> (save as build.json; <code>dataprep build --config build.json</code> "
                    "or <code>toolkit.build(toolkit.BuildConfig.from_file('build.json'))</code>)"
                ),
                self.config_json,
                self.code_error,
            ]
        )
        tabs = W.Tab(
            children=[
                W.VBox([live, self.report_view, self.preview]),
                W.VBox([self.dashboard, self.dashboard_frames]),
                code_box,
                self.log,
            ]
        )
        for i, t in enumerate(("Progress", "Dashboard", "Copy as code", "Log")):
            tabs.set_title(i, t)
        self.tabs = tabs
        self.widget = W.VBox([W.HTML("<h3 style='margin:4px 0'>dataprep</h3>"), controls, tabs])
        self.widget.add_class("dataprep-panel")
        self._refresh_code()

    # ------------------------------------------------------------------ display
    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
        if self._start_on_display:
            self._start_on_display = False
            self.start()

    def _repr_mimebundle_(self, **kwargs: Any):  # for front ends that do not call _ipython_display_
        return self.widget._repr_mimebundle_(**kwargs)

    # ------------------------------------------------------------------ settings <-> config
    def settings(self) -> dict[str, Any]:
        """The panel's settings as keyword arguments of ``BuildConfig.create`` (not yet validated)."""
        s: dict[str, Any] = dict(self._extra)
        inputs = [p.strip() for p in self.inputs.value.split(";") if p.strip()]
        s["inputs"] = inputs
        s["output"] = self.output.value.strip()
        if self._ops_override is not None and self.op.value == " + ".join(o.name for o in self._ops_override):
            s.pop("op", None)
            s["ops"] = [o.to_dict() for o in self._ops_override]
        else:
            s.pop("ops", None)
            s["op"] = self.op.value
            if self.size.value.strip() and "size" in OPS[self.op.value].params:
                sz = self.size.value.strip()
                s["size"] = sz
        s["format"] = self.format.value
        s["quality"] = int(self.quality.value)
        s["batch_mode"] = bool(self.batch_mode.value)
        s["batch_size"] = None if self.batch_auto.value else int(self.batch_size.value)
        s["max_memory_percent"] = float(self.max_memory.value)
        s["jobs"] = int(self.jobs.value) or None
        ml = self.memory_limit.value.strip()
        s["memory_limit"] = None if ml.lower() in ("", "auto") else ml
        s["force"] = bool(self.force.value)
        target = self.scheduler.value.strip()
        s["scheduler"] = s["scheduler_file"] = None
        if target:
            if target.endswith(".json") or os.path.isfile(target):
                s["scheduler_file"] = target
            else:
                s["scheduler"] = target
        return s

    def config(self) -> BuildConfig:
        """The validated :class:`BuildConfig` of the current settings (raises ``ConfigError``)."""
        s = self.settings()
        if not s["inputs"]:
            s.pop("inputs")
        if not s["output"]:
            s.pop("output")
        return BuildConfig.create(**s)

    def code_text(self) -> str:
        return build_code(self.config())

    def _refresh_code(self) -> None:
        try:
            cfg = self.config()
        except (ConfigError, ValueError) as exc:
            self.code_error.value = f"<span style='color:#c00' class='dp-config-error'>{html.escape(str(exc))}</span>"
            return
        self.code.value = build_code(cfg)
        self.config_json.value = cfg.to_json()
        self.code_error.value = ""

    def _on_setting(self, _change: dict) -> None:
        self.batch_size.disabled = bool(self.batch_auto.value) or not self.batch_mode.value
        self._refresh_code()

    def _on_op(self, change: dict) -> None:
        name = change["new"]
        if name in OPS and "size" in OPS[name].params:
            d = OpSpec.make(name).get("size")
            self.size.disabled = False
            self.size.placeholder = f"default {_size_text(d)}" if d else "original size"
        else:
            self.size.disabled = True
            self.size.placeholder = "not used by this op"

    # ------------------------------------------------------------------ live changes
    def _on_live_batch(self, _change: dict) -> None:
        run = self.run
        if run is None or run.done:
            return
        n = None if self.batch_auto.value else int(self.batch_size.value)
        try:
            run.set_batch_size(n)
        except Exception as exc:  # noqa: BLE001
            self._log(f"could not change the batch size: {exc}")

    def _on_live_memory(self, change: dict) -> None:
        run = self.run
        if run is None or run.done:
            return
        try:
            run.set_max_memory(float(change["new"]))
        except Exception as exc:  # noqa: BLE001
            self._log(f"could not change max memory: {exc}")

    # ------------------------------------------------------------------ start / stop
    @property
    def running(self) -> bool:
        return not self._finished.is_set()

    def start(self) -> None:
        """Validate the settings and start the build in the background (returns at once)."""
        with self._lock:
            if self.running:
                self._log("a build is already running")
                return
            try:
                cfg = self.config()
                from ._engine import validate_paths

                validate_paths(cfg)
            except Exception as exc:  # noqa: BLE001 - shown, never raised into the button callback
                self.error = exc
                self._set_status(f"<span style='color:#c00' class='dp-error'>{html.escape(str(exc))}</span>")
                return
            self._reset_views()
            self.error = None
            self.report = None
            self.run = None
            self._finished.clear()
            self.start_button.disabled = True
            self.stop_button.disabled = False
            self._set_status("starting the cluster…" if self._client is None else "starting…")
        threading.Thread(target=self._start_and_watch, args=(cfg,), name="dataprep-panel", daemon=True).start()

    def stop(self, grace: float = 5.0) -> None:
        """Stop the running build: pending batches are cancelled, the manifest and summary are written."""
        run = self.run
        if run is None:
            if self.running:
                self._stop_requested = True
            return
        run.stop(grace)
        self.stop_button.disabled = True
        self._set_status("stopping: waiting for running batches…")

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the current run (if any) has finished and the panel shows its results."""
        return self._finished.wait(timeout)

    def wait_running(self, timeout: float = 60.0) -> Any:
        """Wait until the engine run exists (after the cluster started); returns it."""
        t0 = time.monotonic()
        while self.run is None and time.monotonic() - t0 < timeout:
            if self._finished.is_set():
                break
            time.sleep(0.05)
        return self.run

    def close(self) -> None:
        """Stop a run and close the cluster the panel started."""
        if self.run is not None and not self.run.done:
            self.run.stop(0)
            self.run.wait(30)
        if self._owns_client and self._client is not None:
            cluster = getattr(self._client, "cluster", None)
            try:
                self._client.close()
                if cluster is not None:
                    cluster.close()
            except Exception:  # noqa: BLE001
                pass
        self._client = None
        self._client_key = None

    def _cluster_key(self, cfg: BuildConfig) -> tuple:
        # with an automatic memory limit, the workers' limits are their share of max_memory_percent
        local = cfg.scheduler is None and cfg.scheduler_file is None
        sizing = cfg.max_memory_percent if local and cfg.memory_limit is None else None
        return (cfg.jobs, cfg.memory_limit, sizing, cfg.scheduler, cfg.scheduler_file, cfg.dashboard_address)

    def _get_client(self, cfg: BuildConfig):
        from ._cluster import connect

        if self._client_given is not None:
            if self._client is None:
                self._client = connect(self._client_given)
            return self._client
        key = self._cluster_key(cfg)
        if self._client is not None and self._client_key == key:
            try:
                if self._client.status == "running":
                    return self._client
            except Exception:  # noqa: BLE001
                pass
        if self._client is not None:
            self._log("cluster settings changed: starting a new cluster")
            self.close()
        target = cfg.scheduler or cfg.scheduler_file
        self._client = connect(
            target,
            jobs=cfg.jobs,
            memory_limit=cfg.memory_limit,
            dashboard_address=cfg.dashboard_address,
            max_memory_percent=cfg.max_memory_percent,
        )
        self._client_key = key
        self._owns_client = target is None
        return self._client

    def _start_and_watch(self, cfg: BuildConfig) -> None:
        from . import _engine as engine

        self._stop_requested = False
        run = None
        try:
            client = self._get_client(cfg)
            self._show_dashboard(client)
            run = engine.start(cfg, client=client, sinks=[self._on_event])  # may refuse: output busy
            self.run = run
            self._set_status("running")
            self._log(f"started: {', '.join(cfg.inputs)} -> {cfg.output}")
            if self._stop_requested:
                run.stop()
        except BaseException as exc:  # noqa: BLE001
            self._show_error("", "error", exc)
        try:
            if run is not None:
                run.wait()
                try:
                    self._show_result(run.result())
                except BaseException as exc:  # noqa: BLE001
                    self._show_error("build failed: ", "build failed", exc)
        finally:
            self.start_button.disabled = False
            self.stop_button.disabled = True
            self._finished.set()

    def _show_error(self, status_prefix: str, log_prefix: str, exc: BaseException) -> None:
        self.error = exc
        self._set_status(
            f"<span style='color:#c00' class='dp-error'>{html.escape(status_prefix)}"
            f"{html.escape(type(exc).__name__)}: {html.escape(str(exc))}</span>"
        )
        self._log(f"{log_prefix}: {exc}")

    # ------------------------------------------------------------------ rendering events (any thread)
    def _on_event(self, ev: Event) -> None:
        kind, d = ev.kind, ev.data
        force = False
        with self._lock:
            if kind == "run-started":
                self._log(
                    f"{d.get('files', 0)} files ({_fmt_bytes(d.get('bytes'))}) in about {d.get('batches')} "
                    f"batches of {d.get('batch_size')}; {d.get('workers', '?')} workers"
                )
                force = True
            elif kind == "item":
                row = d.get("row") or {}
                if row.get("status") == "failed":
                    err = row.get("error") or {}
                    self._failed.append((row.get("source", "?"), err.get("type", "?"), err.get("message", "")))
            elif kind == "batch-started":
                self._batches_started += 1
                self._last_batch_files = d.get("files")
            elif kind == "resources":
                self._resources = dict(d)
            elif kind in DECISIONS:
                self._log(describe(ev))
                force = kind in ("throttle", "settings-changed")
            elif kind == "run-finished":
                force = True
            now = time.monotonic()
            if force or now - self._last_render >= _RENDER_EVERY:
                self._last_render = now
                self._render_live()

    def _render_live(self) -> None:
        run = self.run
        p = run.progress if run is not None else {}
        total = int(p.get("files_total") or 0)
        done = int(p.get("files_done") or 0)
        self.progress.max = max(1, total)
        self.progress.value = min(done, max(1, total)) if total else (1 if run is not None and run.done else 0)
        pct = 100.0 * done / total if total else (100.0 if run is not None and run.done else 0.0)
        bdone, btotal = p.get("bytes_done") or 0, p.get("bytes_total") or 0
        self.progress_label.value = (
            f"<span class='dp-progress'><b class='dp-percent'>{pct:.0f}%</b> · "
            f"<span class='dp-files'>{done} / {total} files</span> · {_fmt_bytes(bdone)} / {_fmt_bytes(btotal)} · "
            f"ETA {_fmt_eta(p.get('eta_seconds')) if done < total and not (run is not None and run.done) else '–'} · "
            f"failed {p.get('failed', 0)}</span>"
        )
        cur = p.get("batch_size")
        last = "–" if self._last_batch_files is None else str(self._last_batch_files)
        self.batch_label.value = (
            f"<span class='dp-batch'>batch size <b class='dp-batch-size'>{cur}</b> · "
            f"last batch started: <b class='dp-last-batch'>{last}</b> files · "
            f"batches started: {self._batches_started}</span>"
        )
        self.gauges.value = self._gauges_html()
        self.failed_table.value = self._failed_html()

    def _gauges_html(self) -> str:
        r = self._resources
        if not r:
            return ""
        sysd = r.get("system") or {}
        parts = [
            "<div class='dp-gauges'>",
            _bar(
                "system memory",
                sysd.get("memory_percent"),
                f"{sysd.get('memory_percent', 0):.0f} % (max {self.max_memory.value:.0f} %)",
                warn=self.max_memory.value - 10,
            ),
            _bar("CPU", sysd.get("cpu_percent")),
        ]
        for name, w in sorted((r.get("workers") or {}).items(), key=lambda kv: str(kv[0])):
            lim = w.get("limit") or 0
            pct = 100.0 * (w.get("rss") or 0) / lim if lim else None
            parts.append(_bar(f"worker {name}", pct, f"{_fmt_bytes(w.get('rss'))} / {_fmt_bytes(lim) if lim else 'no limit'}"))
        parts.append("</div>")
        return "".join(parts)

    def _failed_html(self) -> str:
        if not self._failed:
            return ""
        rows = "".join(
            f"<tr><td>{_name(s)}</td><td><code>{_name(c)}</code></td><td>{_name(m)}</td></tr>"
            for s, c, m in self._failed[:_MAX_FAILED_ROWS]
        )
        more = (
            f"<div>… {len(self._failed) - _MAX_FAILED_ROWS} more in the manifest</div>"
            if len(self._failed) > _MAX_FAILED_ROWS
            else ""
        )
        return (
            f"<details open class='dp-failed'><summary><b>{len(self._failed)} failed</b></summary>"
            f"<table class='dp-failed-table'><tr><th>file</th><th>reason</th><th>message</th></tr>{rows}</table>"
            f"{more}</details>"
        )

    def _show_dashboard(self, client: Any) -> None:
        self._show_dashboard_link(dashboard_link(client))

    def _show_dashboard_link(self, link: str | None) -> None:
        urls = dashboard_urls(link)
        if not urls:
            self.dashboard.value = "<i>no dashboard (install bokeh>=3.1)</i>"
            self.dashboard_frames.value = ""
            return
        e = html.escape
        self.dashboard_url = urls["status"]
        self.dashboard.value = (
            f"<a class='dp-dashboard-link' href='{e(urls['status'])}' target='_blank'>"
            f"Open the Dask dashboard</a> <code>{e(urls['status'])}</code>"
        )
        self.dashboard_frames.value = (
            "<div class='dp-dashboard-frames' style='display:flex;flex-wrap:wrap;gap:6px'>"
            f"<iframe class='dp-frame-progress' src='{e(urls['progress'])}' style='width:560px;height:320px;border:1px solid #ccc'></iframe>"
            f"<iframe class='dp-frame-memory' src='{e(urls['workers_memory'])}' style='width:560px;height:320px;border:1px solid #ccc'></iframe>"
            "</div>"
        )

    def _show_result(self, report: Any) -> None:
        self.report = report
        with self._lock:
            self._render_live()
        self.report_view.value = report._repr_html_()
        try:
            self.preview.value = preview_html(report.output, report.manifest)
        except Exception as exc:  # noqa: BLE001
            self.preview.value = f"<i>no preview: {html.escape(str(exc))}</i>"
        word = "stopped" if report.stopped else "done"
        why = report.stop_reason  # stopped by itself: the output could not be written
        self._set_status(
            f"<span class='dp-done'>{word}: {report.ok} ok, {report.failed} failed, "
            f"{report.skipped} skipped in {report.seconds:.1f} s</span>"
            + (
                f" <span style='color:#c00' class='dp-error dp-stop-reason'>{html.escape(why['type'])}: "
                f"{html.escape(why['message'])}</span>"
                if why
                else ""
            )
        )
        self._log(f"{word}: manifest {report.manifest}")

    def _reset_views(self) -> None:
        self._failed = []
        self._last_batch_files, self._batches_started = None, 0
        self._resources = {}
        self.progress.value, self.progress.max = 0, 1
        self.progress_label.value = self.batch_label.value = self.gauges.value = ""
        self.failed_table.value = self.report_view.value = self.preview.value = ""

    def _set_status(self, text: str) -> None:
        self.status.value = f"<span class='dp-status'>{text}</span>"

    def _log(self, text: str) -> None:
        self.log.append_stdout(time.strftime("%H:%M:%S ") + text + "\n")


def _fmt_limit(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20)):
        if n % size == 0:
            return f"{n // size}{unit}"
    return str(n)

"""``dataprep``: scan | plan | build | report. Each command gathers settings and calls the library.

Exit status: 0 every file ok or skipped on purpose; 1 some files failed (or the run was stopped, also
by an output that could not be written: disk full, read-only);
2 misuse (bad flag, bad config, missing folder); 130 interrupted with Ctrl-C (run again to resume).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import sys
from typing import Any, Sequence

import click

from ._config import BuildConfig
from ._errors import ToolkitError

__all__ = ["main", "cli"]

_BUILD_FLAGS = {  # CLI parameter -> config key
    "input": "inputs",
    "output": "output",
    "op": "op",
    "size": "size",
    "mode": "mode",
    "format": "format",
    "quality": "quality",
    "background": "background",
    "batch_mode": "batch_mode",
    "batch_size": "batch_size",
    "max_memory": "max_memory_percent",
    "jobs": "jobs",
    "memory_limit": "memory_limit",
    "scheduler": "scheduler",
    "scheduler_file": "scheduler_file",
    "force": "force",
    "timeout": "timeout",
    "max_pixels": "max_pixels",
    "allow_truncated": "allow_truncated",
    "dashboard_address": "dashboard_address",
    "fps": "fps",
    "every": "every",
    "count": "count",
    "keyframes": "keyframes",
    "frames": "frames",
    "columns": "columns",
    "max_fps": "max_fps",
    "crf": "crf",
    "audio": "audio",
    "seconds": "seconds",
}


def _settings_options(f):
    opts = [
        click.option("--input", "-i", multiple=True, type=click.Path(), help="Input folder (repeat for several)."),
        click.option("--output", "-o", type=click.Path(), help="Output folder (created; inputs are never written)."),
        click.option("--config", "config_file", type=click.Path(), help="JSON or TOML file of settings; flags override it."),
        click.option(
            "--op", multiple=True, help="thumbnail (default) | resize | frames | poster | contact-sheet | transcode | clip."
        ),
        click.option("--size", help="Output size in pixels: 128 or 640x480."),
        click.option("--mode", type=click.Choice(["fit", "fill", "pad", "exact"]), help="Resize mode (resize, frames, poster)."),
        click.option("--format", type=click.Choice(["jpeg", "jpg", "png", "webp"]), help="Output image format [jpeg]."),
        click.option("--quality", type=int, help="Output quality 1-100 [85]."),
        click.option("--background", help="Colour behind transparent pixels [white]."),
        click.option("--batch-mode", type=click.Choice(["enabled", "disabled"]), help="disabled: one file per task [enabled]."),
        click.option("--batch-size", help="Files per batch, or auto [auto]; always capped by the memory budget."),
        click.option("--max-memory", type=float, help="System memory percent not to pass; above it new batches pause [80]."),
        click.option("--jobs", "-j", type=int, help="Worker processes [one per CPU]."),
        click.option("--memory-limit", help="Memory limit per worker, e.g. 2GiB [share of --max-memory]."),
        click.option("--scheduler", help="Address of an existing Dask scheduler (tcp://host:8786)."),
        click.option("--scheduler-file", type=click.Path(), help="Scheduler file of an existing Dask cluster."),
        click.option("--dashboard-address", help="Where the local dashboard listens [127.0.0.1:8787]."),
        click.option("--force", is_flag=True, default=None, help="Redo every file, even those already done."),
        click.option("--timeout", type=float, help="Time limit per file in seconds [300]."),
        click.option("--max-pixels", type=int, help="Larger images are refused as decompression bombs [89478485]."),
        click.option(
            "--allow-truncated",
            is_flag=True,
            default=None,
            help="Recover truncated images (with a warning) instead of failing them.",
        ),
        click.option("--fps", type=float, help="frames: frames per second to extract."),
        click.option("--every", type=int, help="frames: every Nth frame."),
        click.option("--count", type=int, help="frames: N frames spread evenly."),
        click.option("--keyframes", is_flag=True, default=None, help="frames: keyframes only."),
        click.option("--frames", type=int, help="contact-sheet: number of frames [16]."),
        click.option("--columns", type=int, help="contact-sheet: grid columns [auto]."),
        click.option("--max-fps", type=float, help="transcode: maximum frame rate."),
        click.option("--crf", type=int, help="transcode: H.264 quality, 0-51 (lower is better) [23]."),
        click.option("--audio/--no-audio", default=None, help="transcode: keep or drop audio [keep]."),
        click.option("--seconds", type=float, help="clip: segment length in seconds [10]."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _config_from(params: dict[str, Any]) -> BuildConfig:
    settings: dict[str, Any] = {}
    for flag, key in _BUILD_FLAGS.items():
        v = params.get(flag)
        if v is None or v == ():
            continue
        if flag == "op":
            v = list(v) if len(v) > 1 else v[0]
        settings[key] = list(v) if flag == "input" else v
    cfg_file = params.get("config_file")
    base = BuildConfig.from_file(cfg_file) if cfg_file else BuildConfig()
    return BuildConfig.create(base, **settings)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="dataprep-toolkit")
def cli() -> None:
    """Turn folders of images and videos into ML datasets, in parallel on Dask, within memory limits.

    \b
    dataprep scan photos/
    dataprep plan --input photos/ --memory-limit 1GiB
    dataprep build --input photos/ --output thumbs/ --op thumbnail --size 128
    dataprep report thumbs/
    """


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print counts as JSON.")
def scan(paths: Sequence[str], as_json: bool) -> None:
    """Count media by kind and format, total bytes, and what cannot be read and why."""
    from ._scan import scan as do_scan

    res = do_scan(list(paths))
    if as_json:
        c = res.counts()
        click.echo(
            json.dumps(
                {
                    "files": len(res),
                    "bytes": res.total_bytes,
                    "by_kind": c["kind"],
                    "by_format": c["format"],
                    "left_out": [r.to_row() for r in res.rows],
                },
                indent=2,
            )
        )
    else:
        click.echo(str(res))


@cli.command()
@_settings_options
def plan(**params: Any) -> None:
    """Dry run: print the batches and their estimated memory against the worker limit. Writes nothing."""
    from ._engine import plan as do_plan
    from ._scan import scan as do_scan

    cfg = _config_from(params)
    if not cfg.inputs:
        raise click.UsageError("give at least one --input folder")
    if cfg.output:  # the same checks as build, so a plan never shows a build that would be refused
        from ._engine import validate_paths

        validate_paths(cfg)
    res = do_scan(cfg.inputs, exclude=[cfg.output] if cfg.output else [])
    p = do_plan(res, config=cfg)
    click.echo(str(p))


@cli.command()
@_settings_options
@click.option("--quiet", "-q", is_flag=True, help="No progress bar; only the summary.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
def build(quiet: bool, as_json: bool, **params: Any) -> None:
    """Process every file: outputs mirror the input tree; one manifest row per input file."""
    from ._engine import Run
    from ._progress import TextProgress, log_sink

    cfg = _config_from(params)
    logging.getLogger("toolkit").setLevel(logging.INFO)
    sinks = [log_sink] if quiet else [TextProgress()]
    run = Run(cfg, sinks=sinks).start()
    interrupted = False
    try:
        while not run.wait(0.2):
            pass
    except KeyboardInterrupt:
        interrupted = True
        click.echo("\ndataprep: stopping; finished rows are kept (Ctrl-C again to abandon the running batches)", err=True)
        run.stop(grace=5.0)
        try:
            while not run.wait(0.2):
                pass
        except KeyboardInterrupt:
            run.stop(grace=0.0)
            run.wait(15)
    report = run.result()
    if as_json:
        click.echo(report.to_json())
    else:
        click.echo(str(report), err=False)
    if report.stop_reason:  # stopped by itself: the output could not be written (disk full, read-only, ...)
        click.echo(
            f"dataprep: stopped [{report.stop_reason['type']}]: {report.stop_reason['message']} (manifest: {report.manifest})",
            err=True,
        )
        raise SystemExit(130 if interrupted else 1)
    if interrupted or report.stopped:
        if cfg.force:  # its rerun starts the redo over; without --force, files not reached yet keep their old outputs
            click.echo(
                f"dataprep: interrupted. Run the same command again to redo every file from the start; "
                f"without --force, done files are skipped, and those this run had not reached keep their "
                f"earlier outputs (manifest: {report.manifest}).",
                err=True,
            )
        else:
            click.echo(
                f"dataprep: interrupted. Run the same command again to resume; done files are skipped "
                f"(manifest: {report.manifest}).",
                err=True,
            )
        raise SystemExit(130 if interrupted else 1)
    raise SystemExit(report.exit_code)


@cli.command()
@click.argument("output", type=click.Path(exists=True, file_okay=False))
@click.option("--csv", "csv_path", type=click.Path(), help="Also export the manifest as CSV to this file.")
@click.option("--failed", is_flag=True, help="List every failed file with its reason.")
def report(output: str, csv_path: str | None, failed: bool) -> None:
    """Summarise an output folder's manifest: counts by status and error type."""
    from ._report import report as read_report

    rep = read_report(output)
    click.echo(rep.summary_text())
    state = rep.state_text()
    if state:
        click.echo(state, err=True)
    if failed:
        for line in rep.failure_lines():
            click.echo(line)
    if csv_path:
        try:
            click.echo(f"csv: {rep.to_csv(csv_path)}")
        except OSError as exc:
            raise click.UsageError(
                f"cannot write the CSV to {csv_path}: {exc.strerror or exc}; give a file path in a writable folder (--csv)"
            ) from None
    raise SystemExit(rep.exit_code)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (tests call ``main([...])``)."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="dataprep", standalone_mode=False)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    except click.exceptions.Abort:
        click.echo("dataprep: aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return 2
    except ToolkitError as exc:
        click.echo(f"dataprep: error: {exc}", err=True)
        return 2
    return 0


def run() -> None:
    """Console entry point (``dataprep``, ``python -m toolkit``): :func:`main`, then a quick exit.

    A build leaves dask, distributed, bokeh and numpy loaded, and tearing their objects down at
    interpreter exit costs ~0.4 s of CPU (measured with strace: no system call in between) while
    changing nothing on disk: the manifest and summary are written, synced and closed by then. So
    once the atexit hooks have run (logging, multiprocessing's clean-up) and output is flushed,
    the process ends without that teardown.
    """
    code = main()
    atexit._run_exitfuncs()  # noqa: SLF001 - what a normal exit would run (it may still print)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):  # a closed pipe or stream: nothing left to tell
        pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()

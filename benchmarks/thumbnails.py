"""Thumbnail benchmark: seed 000's loop and process pool vs ``dataprep build``, side by side in one run.

Corpus (made once with a process pool, cached in benchmarks/.cache/thumbs-corpus/ behind a
versioned marker): photo-like JPEGs at quality 90, 60% 1920x1080, 30% 4000x3000, 10% 6000x4000.

Contenders, each started as its own process and timed end to end (``time python script.py``):

* ``loop``    seed 000's single-process loop (benchmarks/baselines/seed000.py): open,
              ``thumbnail((128, 128))``, save JPEG, written into a fresh output folder;
* ``pool``    the same function through seed 000's ``ProcessPoolExecutor().map``;
* ``dask``    the same function through plain Dask (benchmarks/baselines/plain_dask.py): a
              ``LocalCluster`` of one process worker per CPU and a ``dask.bag`` over the files;
              not a target, it shows what the toolkit adds to Dask as a user would first write it;
* ``toolkit`` ``python -m toolkit build --op thumbnail --size 128 --format jpeg --quality 75``;
              its ``summary.json`` gives the cluster start time (included in its total, shown
              apart) and the peak RSS of each worker.

Runs are interleaved (the order rotates every repeat), the corpus is read once beforehand so
every contender meets a warm page cache, and every run gets a fresh output folder, deleted
after. Reported: median seconds, images/second, the toolkit's speed ratios (targets on 2 cores:
>= 1.9x the loop, >= 1.0x the pool), the peak RSS of the largest process of each run, and (on
Linux) the machine's CPU seconds during each run, from /proc/stat, until the last process the run
started is gone: steadier than wall time on a shared machine, and it counts every process a
contender starts. Run nothing else meanwhile.
Results go to benchmarks/results/thumbnails-<date>-<time>.json.

    python benchmarks/thumbnails.py [--files N] [--repeats 3] [--skip-toolkit] [--skip-loop] [--skip-dask]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / ".cache"
CORPUS = CACHE / "thumbs-corpus"
RESULTS = HERE / "results"
SEED = HERE / "baselines" / "seed000.py"
PLAIN_DASK = HERE / "baselines" / "plain_dask.py"
CORPUS_VERSION = 2  # bump when toolkit.synth or the mix changes: the corpus is then remade
CORPUS_SIZE = 1000
TARGETS = {"loop": 1.9, "pool": 1.0}  # toolkit speed / contender speed, on 2 cores

sys.path.insert(0, str(ROOT))


def image_size(i: int) -> tuple[int, int]:
    """Deterministic mix: of every 10 images, 6 are 1920x1080, 3 are 4000x3000, 1 is 6000x4000."""
    k = i % 10
    return (1920, 1080) if k < 6 else (4000, 3000) if k < 9 else (6000, 4000)


def _make_one(i: int) -> int:
    from toolkit._synth import write_photo

    w, h = image_size(i)
    final = CORPUS / f"img{i:05d}.jpg"
    tmp = CORPUS / f".img{i:05d}.{os.getpid()}.tmp"
    write_photo(tmp, w, h, seed=i, fmt="JPEG", quality=90)
    os.replace(tmp, final)  # a new inode: hard links made by earlier runs keep their old bytes
    return final.stat().st_size


def corpus(n: int) -> list[Path]:
    """The first ``n`` corpus files, making the corpus (at least CORPUS_SIZE files) if needed."""
    total = max(n, CORPUS_SIZE)
    marker = CORPUS / f".complete-v{CORPUS_VERSION}-{total}"
    if not marker.exists():
        CORPUS.mkdir(parents=True, exist_ok=True)
        for old in CORPUS.glob(".complete-*"):
            old.unlink()
        t0 = time.perf_counter()
        print(f"making the corpus: {total} JPEGs in {CORPUS} (once) ...", flush=True)
        with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            size = sum(pool.map(_make_one, range(total), chunksize=4))
        seconds = time.perf_counter() - t0
        marker.write_text(json.dumps({"files": total, "bytes": size, "seconds": round(seconds, 1)}))
        print(f"  made {total} files, {size / 2**20:.0f} MiB, in {seconds:.0f} s", flush=True)
    return [CORPUS / f"img{i:05d}.jpg" for i in range(n)]


def _link_input(files: list[Path], dest: Path) -> None:
    """Exactly the chosen files in one flat folder, by hard link (copy if links are not possible)."""
    dest.mkdir(parents=True)
    for f in files:
        try:
            os.link(f, dest / f.name)
        except OSError:
            shutil.copy2(f, dest / f.name)


def _warm(files: list[Path]) -> float:
    t0 = time.perf_counter()
    for f in files:
        with open(f, "rb") as fh:
            while fh.read(1 << 22):
                pass
    return time.perf_counter() - t0


def busy_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (Linux ``/proc/stat``), else None.

    Busy: user, nice, system, irq and softirq time; not idle, iowait, or steal (time the
    hypervisor gave to another virtual machine: not ours, and it varies with the neighbours).
    Guest time is already part of user and nice. Read around a run, it counts every process the
    run starts (fork servers, workers, their children) whether or not anyone waits for them; it
    also counts anything else running, so run nothing else meanwhile. CPU time is far steadier
    than wall time on a shared machine."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            v = [int(x) for x in fh.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
    except (OSError, ValueError):
        return None
    return (sum(v) - v[3] - v[4] - v[7]) / os.sysconf("SC_CLK_TCK")  # all but idle, iowait and steal


def _subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux ``PR_SET_CHILD_SUBREAPER``), so a
    process a run leaves behind (the toolkit's fork server and its workers, once the CLI has exited) is
    reaped here and its CPU time counts in this process's children's rusage. False where unavailable."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


SUBREAPER = _subreaper() if sys.platform.startswith("linux") else False


def _wait_group_gone(pgid: int, timeout: float = 10.0) -> None:
    """Wait until no process of process group ``pgid`` is left (at most ``timeout`` seconds), reaping
    the ones that were handed to this process (as their subreaper) when they exit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        while SUBREAPER:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.02)


def _children_cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def run_timed(cmd: list[str], log: Path, timeout: float) -> tuple[float, int, int, float | None]:
    """Run ``cmd`` in a session (and process group) of its own.

    -> (wall seconds from the start until the command exits, its exit code, peak RSS in bytes of the
    largest process it or its reaped descendants had, machine CPU seconds or None). The CPU reading
    ends only once the command's whole process group is gone (up to 10 s after it exits): the
    toolkit's fork server outlives the CLI by a second or two, and its CPU is the run's, not the
    next contender's, which would otherwise start alongside it. The CPU seconds of the run's own
    processes alone (all of them where this process can be their subreaper: Linux) are left in
    :data:`LAST_TREE_CPU` (steadier than the machine's on a shared machine: other users' work is not in it)."""
    global LAST_TREE_CPU
    c0 = _children_cpu()
    b0 = busy_seconds()
    t0 = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    killer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
    killer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    finally:
        killer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t0
    _wait_group_gone(proc.pid)  # e.g. the toolkit's fork server, still exiting
    b1 = busy_seconds()
    cpu = round(b1 - b0, 2) if b0 is not None and b1 is not None else None
    LAST_TREE_CPU = round(_children_cpu() - c0, 3)
    # ru_maxrss (KiB on Linux) covers the child and the descendants it reaped (pool/dask workers)
    return seconds, proc.returncode, usage.ru_maxrss * 1024, cpu


LAST_TREE_CPU: float | None = None  # set by run_timed


def command(name: str, src: Path, out: Path) -> list[str]:
    if name == "toolkit":
        return [
            sys.executable,
            "-m",
            "toolkit",
            "build",
            "--input",
            str(src),
            "--output",
            str(out),
            "--op",
            "thumbnail",
            "--size",
            "128",
            "--format",
            "jpeg",
            "--quality",
            "75",
            "--dashboard-address",
            "127.0.0.1:0",
            "--quiet",
        ]
    if name == "dask":
        return [sys.executable, str(PLAIN_DASK), str(src), str(out)]
    return [sys.executable, str(SEED), name, str(src), str(out)]


def count_outputs(name: str, out: Path) -> tuple[int, dict]:
    """(number of thumbnails written, toolkit summary or {})."""
    if name == "toolkit":
        summary = json.loads((out / "summary.json").read_text())
        return summary["counts"].get("ok", 0), summary
    return sum(1 for p in out.iterdir() if p.name.endswith("_thumbnail.jpg")), {}


def mib(n: float) -> float:
    return round(n / 2**20, 1)


def save_result(name: str, result: dict) -> Path:
    """Write ``result`` to benchmarks/results/<name>-<date>-<time>.json and say so."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {path.relative_to(ROOT)}")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=CORPUS_SIZE, help="use the first N corpus files [1000]")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each contender [3]")
    ap.add_argument("--skip-toolkit", action="store_true", help="only the two seed-000 baselines")
    ap.add_argument("--skip-loop", action="store_true", help="leave out the (slow) single-process loop")
    ap.add_argument("--skip-dask", action="store_true", help="leave out the plain-Dask version of the seed")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per run before it is killed [1800]")
    ap.add_argument("--no-save", action="store_true", help="do not write benchmarks/results/*.json")
    args = ap.parse_args(argv)
    if args.files < 1 or args.repeats < 1:
        ap.error("--files and --repeats must be positive")

    files = corpus(args.files)
    skip = {"toolkit": args.skip_toolkit, "loop": args.skip_loop, "dask": args.skip_dask}
    names = [n for n in ("loop", "pool", "dask", "toolkit") if not skip.get(n)]
    work = CACHE / "runs" / f"thumbs-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    src = work / "input"
    _link_input(files, src)
    n = len(files)
    size = sum(f.stat().st_size for f in files)
    warm = _warm(files)
    load0 = os.getloadavg()
    print(
        f"corpus: {n} JPEGs, {mib(size):.0f} MiB (warm read {warm:.1f} s); {os.cpu_count()} CPUs; "
        f"load average {load0[0]:.2f}; {args.repeats} repeats, rotating order",
        flush=True,
    )

    runs: dict[str, list[dict]] = {name: [] for name in names}
    try:
        for r in range(args.repeats):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                out = work / f"out-{name}-{r}"
                log = work / f"{name}-{r}.log"
                seconds, rc, maxrss, cpu = run_timed(command(name, src, out), log, args.timeout)
                row: dict = {
                    "seconds": round(seconds, 3),
                    "exit_code": rc,
                    "max_process_rss_mib": mib(maxrss),
                    "machine_cpu_seconds": cpu,
                    "tree_cpu_seconds": LAST_TREE_CPU,
                }
                extra = ""
                try:
                    row["outputs"], summary = count_outputs(name, out)
                except (OSError, KeyError, ValueError) as exc:
                    row["outputs"], summary = 0, {}
                    row["error"] = f"{type(exc).__name__}: {exc}"
                if summary:
                    rss = summary.get("peaks", {}).get("worker_rss", {}) or {}
                    row["cluster_seconds"] = summary.get("cluster_seconds")
                    row["worker_peak_rss_mib"] = {k: mib(v) for k, v in rss.items()}
                    row["counts"] = summary.get("counts")
                    row["batches"] = summary.get("batches")
                    extra = (
                        f"  cluster start {row['cluster_seconds']:.2f} s, "
                        f"peak worker {max(rss.values(), default=0) / 2**20:.0f} MiB"
                    )
                bad = rc != 0 or row["outputs"] != n
                if bad:
                    tail = log.read_text(errors="replace").strip().splitlines()[-5:]
                    row["log_tail"] = tail
                    extra += f"  !! exit {rc}, {row['outputs']}/{n} outputs: " + " | ".join(tail)
                runs[name].append(row)
                cpu_text = f"  CPU {cpu:6.2f} s" if cpu is not None else ""
                print(
                    f"  repeat {r + 1}  {name:<8} {seconds:7.2f} s  {n / seconds:7.1f} img/s{cpu_text}  "
                    f"max RSS {row['max_process_rss_mib']:.0f} MiB{extra}",
                    flush=True,
                )
                shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    result = report(runs, n, size, args)
    result["load_average"] = {"before": load0, "after": os.getloadavg()}
    if not args.no_save:
        save_result("thumbnails", result)
    ok = all(row["exit_code"] == 0 and row["outputs"] == n for rows in runs.values() for row in rows)
    return 0 if ok else 1


def report(runs: dict[str, list[dict]], n: int, size: int, args) -> dict:
    from PIL import __version__ as pillow

    med = {name: statistics.median(r["seconds"] for r in rows) for name, rows in runs.items()}
    cpu = {
        name: statistics.median(c)
        for name, rows in runs.items()
        if (c := [r["machine_cpu_seconds"] for r in rows if r.get("machine_cpu_seconds") is not None])
    }
    print(f"\n{'':<10}{'median s':>10}{'min s':>9}{'max s':>9}{'images/s':>10}{'max RSS MiB':>13}{'median CPU s':>14}")
    for name, rows in runs.items():
        secs = [r["seconds"] for r in rows]
        cpu_text = f"{cpu[name]:>14.2f}" if name in cpu else f"{'-':>14}"
        print(
            f"{name:<10}{med[name]:>10.2f}{min(secs):>9.2f}{max(secs):>9.2f}{n / med[name]:>10.1f}"
            f"{max(r['max_process_rss_mib'] for r in rows):>13.0f}{cpu_text}"
        )
    result: dict = {
        "benchmark": "thumbnails",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "files": n,
        "corpus_mib": mib(size),
        "corpus_version": CORPUS_VERSION,
        "mix": "60% 1920x1080, 30% 4000x3000, 10% 6000x4000, JPEG q90",
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "pillow": pillow,
        "median_seconds": {k: round(v, 3) for k, v in med.items()},
        "images_per_second": {k: round(n / v, 2) for k, v in med.items()},
        "median_machine_cpu_seconds": {k: round(v, 2) for k, v in cpu.items()},
        "runs": runs,
    }
    print()
    if "toolkit" in med:
        ratios = {}
        for base, target in TARGETS.items():
            if base in med:
                ratios[base] = round(med[base] / med["toolkit"], 3)
                verdict = "ok" if ratios[base] >= target else "BELOW TARGET"
                print(f"toolkit speed vs {base:<5}: {ratios[base]:.2f}x  (target >= {target}x)  {verdict}")
        if "dask" in med:
            ratios["dask"] = round(med["dask"] / med["toolkit"], 3)
            print(f"toolkit speed vs dask : {ratios['dask']:.2f}x  (no target: seed 000 on plain Dask)")
        result["toolkit_speedup"] = ratios
        cluster = [r["cluster_seconds"] for r in runs["toolkit"] if r.get("cluster_seconds") is not None]
        peaks = [v for r in runs["toolkit"] for v in r.get("worker_peak_rss_mib", {}).values()]
        if cluster:
            result["toolkit_cluster_start_median"] = statistics.median(cluster)
            print(f"toolkit cluster start (included in its time): median {result['toolkit_cluster_start_median']:.2f} s")
        if peaks:
            result["toolkit_peak_worker_rss_mib"] = max(peaks)
            print(f"toolkit peak worker memory: {max(peaks):.0f} MiB")
    if "loop" in med and "pool" in med:
        result["pool_speedup_vs_loop"] = round(med["loop"] / med["pool"], 3)
        print(f"seed pool speed vs seed loop: {result['pool_speedup_vs_loop']:.2f}x")
    return result


if __name__ == "__main__":
    sys.exit(main())

"""Time the full feature build: segml against plain pandas and hand-written Polars and DuckDB.

For each size the store is generated (or reused from ``benchmarks/data/``), then every
implementation runs in a fresh child process, round-robin for ``--repeats`` rounds. The child
imports its engine first and times only the build itself (reading the Parquet files included);
peak memory is the child's peak resident set (``getrusage``), so each implementation is measured
alone. A watchdog kills any child whose resident memory passes ``--mem-limit`` and records it as
out of memory. Before each run the machine is given up to ``--quiet-timeout`` seconds to become
idle, and the CPU that other processes used during the run is recorded: the figures are only as
good as the machine was quiet.

Results go to ``benchmarks/RESULTS.md`` (the table, the command, the date, the machine and the
library versions) and, raw, to ``benchmarks/out/results.json``. The first run of each
implementation saves its table, and segml's is compared with each hand-written one
(``check_equal.compare``) so the figures are for equal outputs at every size.

    .venv/bin/python benchmarks/run.py --sizes 10M,50M,200M --repeats 3 --skip-pandas-above 50M
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import generate

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
IMPLEMENTATIONS = ("segml", "polars", "duckdb", "pandas")
HAND_WRITTEN_QUERIES = ("polars", "duckdb")
PRELOAD = {
    "segml": ("segml",),
    "polars": ("polars",),
    "duckdb": ("duckdb", "pyarrow"),
    "pandas": ("pandas", "pyarrow.parquet"),
    "segml_table": ("segml",),
    "onepass": ("polars",),
}
GB = 1e9
QUIET = 0.25  # a run is "quiet" when other processes used at most this many cores meanwhile


# --- the child: one implementation, one run ------------------------------------------------------


def child(impl: str, store: str, out: str | None) -> int:
    """Build the features once; print wall seconds and peak RSS as one JSON line."""
    import importlib

    for module in PRELOAD[impl]:
        importlib.import_module(module)
    import baselines

    build = getattr(baselines, f"{impl}_features")
    gc.collect()
    cpu = _own_cpu()
    started = time.perf_counter()
    table = build(Path(store))
    wall = time.perf_counter() - started
    cpu = _own_cpu() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    rows = len(table) if not hasattr(table, "num_rows") else table.num_rows
    if out:
        _write_table(table, out)
    result = {"wall_s": wall, "build_cpu_s": cpu, "peak_rss_bytes": peak, "rows": rows}
    print(json.dumps(result), flush=True)
    return 0


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _write_table(table: Any, path: str) -> None:
    if hasattr(table, "write_parquet"):
        table.write_parquet(path)
    elif hasattr(table, "to_parquet"):
        table.to_parquet(path, index=False)
    else:
        import pyarrow.parquet as pq

        pq.write_table(table, path)


# --- the parent: measuring a child ---------------------------------------------------------------


def _cpu_jiffies() -> tuple[int, int]:
    """(busy, total) CPU jiffies of the whole machine since boot."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def _busy_cores(seconds: float = 1.0) -> float:
    busy0, _ = _cpu_jiffies()
    time.sleep(seconds)
    busy1, _ = _cpu_jiffies()
    return (busy1 - busy0) / os.sysconf("SC_CLK_TCK") / seconds


def wait_until_quiet(max_busy: float, timeout: float) -> float:
    """Wait (up to ``timeout`` s) until the machine uses under ``max_busy`` cores; return usage."""
    deadline = time.monotonic() + timeout
    busy = _busy_cores()
    while busy > max_busy and time.monotonic() < deadline:
        time.sleep(4.0)
        busy = _busy_cores()
    return busy


def available_gb() -> float:
    """Memory the kernel could still hand out (MemAvailable), in GB."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024 / GB
    return float("inf")


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def measure(
    impl: str, store: Path, *, mem_limit: float, timeout: float, out: Path | None
) -> dict[str, Any]:
    """Run one implementation in a fresh process under the memory watchdog."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", impl, str(store)]
    if out is not None:
        cmd.append(str(out))
    busy0, _ = _cpu_jiffies()
    started = time.monotonic()
    # Output goes to files, not pipes: a chatty child can never block on a full pipe.
    with open(OUT / "child.out", "w+") as stdout_f, open(OUT / "child.err", "w+") as stderr_f:
        proc = subprocess.Popen(cmd, stdout=stdout_f, stderr=stderr_f, text=True)
        killed, max_seen = "", 0
        limit_text = f"{mem_limit / GB:.0f} GB"
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            rss = _rss(proc.pid)
            max_seen = max(max_seen, rss)
            if not killed and rss > mem_limit:
                killed = (
                    f"out of memory: RSS reached {rss / GB:.1f} GB, over the {limit_text} limit"
                )
                proc.kill()
            elif not killed and time.monotonic() - started > timeout:
                killed = f"timed out after {timeout:.0f} s"
                proc.kill()
            time.sleep(0.2)
        stdout_f.seek(0)
        stderr_f.seek(0)
        stdout, stderr = stdout_f.read(), stderr_f.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.monotonic() - started
    child_cpu = usage.ru_utime + usage.ru_stime
    other = (_cpu_jiffies()[0] - busy0) / os.sysconf("SC_CLK_TCK") - child_cpu
    result: dict[str, Any] = {
        "impl": impl,
        "elapsed_s": elapsed,
        "process_peak_rss_bytes": usage.ru_maxrss * 1024,
        "cpu_s": child_cpu,
        "other_cores": max(other, 0.0) / elapsed,
    }
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if proc.returncode == 0 and lines:
        result.update(json.loads(lines[-1]))
        result["ok"] = True
    else:
        result["ok"] = False
        result["peak_rss_bytes"] = max(usage.ru_maxrss * 1024, max_seen)
        last = (stderr.strip().splitlines() or [""])[-1].replace("|", "/")[:300]
        result["error"] = killed or f"exit {proc.returncode}: {last}"
    return result


# --- the benchmark -------------------------------------------------------------------------------


def verify(size_label: str, impls: list[str]) -> dict[str, str]:
    """Compare segml's saved table with each hand-written one; 'equal' or the differences."""
    import check_equal
    import polars as pl

    path = {i: OUT / f"features_{size_label}_{i}.parquet" for i in impls}
    if "segml" not in impls or not path["segml"].exists():
        return {}
    reference = pl.read_parquet(path["segml"]).sort("customer_id")
    verdict = {}
    for impl in impls:
        if impl == "segml" or not path[impl].exists():
            continue
        got = pl.read_parquet(path[impl]).sort("customer_id")
        problems = check_equal.compare(reference, got)
        verdict[impl] = "equal" if not problems else "; ".join(problems[:3])
        del got
    for p in path.values():
        p.unlink(missing_ok=True)
    return verdict


def run_size(n: int, args: argparse.Namespace, log: list[dict[str, Any]]) -> dict[str, Any]:
    label = generate.size_label(n)
    store = generate.ensure_store(n, args.seed)
    impls = [i for i in args.impls.split(",") if i]
    guarded = "pandas" in impls and n > args.skip_pandas_above
    if guarded:
        impls.remove("pandas")
    runs: dict[str, list[dict[str, Any]]] = {i: [] for i in impls}
    spent = dict.fromkeys(impls, 0.0)
    for round_ in range(args.repeats):
        for impl in impls:
            if round_ and (spent[impl] > args.time_budget or not runs[impl][-1]["ok"]):
                continue
            out = OUT / f"features_{label}_{impl}.parquet" if round_ == 0 and args.verify else None
            runs[impl].append(_one(impl, store, label, round_, args, out, log))
            spent[impl] += runs[impl][-1]["elapsed_s"]
    if guarded and args.pandas_guard:
        runs["pandas"] = [_one("pandas", store, label, 0, args, None, log, guard=True)]
    elif guarded:
        runs["pandas"] = []
    return {
        "size": n,
        "label": label,
        "store": str(store),
        "runs": runs,
        "verified": verify(label, impls) if args.verify else {},
        "pandas": "guarded" if guarded and args.pandas_guard else "skipped" if guarded else "run",
    }


def _one(
    impl: str,
    store: Path,
    label: str,
    round_: int,
    args: argparse.Namespace,
    out: Path | None,
    log: list[dict[str, Any]],
    *,
    guard: bool = False,
) -> dict[str, Any]:
    busy = wait_until_quiet(args.quiet_cores, args.quiet_timeout)
    at, commit = dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), _commit()
    # Never let a run push the shared machine into the kernel's OOM killer: the limit is also
    # capped at what is free now, less 3 GB of headroom.
    limit = min(args.pandas_guard_limit if guard else args.mem_limit, available_gb() - 3.0)
    result = measure(impl, store, mem_limit=limit * GB, timeout=args.timeout, out=out)
    result["mem_limit_gb"] = limit
    result.update({"size": label, "round": round_, "busy_before_cores": busy, "guarded": guard})
    result.update({"started": at, "segml_commit": commit})
    log.append(result)
    save_results(args, log, [])
    wall = f"{result['wall_s']:8.2f}s" if result["ok"] else f"  FAILED ({result['error'][:70]})"
    print(
        f"  {label:>5s} {impl:7s} round {round_ + 1}: {wall}  peak "
        f"{result['peak_rss_bytes'] / GB:6.2f} GB  (others used {result['other_cores']:.2f} cores)",
        flush=True,
    )
    return result


# --- the report ----------------------------------------------------------------------------------


def counted(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs the figures use: the successful quiet ones, or all successful if none was quiet.

    On a shared machine a run during which other processes kept the cores busy measures them as
    much as the implementation; such runs are recorded but left out when a quiet run exists.
    """
    ok = [r for r in runs if r["ok"]]
    quiet = [r for r in ok if r["other_cores"] <= QUIET]
    return quiet or ok


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in counted(runs)]
    return statistics.median(values) if values else None


def table_rows(size: dict[str, Any]) -> list[list[str]]:
    runs = size["runs"]
    wall = {i: _median(r, "wall_s") for i, r in runs.items()}
    peak = {i: _median(r, "peak_rss_bytes") for i, r in runs.items()}
    fastest = min((wall[i] for i in HAND_WRITTEN_QUERIES if wall.get(i)), default=None)
    pandas_peak = peak.get("pandas")
    rows = []
    for impl in IMPLEMENTATIONS:
        if impl not in runs:
            continue
        r = runs[impl]
        if not r:
            rows.append([size["label"], impl, "skipped", "", "", "", "0", ""])
            continue
        if wall[impl] is None:
            failed = r[-1]
            rows.append(
                [
                    size["label"],
                    impl,
                    f"failed after {failed['elapsed_s']:.0f} s",
                    f">= {failed['peak_rss_bytes'] / GB:.1f}",
                    "",
                    "",
                    str(len(r)),
                    failed["error"],
                ]
            )
            continue
        note = size["verified"].get(impl, "reference" if impl == "segml" else "")
        used = counted(r)
        others = max(x["other_cores"] for x in used)
        noisy = "" if others <= QUIET else "noisy: no quiet run"
        commits = sorted({x.get("segml_commit", "") for x in used} - {""})
        if impl == "segml" and commits:
            note += f" (segml {', '.join(commits)})"
        rows.append(
            [
                size["label"],
                impl,
                f"{wall[impl]:.1f}",
                f"{peak[impl] / GB:.2f}",
                f"{wall[impl] / fastest:.2f}" if fastest else "",
                f"{peak[impl] / pandas_peak:.2f}" if pandas_peak else "",
                f"{len(used)} of {len(r)}",
                "; ".join(x for x in (note, noisy) if x),
            ]
        )
    return rows


def versions() -> dict[str, str]:
    from importlib.metadata import version

    out = {"python": platform.python_version()}
    for lib in ("segml", "polars", "duckdb", "pandas", "narwhals", "pyarrow", "numpy"):
        try:
            out[lib] = version(lib)
        except Exception:
            out[lib] = "?"
    return out


def _machine() -> str:
    with open("/proc/cpuinfo") as f:
        names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    cpu = names[0] if names else platform.processor()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GB
    return f"{os.cpu_count()} CPUs (`nproc` = {os.cpu_count()}), {cpu}, {mem:.0f} GB RAM"


def _commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=HERE,
            text=True,
            capture_output=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "../segml"],
            cwd=HERE,
            text=True,
            capture_output=True,
        ).stdout.strip()
        return head + (" + uncommitted changes in segml/" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "?"


def save_results(args: argparse.Namespace, log: list[dict[str, Any]], sizes: list[Any]) -> None:
    meta = {"command": args.command, "started": args.started, "seed": args.seed}
    payload = {"meta": meta, "log": log, "sizes": sizes}
    (OUT / "results.json").write_text(json.dumps(payload, indent=1))


def write_report(
    sizes: list[dict[str, Any]],
    args: argparse.Namespace,
    command: str,
    started: dt.datetime,
    path: Path,
) -> None:
    header = [
        "events",
        "implementation",
        "median wall s",
        "peak RSS GB",
        "x fastest hand-written",
        "memory x pandas",
        "runs",
        "notes",
    ]
    lines = [
        "# Feature-build benchmark",
        "",
        "Written by `benchmarks/run.py` (`make bench`); do not edit by hand.",
        "",
        f"- command: `{command}`",
        f"- date: {started:%Y-%m-%d %H:%M} UTC; machine: {_machine()}",
        f"- segml commit: {_commit()}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()),
        f"- data: `benchmarks/generate.py`, seed {args.seed}; orders ~ events/10, customers "
        f"~ events/100; cutoff {generate.AS_OF}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    for size in sizes:
        lines += ["| " + " | ".join(row) + " |" for row in table_rows(size)]
    lines += [
        "",
        "Wall time is measured inside a fresh process per run, after imports, and includes "
        "reading the Parquet files; peak RSS is that process's peak resident memory; both are "
        "medians over the runs counted. The machine is shared: a run during which other "
        f"processes used more than {QUIET} cores is recorded in `benchmarks/out/results.json` "
        "but not counted when a quiet run of the same implementation and size exists (*runs* "
        "says how many were counted). *x fastest hand-written* divides by the faster of the "
        "Polars and DuckDB queries at that size; *memory x pandas* divides by the pandas peak. "
        "*equal* means that implementation's table matched segml's at that size (same "
        "customers, columns and nulls; values within 1e-9 relative).",
    ]
    notes = []
    for size in sizes:
        if size["pandas"] == "skipped":
            notes.append(f"{size['label']}: pandas skipped (above --skip-pandas-above).")
        elif size["pandas"] == "guarded":
            r = size["runs"]["pandas"][0]
            outcome = "completed" if r["ok"] else r["error"]
            notes.append(
                f"{size['label']}: pandas run once under a {r['mem_limit_gb']:.0f} GB "
                f"resident-memory guard (killed when its RSS passes it): {outcome}."
            )
    if notes:
        lines += ["", *[f"- {n}" for n in notes]]
    # keep the other benchmarks' sections, which follow the marker and come from their scripts
    tail = ""
    if path.exists() and OTHER_SECTIONS in path.read_text():
        tail = path.read_text().split(OTHER_SECTIONS, 1)[1]
    path.write_text("\n".join(lines) + "\n\n" + OTHER_SECTIONS + tail)


OTHER_SECTIONS = "<!-- other benchmarks: sections below are kept when this file is rewritten -->"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = p.add_argument
    add("--sizes", default="10M,50M,200M", help="events per store (default 10M,50M,200M)")
    add("--repeats", type=int, default=3, help="runs per implementation, median shown (3)")
    add("--impls", default=",".join(IMPLEMENTATIONS), help="which implementations to run")
    add(
        "--skip-pandas-above",
        default="50M",
        type=generate.parse_size,
        help="run pandas normally only up to this size (default 50M)",
    )
    add(
        "--no-pandas-guard",
        dest="pandas_guard",
        action="store_false",
        help="above that size skip pandas instead of running it once under the guard",
    )
    add(
        "--pandas-guard-limit",
        type=float,
        default=20.0,
        help="GB of resident memory the guarded pandas run may use (default 20)",
    )
    add(
        "--mem-limit",
        type=float,
        default=20.0,
        help="GB of resident memory after which any run is killed (default 20)",
    )
    add("--timeout", type=float, default=3600.0, help="seconds per run (default 3600)")
    add(
        "--time-budget",
        type=float,
        default=1800.0,
        help="stop repeating an implementation at a size after this many seconds (1800)",
    )
    add(
        "--quiet-cores",
        type=float,
        default=0.5,
        help="before each run, wait until other processes use fewer cores than this (0.5)",
    )
    add(
        "--quiet-timeout",
        type=float,
        default=300.0,
        help="longest wait for a quiet machine before running anyway, s (300)",
    )
    add(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="do not compare the first run's table of each implementation with segml's",
    )
    add("--seed", type=int, default=0)
    add("--report-from", type=Path, help="only rewrite the report from a saved results.json")
    add("--output", type=Path, default=HERE / "RESULTS.md")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child(argv[1], argv[2], argv[3] if len(argv) > 3 else None)
    args = parse_args(argv)
    if args.report_from:
        return report_from(args)
    OUT.mkdir(exist_ok=True)
    args.command = " ".join(
        shlex.quote(a) for a in [Path(sys.executable).name, "benchmarks/run.py", *argv]
    )
    started = dt.datetime.now(dt.UTC)
    args.started = started.isoformat()
    log: list[dict[str, Any]] = []
    sizes: list[dict[str, Any]] = []
    for text in args.sizes.split(","):
        n = generate.parse_size(text)
        print(f"{generate.size_label(n)} events:", flush=True)
        sizes.append(run_size(n, args, log))
        save_results(args, log, sizes)
        write_report(sizes, args, args.command, started, args.output)
    print(f"wrote {args.output}")
    return 0


def report_from(args: argparse.Namespace) -> int:
    """Write the report again from a saved results.json (e.g. after changing how it reads)."""
    saved = json.loads(args.report_from.read_text())
    meta = saved.get("meta") or {
        "command": "python benchmarks/run.py",
        "started": dt.datetime.fromtimestamp(args.report_from.stat().st_mtime, dt.UTC).isoformat(),
        "seed": args.seed,
    }
    args.seed = meta["seed"]
    started = dt.datetime.fromisoformat(meta["started"])
    write_report(saved["sizes"], args, meta["command"], started, args.output)
    print(f"wrote {args.output} from {args.report_from}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

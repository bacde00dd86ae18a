"""segml's feature build against the one-pass limit, at several store shapes (issue 17).

For each size and shape (events per customer) the store is generated (or reused), then these
builds run in fresh child processes (``run.py --child``), alternated round by round:

- ``segml``: ``segml.build_features`` (the Python API, pandas out);
- ``segml_table``: what ``segml features`` (the CLI) runs: the same build, a Polars table out;
- ``polars``: the hand-written Polars query of exactly segml's features (``baselines.py``);
- ``onepass``: the physical limit: a minimal 46-column table, each table read once, one hash
  aggregation (``baselines.onepass_features``);
- with ``--base-tree DIR``, ``segml_table@base`` (``--base-impls`` for more): the same build
  run from another checkout of segml (e.g. ``git archive`` of the commit before a change), so
  a before/after comparison shares the machine's load.

The machine is shared, so every figure is a ratio of runs made in the same script, side by side:
each round runs every build once (in a rotated order), and the ratios are medians of the
per-round ratios. Both wall time and the child's CPU time of the build are recorded; on a busy
machine the CPU ratio is the steadier one.

    nice -n 10 .venv/bin/python benchmarks/shapes.py --sizes 10M --shapes 5,20,100 --repeats 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import generate
import run

HERE = Path(__file__).resolve().parent
SECTION = "## Store shapes and the one-pass limit (issue 17)"
IMPLS = ("segml", "segml_table", "polars", "onepass")
RATIOS = (
    ("segml", "onepass"),
    ("segml_table", "onepass"),
    ("segml_table", "polars"),
    ("segml", "segml_table"),
    ("segml", "segml@base"),
    ("segml_table", "segml_table@base"),
)


def _run_one(
    impl: str, store: Path, args: argparse.Namespace, out: Path | None = None
) -> dict[str, Any]:
    """One child run; ``name@base`` runs ``name`` with segml imported from the base tree."""
    name, _, tree = impl.partition("@")
    saved = os.environ.get("PYTHONPATH")
    root = args.base_tree if tree else HERE.parent
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), saved) if p)
    try:
        limit = min(args.mem_limit, run.available_gb() - 3.0) * run.GB
        result = run.measure(name, store, mem_limit=limit, timeout=args.timeout, out=out)
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    result["impl"] = impl
    return result


def run_shape(n: int, per_customer: int, args: argparse.Namespace) -> dict[str, Any]:
    store = generate.ensure_store(n, args.seed, per_customer=per_customer)
    impls = [i for i in args.impls.split(",") if i]
    if args.base_tree:
        impls += [f"{i}@base" for i in args.base_impls.split(",") if i in impls]
    rounds = []
    for r in range(args.repeats):
        order = impls[r % len(impls) :] + impls[: r % len(impls)]
        done = {}
        for impl in order:
            saved = run.OUT / f"shape_{impl}.parquet" if r == 0 and impl in SAVED else None
            done[impl] = _run_one(impl, store, args, saved)
            res = done[impl]
            shown = (
                f"{res['wall_s']:6.2f}s cpu {res['build_cpu_s']:6.2f}s" if res["ok"] else "FAILED"
            )
            print(
                f"  {generate.size_label(n)} x{per_customer:<4} {impl:18s} round {r + 1}: {shown}"
                f"  peak {res['peak_rss_bytes'] / run.GB:5.2f} GB"
                f"  (others {res['other_cores']:.1f} cores)",
                flush=True,
            )
        rounds.append(done)
    identical = _identical() if args.base_tree else None
    return {
        "size": n,
        "per_customer": per_customer,
        "impls": impls,
        "rounds": rounds,
        "identical_to_base": identical,
    }


SAVED = ("segml_table", "segml_table@base")


def _identical() -> bool | None:
    """Whether this tree's feature table equals the base tree's exactly (nulls, bits, order).

    Compared in a child process: read here, the two tables would raise this process's peak
    memory, which the next children inherit (``ru_maxrss`` survives ``fork`` and ``exec``).
    """
    paths = [run.OUT / f"shape_{impl}.parquet" for impl in SAVED]
    if not all(p.exists() for p in paths):
        return None
    code = (
        "import sys, polars as pl; a, b = (pl.read_parquet(p) for p in sys.argv[1:]); "
        "print(a.schema == b.schema and a.equals(b))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *map(str, paths)], capture_output=True, text=True, check=True
    )
    for p in paths:
        p.unlink()
    return done.stdout.strip() == "True"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarise(shape: dict[str, Any]) -> dict[str, Any]:
    """Median wall, CPU and peak per build; median per-round ratios of wall and CPU."""
    out: dict[str, Any] = {"builds": {}, "ratios": {}}
    for impl in shape["impls"]:
        ok = [r[impl] for r in shape["rounds"] if r[impl]["ok"]]
        out["builds"][impl] = {
            key: _median([x[key] for x in ok])
            for key in ("wall_s", "build_cpu_s", "peak_rss_bytes")
        }
    for a, b in RATIOS:
        pairs = [(r[a], r[b]) for r in shape["rounds"] if a in r and b in r]
        pairs = [(x, y) for x, y in pairs if x["ok"] and y["ok"]]
        if pairs:
            out["ratios"][f"{a} / {b}"] = {
                key: _median([x[key] / y[key] for x, y in pairs])
                for key in ("wall_s", "build_cpu_s")
            }
    return out


def report(shapes: list[dict[str, Any]], command: str) -> list[str]:
    lines = [
        SECTION,
        "",
        "Written by `benchmarks/shapes.py`; the section is replaced when it runs again.",
        "",
        f"- command: `{command}`",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; segml commit: {run._commit()}",
        "- builds: `segml` = `build_features` (pandas out), `segml_table` = what `segml features`"
        " runs (Polars out), `polars` = hand-written Polars query of segml's exact features, "
        "`onepass` = minimal 46-column table, one read and one hash aggregation per table; "
        "`@base` = the same segml build from the tree given by `--base-tree`.",
        "- ratios are medians over rounds of (a / b) within one round; *cpu* is the build's "
        "CPU time in its child process (steadier on the shared machine), *wall* its wall time.",
        "",
        "| events | per customer | customers | build | wall s | cpu s | peak GB |",
        "|---|---|---|---|---|---|---|",
    ]
    for shape in shapes:
        s = summarise(shape)
        label = generate.size_label(shape["size"])
        for impl, b in s["builds"].items():
            if b["wall_s"] is None:
                continue
            lines.append(
                f"| {label} | {shape['per_customer']} | ~{shape['size'] // shape['per_customer']:,}"
                f" | {impl} | {b['wall_s']:.2f} | {b['build_cpu_s']:.2f} | "
                f"{b['peak_rss_bytes'] / run.GB:.2f} |"
            )
    checked = [s for s in shapes if s.get("identical_to_base") is not None]
    lines += [""] + [
        f"- {generate.size_label(s['size'])}, ~{s['per_customer']} per customer: the feature table "
        f"is {'identical to' if s['identical_to_base'] else 'DIFFERENT from'} the base tree's "
        "(exact equality, nulls and row order included)"
        for s in checked
    ]
    lines += [
        "",
        "| events | per customer | ratio | wall | cpu | rounds |",
        "|---|---|---|---|---|---|",
    ]
    for shape in shapes:
        s = summarise(shape)
        label = generate.size_label(shape["size"])
        for name, r in s["ratios"].items():
            lines.append(
                f"| {label} | {shape['per_customer']} | {name} | {r['wall_s']:.2f} | "
                f"{r['build_cpu_s']:.2f} | {len(shape['rounds'])} |"
            )
    return lines


def write_section(lines: list[str], path: Path) -> None:
    """Put the section into RESULTS.md after the marker, replacing an earlier version of it."""
    text = path.read_text() if path.exists() else run.OTHER_SECTIONS
    head, marker, others = text.partition(run.OTHER_SECTIONS)
    if SECTION in others:
        before, _, after = others.partition(SECTION)
        following = after.find("\n## ")
        others = before + (after[following:] if following >= 0 else "")
    section = "\n".join(lines)
    path.write_text(f"{head}{marker}\n\n{section}\n\n{others.strip(chr(10))}\n")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="10M", help="events per store (10M; add 50M for the big run)")
    p.add_argument("--shapes", default="5,20,100", help="events per customer (5,20,100)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--impls", default=",".join(IMPLS))
    p.add_argument("--base-tree", type=Path, help="a folder holding another segml/ to compare")
    p.add_argument("--base-impls", default="segml_table", help="builds also run from the base")
    p.add_argument("--mem-limit", type=float, default=16.0, help="GB of RSS before a kill (16)")
    p.add_argument("--timeout", type=float, default=900.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = p.parse_args(argv)
    run.OUT.mkdir(exist_ok=True)
    command = " ".join(["python benchmarks/shapes.py", *argv])
    shapes = []
    for size in args.sizes.split(","):
        for pc in args.shapes.split(","):
            print(f"{size} events, ~{pc} per customer:", flush=True)
            shapes.append(run_shape(generate.parse_size(size), int(pc), args))
            (run.OUT / "shapes.json").write_text(json.dumps({"command": command, "shapes": shapes}))
    lines = report(shapes, command)
    print("\n".join(lines))
    write_section(lines, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())

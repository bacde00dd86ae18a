"""Scoring-job benchmark (issue 6): time and peak memory of ``segml score``, the command users run.

    flock /tmp/segml-bench.lock env OMP_WAIT_POLICY=PASSIVE \
        .venv/bin/python benchmarks/scoring_bench.py [--cases 1M:20M,5M:20M] [--reasons] \
        [--baseline GIT_REF]

1. Stores: ``benchmarks/generate.py``'s generator (its ``generate`` and chunk functions, unchanged)
   with the customer population set explicitly instead of ``events / 100``, so 1M customers can
   have 20M events. Cached under ``benchmarks/data/scoring_<customers>c_<events>e_seed0_v2``.
2. Once: ``segml train`` and ``segml cluster`` on a small store (50k customers, 1M events, the
   same generator), registering the champions and the clusterer in a benchmark MLflow store, as
   a user trains on a sample and then scores everyone.
3. Per case: ``segml score --config C --as-of 2024-10-01 --out DIR`` (features, BG/NBD, three
   models, clusterer, drift, the default rule set and audiences, writing, MLflow logging) in a
   fresh child process, ``segml.cli.main`` as the console script calls it. The child samples its
   own resident memory every 20 ms and notes when each step of the job starts and ends (wrappers
   that only time the job's own functions), so the table shows where the time and memory go;
   the parent reads the child's peak RSS from ``os.wait4`` (``ru_maxrss``).

4. With ``--baseline REF``: each case also runs, right before, with segml as of the git commit
   REF (a worktree under ``benchmarks/out/``, first on the child's ``PYTHONPATH``), same store,
   same registered models, same machine minutes; the table gets the ratio of the two.

Targets: 1M customers / 20M events end to end within 180 s; 5M customers within 8 GB peak,
the chunked scoring step not growing with the number of customers. Results are printed and
written to ``benchmarks/out/scoring.json``; figures go into ``benchmarks/RESULTS.md`` by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import generate  # noqa: E402

AS_OF = generate.AS_OF
OUT = ROOT / "benchmarks" / "out" / "scoring"
TRAIN = (50_000, 1_000_000)  # customers, events of the training sample
STEPS = {  # function wrapped in the child -> the step it times
    "segml.scores.backend.model_inputs": "features",
    "segml.scores.backend.score_customers": "predict",
    "segml.jobs.score._clusters": "clusters",
    "segml.jobs.score.monitor": "drift",
    "segml.jobs.score._segment": "segments",
    "segml.jobs.score.log_run": "mlflow",
}


def ensure_store(n_customers: int, n_events: int, seed: int = 0) -> Path:
    """A cached store with ``n_customers`` in the population and ``n_events`` events, written by
    ``generate.generate`` with its population size replaced (it uses ``n_events // 100``)."""
    label = f"{generate.size_label(n_customers)}c_{generate.size_label(n_events)}e"
    path = generate.DATA_DIR / f"scoring_{label}_seed{seed}_v{generate.VERSION}"
    if path.is_dir():
        return path
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    original = generate.make_population
    generate.make_population = lambda _n, s: original(n_customers, s)
    started = time.perf_counter()
    try:
        generate.generate(n_events, seed, tmp)
        os.replace(tmp, path)
    finally:
        generate.make_population = original
    print(f"  generated {path.name} in {time.perf_counter() - started:.0f}s", flush=True)
    return path


def write_config(store: Path, name: str, *, reasons: bool) -> Path:
    """A job config over ``store`` sharing one MLflow store (the registered models)."""
    OUT.mkdir(parents=True, exist_ok=True)
    lines = [
        "data:",
        *[f"  {t}: {{path: {store / t}, format: parquet}}" for t in
          ("orders", "events", "customers")],
        f'training: {{now: "{AS_OF}", cutoffs: 3}}',
        # the job's drift check stays on (its time counts) but does not stop a run: a store
        # with a different customers-to-events ratio than the training sample drifts, by design
        f"scoring: {{reasons_for: {'segmented' if reasons else 'none'}, fail_on_drift: false}}",
        f"segments: {ROOT / 'configs' / 'segments.yaml'}",
        f"tracking_uri: sqlite:///{OUT / 'mlflow.db'}",
        f"output_dir: {OUT / 'runs'}",
    ]  # fmt: skip
    path = OUT / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def train_once() -> None:
    """``segml train`` + ``segml cluster`` on the small store, unless already registered."""
    if (OUT / "trained.json").exists():
        return
    config = write_config(ensure_store(*TRAIN), "train", reasons=False)
    seconds = {}
    for argv in (["train", "--config", str(config)],
                 ["cluster", "--config", str(config), "--as-of", AS_OF]):  # fmt: skip
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "segml.cli", *argv], check=True)
        seconds[argv[0]] = round(time.perf_counter() - started, 1)
    (OUT / "trained.json").write_text(json.dumps({"store": TRAIN, "seconds": seconds}))


def baseline_tree(ref: str) -> Path:
    """A git worktree of segml at ``ref`` (reused when it exists)."""
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", ref], check=True,
                         capture_output=True, text=True).stdout.strip()  # fmt: skip
    tree = OUT.parent / f"baseline-{sha}"
    if not (tree / "segml").is_dir():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-f", "--detach", str(tree),
                        sha], check=True)  # fmt: skip
    return tree


def run_case(
    n_customers: int, n_events: int, *, reasons: bool, tree: Path | None = None
) -> dict[str, Any]:
    """One ``segml score`` in a child process: wall, peak RSS and the child's step report.
    ``tree``: run the segml of that source tree instead of this one."""
    store = ensure_store(n_customers, n_events)
    name = f"{generate.size_label(n_customers)}c_{generate.size_label(n_events)}e"
    name += "_reasons" if reasons else ""
    config = write_config(store, name, reasons=reasons)
    name += f"_{tree.name}" if tree else ""
    report = OUT / f"{name}.steps.json"
    argv = ["score", "--config", str(config), "--as-of", AS_OF, "--out", str(OUT / name)]
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tree), env.get("PYTHONPATH")]))
    load = os.getloadavg()
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "child", str(report), *argv], env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    steps = json.loads(report.read_text())
    manifest = json.loads((OUT / name / f"as_of={AS_OF}" / "_manifest.json").read_text())
    return {
        "case": name, "segml": str(tree or ROOT), "customers": manifest["rows_out"],
        "events": n_events,
        "exit": os.waitstatus_to_exitcode(status), "wall_s": round(wall, 1),
        "peak_rss_gb": round(usage.ru_maxrss / 1e6, 2), "load_before": load,
        "load_after": os.getloadavg(), **steps,
    }  # fmt: skip


def child(report: Path, argv: list[str]) -> int:
    """Run ``segml score`` in this process, sampling RSS and timing the job's steps."""
    import importlib

    samples: list[tuple[float, int]] = []
    page = os.sysconf("SC_PAGE_SIZE")
    done = threading.Event()

    def sample() -> None:
        with open("/proc/self/statm") as statm:
            while not done.is_set():
                statm.seek(0)
                samples.append((time.perf_counter(), int(statm.read().split()[1]) * page))
                time.sleep(0.02)

    spans: list[tuple[str, float, float]] = []
    for dotted, step in STEPS.items():
        module_name, attr = dotted.rsplit(".", 1)
        module = importlib.import_module(module_name)
        setattr(module, attr, _timed(getattr(module, attr), step, spans))
    from segml.cli import main

    threading.Thread(target=sample, daemon=True).start()
    start = time.perf_counter()
    code = main(argv)
    end = time.perf_counter()
    done.set()
    report.write_text(json.dumps(_steps(spans, samples, start, end)))
    return code


def _timed(func: Any, step: str, spans: list[tuple[str, float, float]]) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            spans.append((step, started, time.perf_counter()))

    return wrapper


def _steps(spans: list[tuple[str, float, float]], samples: list[tuple[float, int]],
           start: float, end: float) -> dict[str, Any]:  # fmt: skip
    """Seconds per step, RSS when it started and its peak RSS (GB); the rest (reading and
    validating the tables, loading models, joins, writing the scores) is 'other'."""

    def rss(t0: float, t1: float) -> tuple[float, float]:
        inside = [r for t, r in samples if t0 <= t <= t1] or [0]
        before = [r for t, r in samples if t <= t0] or inside
        return round(before[-1] / 1e9, 2), round(max(inside) / 1e9, 2)

    out: dict[str, dict[str, float]] = {}
    for step, t0, t1 in spans:
        entry = out.setdefault(step, {"seconds": 0.0, "rss_start_gb": rss(t0, t1)[0],
                                      "peak_gb": 0.0})  # fmt: skip
        entry["seconds"] = round(entry["seconds"] + t1 - t0, 1)
        entry["peak_gb"] = max(entry["peak_gb"], rss(t0, t1)[1])
    accounted = sum(e["seconds"] for e in out.values())
    outside = [r for t, r in samples if not any(t0 <= t <= t1 for _, t0, t1 in spans)] or [0]
    return {"job_s": round(end - start, 1), "steps": out,
            "other_s": round(end - start - accounted, 1),
            "other_peak_gb": round(max(outside) / 1e9, 2)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["child"]:
        return child(Path(args[1]), args[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="1.1M:20M,5.5M:20M", help="customers:events, ...")
    parser.add_argument(
        "--reasons",
        action="store_true",
        help="then the first case again with reason codes for segmented customers",
    )
    parser.add_argument(
        "--baseline",
        metavar="GIT_REF",
        help="also run each case with segml as of this commit, just before",
    )
    args_ = parser.parse_args(args)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    train_once()
    cases = [tuple(generate.parse_size(x) for x in c.split(":")) for c in args_.cases.split(",")]
    runs = [(c, e, False) for c, e in cases]
    if args_.reasons:
        runs.append((*cases[0], True))
    tree = baseline_tree(args_.baseline) if args_.baseline else None
    results = []
    for n_customers, n_events, reasons in runs:
        before = run_case(n_customers, n_events, reasons=reasons, tree=tree) if tree else None
        result = run_case(n_customers, n_events, reasons=reasons)
        if before is not None:
            print(json.dumps(before), flush=True)
            results.append(before)
            result["vs_baseline"] = {
                "ref": args_.baseline,
                "wall_ratio": round(result["wall_s"] / before["wall_s"], 2),
                "peak_rss_ratio": round(result["peak_rss_gb"] / before["peak_rss_gb"], 2),
            }
        print(json.dumps(result), flush=True)
        results.append(result)
    (OUT.parent / "scoring.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where segml's feature build spends its time: every query it runs, timed, with its scans.

Wraps ``segml.engine.collect`` and ``materialise`` (several queries at once) where the schema
and feature modules call them (a diagnostic patch of this process only; segml's files are
untouched), runs ``build_features`` on a generated store, and prints one line per call: who
called it, CPU and wall seconds,
and how many Parquet scans of each table its optimised plan contains. CPU seconds are the
steadier figure on a shared machine. ``--no-cse`` runs the same build with Polars'
common-subplan elimination switched off, to see what the shared (cached) scans cost in memory.

    .venv/bin/python benchmarks/profile_segml.py --size 10M [--no-cse] [--per-customer 5]
    .venv/bin/python benchmarks/profile_segml.py --size 10M --by-family

``--by-family`` instead times each step alone, with the builder's own family functions:
validation (``prepare``), fitting (top categories, cutoff checks), each family's queries, and
the whole ``transform_table`` (the families' queries plus the joins of their results).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import traceback
from typing import Any

import baselines
import generate

MODULES = (
    "segml.schema.prepare",
    "segml.schema.text",
    "segml.schema",
    "segml.features.affinity",
    "segml.features.builder",
)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="10M", help="events in the store (default 10M)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-cse", action="store_true", help="turn off comm_subplan_elim")
    parser.add_argument("--per-customer", type=int, default=generate.PER_CUSTOMER)
    parser.add_argument("--by-family", action="store_true", help="time each family alone")
    args = parser.parse_args(argv)
    n = generate.parse_size(args.size)
    store = generate.ensure_store(n, args.seed, per_customer=args.per_customer)
    if args.by_family:
        return by_family(store)

    import polars as pl

    import segml.engine

    original = segml.engine.collect
    log: list[tuple[str, float, float, float, dict[str, int]]] = []

    def collect(lf: Any) -> Any:
        frames = traceback.extract_stack(limit=3)[:-1]
        where = " <- ".join(f"{f.name}:{f.lineno}" for f in reversed(frames))
        native = lf.to_native() if hasattr(lf, "to_native") else None
        plan = native.explain(engine="streaming") if isinstance(native, pl.LazyFrame) else ""
        scans = {t: plan.count(f"/{t}/part-0000.parquet") for t in ("events", "orders")}
        cpu, wall = _cpu(), time.perf_counter()
        if args.no_cse and isinstance(native, pl.LazyFrame):
            flags = pl.QueryOptFlags(comm_subplan_elim=False)
            out = native.collect(engine="streaming", optimizations=flags)
        else:
            out = original(lf)
        log.append((where, _cpu() - cpu, time.perf_counter() - wall, _peak_gb(), scans))
        return out

    original_all = segml.engine.materialise

    def materialise(frames: list[Any], **options: Any) -> Any:
        frames_ = traceback.extract_stack(limit=3)[:-1]
        where = " <- ".join(f"{f.name}:{f.lineno}" for f in reversed(frames_))
        where += f" [{len(frames)} queries]"
        natives = [f.to_native() for f in frames]
        plans = [n.explain(engine="streaming") for n in natives if isinstance(n, pl.LazyFrame)]
        plan = "".join(plans)
        scans = {t: plan.count(f"/{t}/part-0000.parquet") for t in ("events", "orders")}
        cpu, wall = _cpu(), time.perf_counter()
        out = original_all(frames, **options)
        log.append((where, _cpu() - cpu, time.perf_counter() - wall, _peak_gb(), scans))
        return out

    for name in MODULES:
        module = sys.modules[name]
        module.collect = collect  # type: ignore[attr-defined]
        if hasattr(module, "materialise"):
            module.materialise = materialise  # type: ignore[attr-defined]
    cpu, wall = _cpu(), time.perf_counter()
    baselines.segml_features(store)
    cpu, wall = _cpu() - cpu, time.perf_counter() - wall
    print(f"segml.build_features on {generate.size_label(generate.parse_size(args.size))} events"
          f"{' (no CSE)' if args.no_cse else ''}: wall {wall:.1f}s, CPU {cpu:.1f}s, "
          f"{len(log)} collect() calls, peak RSS {_peak_gb():.2f} GB")  # fmt: skip
    print(f"  {'CPU s':>7} {'wall s':>7} {'peak GB':>7}  scans events/orders  caller")
    for where, c, w, peak, scans in log:
        print(
            f"  {c:7.2f} {w:7.2f} {peak:7.2f}  {scans['events']:>6}/{scans['orders']:<6}  {where}"
        )
    totals = {t: sum(entry[4][t] for entry in log) for t in ("events", "orders")}
    print(f"  Parquet scans in all: events {totals['events']}, orders {totals['orders']}")
    return 0


def by_family(store: Any) -> int:
    """CPU and wall seconds of each step of the build, run alone (the families' queries as
    ``FeatureBuilder._plan`` builds them, collected one family at a time)."""
    import narwhals.stable.v2 as nw

    from segml.engine import collect, materialise
    from segml.features import FeatureBuilder
    from segml.features.affinity import affinity_frames, affinity_view_aggs
    from segml.features.attributes import attribute_frames
    from segml.features.engagement import engagement_aggs, engagement_frames
    from segml.features.intent import intent_aggs, last_purchase
    from segml.features.rfm import rfm_frames
    from segml.schema import prepare

    def timed(label: str, run: Any) -> Any:
        cpu, wall = _cpu(), time.perf_counter()
        out = run()
        print(f"  {label:44s} CPU {_cpu() - cpu:6.2f} s  wall {time.perf_counter() - wall:6.2f} s")
        return out

    tables = {t: str(store / t) for t in ("orders", "events", "customers")}
    print(f"each step alone on {store.name}:")
    shop = timed("validation (prepare: parse, checks, quality)", lambda: prepare(tables))
    builder = timed("fit (cutoff checks, top categories)", lambda: _fit(FeatureBuilder(), shop))
    cut = shop.check_cutoff(baselines.AS_OF)
    cats = builder.categories_
    past = shop.events.filter(nw.col("t") < cut)
    rfm = rfm_frames(shop.orders, cut, windows_days=[7, 30, 90, 365])
    timed("rfm (order level, gaps, windows, returns)", lambda: materialise(rfm))
    views = past.group_by("customer_id").agg(*affinity_view_aggs(cats))
    timed("affinity (spend shares, entropy, view shares)", lambda: materialise(
        [*affinity_frames(shop.orders, cut, categories=cats), views]))  # fmt: skip
    engaged = past.group_by("customer_id").agg(*engagement_aggs(cut, window=90))
    timed("engagement (counts, sessions, active days)", lambda: materialise(
        [engaged, *engagement_frames(past, cut, window=90)]))  # fmt: skip

    def intent() -> Any:
        bought = materialise([last_purchase(shop.orders, shop.events, cut)])[0]
        per_event = past.join(bought, on="customer_id", how="left")
        return collect(per_event.group_by("customer_id").agg(*intent_aggs(cut, window=30)))

    timed("intent (last purchase, since-purchase counts)", intent)
    timed("attributes", lambda: materialise(attribute_frames(shop.customers, cut)))
    timed("transform_table (all families + joins)", lambda: builder.transform_table(
        shop, as_of=baselines.AS_OF))  # fmt: skip
    return 0


def _fit(builder: Any, shop: Any) -> Any:
    return builder.fit(shop, as_of=baselines.AS_OF)


if __name__ == "__main__":
    sys.exit(main())

"""How long the platform destinations take to plan their files (normalise, hash, count) for a
large customer base: the cost a scoring run pays for `google_ads`, `meta`, `email_list` and
`warehouse` beside the plain Parquet audiences.

    python benchmarks/audiences_bench.py --customers 1000000

The customers get the synthetic store's fake contact details (``segml.datasets._contacts``:
dirt included, phones for the GB and US customers) and one segment with the ``email`` and
``ads`` channels, gated on a 70% email opt-in, a tenth held out: the ad destinations see about
63% of the customers, the email list the same. Each destination is planned alone
(``segml.exports.dry_run``: everything but the file writes), after the segmentation, which is
timed separately. Prints a Markdown table to paste into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import polars as pl

from segml.datasets._contacts import contact_columns
from segml.exports import dry_run
from segml.segments import Segmenter

RULES = {
    "channels": {"email": "attr__email_consent", "ads": "attr__email_consent"},
    "control": {"salt": "bench", "share": 0.1},
    "segments": [
        {"name": "all", "priority": 1, "when": "rfm__frequency >= 0", "channels": ["email", "ads"]}
    ],
}
DESTINATIONS = {
    "parquet": {"type": "parquet"},
    "google_ads": {"type": "google_ads"},
    "meta": {"type": "meta"},
    "email_list": {"type": "email_list", "properties": ["segment", "score__purchase"]},
    "warehouse": {"type": "warehouse", "properties": ["score__purchase"]},
}
BOTH = [DESTINATIONS["google_ads"], DESTINATIONS["meta"]]  # one run: numbers parsed once


def _data(n: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(0)
    country = np.array(["GB", "US", "DE", "FR"], dtype=object)[rng.integers(0, 4, n)]
    ids = [f"C{i:08d}" for i in range(n)]
    table = pl.DataFrame(
        {
            "customer_id": ids,
            "rfm__frequency": rng.integers(0, 10, n).astype(float),
            "attr__email_consent": (rng.random(n) < 0.7).astype(float),
            "attr__country": country,
            "score__purchase": rng.random(n),
        }
    )
    details = contact_columns(rng, country)
    contacts = pl.DataFrame(
        [pl.Series("customer_id", ids)]
        + [pl.Series(k, v.tolist(), dtype=pl.String) for k, v in details.items()]
    )
    return table, contacts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    n = parser.parse_args().customers
    table, contacts = _data(n)
    started = time.perf_counter()
    result = Segmenter(rules=RULES).fit_segment(table, carry=table.columns[1:])
    print(f"segmentation of {n:,} customers: {time.perf_counter() - started:.1f} s")
    print("| destination | files | rows written | excluded | plan s |")
    print("|---|---|---|---|---|")
    for name, spec in DESTINATIONS.items():
        started = time.perf_counter()
        plan, _ = dry_run(result, destinations=[spec], contacts=contacts)
        took = time.perf_counter() - started
        excluded = " ".join(x for x in plan["excluded"].to_list() if x) or "-"
        print(f"| {name} | {plan.height} | {plan['rows'].sum():,} | {excluded} | {took:.1f} |")
    started = time.perf_counter()
    plan, _ = dry_run(result, destinations=BOTH, contacts=contacts)
    took = time.perf_counter() - started
    print(
        f"| google_ads + meta in one run | {plan.height} | {plan['rows'].sum():,} | | {took:.1f} |"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"peak RSS {peak:.2f} GB")


if __name__ == "__main__":
    main()

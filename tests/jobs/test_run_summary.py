"""The end-of-run summary of ``segml run``: what needs attention, from small fake results shaped
as the jobs return them (outcomes, the manifest, the segment report, the cluster quality)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from segml.jobs.summary import RunSummary, attention_items, run_summary


def _outcome(target: str, verdicts: dict[str, str], *, promote: bool = True, beats: bool = True):
    comps = {
        who: {"primary": SimpleNamespace(verdict=v, metric="roc_auc")}
        for who, v in verdicts.items()
    }
    decision = SimpleNamespace(
        promote=promote, reason="loses to the rfm baseline", comparisons=comps
    )
    result = SimpleNamespace(target=target, beats_baselines=beats)
    return SimpleNamespace(result=result, decision=decision)


MANIFEST = {
    "rows_out": 4362,
    "models_skipped": ["value"],
    "drift": {"fail": 2, "warn": 1, "ok": 40, "max_psi": 4.39},
    "warnings": [
        {"model": "purchase", "column": "btyd__p_alive", "status": "fail"},
        {"model": "lapse", "column": "btyd__p_alive", "status": "fail"},
        {"model": "value", "column": "rfm__frequency", "status": "warn"},
    ],
}
SEGMENTS = {
    "notes": [
        "email consent is read from attr__email_consent, which is not in the data (pass a "
        "customers table with that flag): nobody counts as consenting to email, so ['at_risk'] "
        "get no email audience.",
        "segment 'browse_beauty' skipped (optional): the data has no ['intent__product_views_7d']",
        "segment 'reactivated' is too small to test: ...",
    ],
    "segments": [
        {"segment": "browse_beauty", "members": 0, "audience": {"email": 0}, "flags": ["skipped"]},
        {"segment": "at_risk", "members": 1342, "audience": {"email": 0}, "flags": ["untestable"],
         "reachable_treatment": 0},
        {"segment": "reactivated", "members": 379, "audience": {"onsite": 338},
         "flags": ["untestable"], "reachable_treatment": 338},
        {"segment": "prospects", "members": 28, "audience": {"onsite": 28},
         "flags": ["too_small"], "reachable_treatment": 28},
    ],
}  # fmt: skip
QUALITY = {
    "k": 3,
    "silhouette": 0.165,
    "weak_structure": False,
    "warnings": ["k = 3 is the smallest k searched (k_range 3..10): widen it."],
}
PROFILE = pd.DataFrame(
    {
        "cluster__name": ["all customers", "high-value frequent buyers", "one-time buyers"],
        "share": [1.0, 0.485, 0.515],
    }
)


def test_attention_names_what_a_user_must_know() -> None:
    items = attention_items(
        outcomes=[
            _outcome("purchase", {"rfm": "beats", "btyd": "ties"}),
            _outcome("lapse", {"rfm": "beats", "btyd": "beats"}),
            _outcome("value", {"rfm": "loses", "btyd": "beats"}, promote=False, beats=False),
        ],
        manifest=MANIFEST | {"outputs": {"notes": ["P(alive) carries no information here."]}},
        segments=SEGMENTS,
        cluster_quality=QUALITY,
        cluster_profile=PROFILE,
    )
    text = "\n".join(items)
    assert "P(alive) carries no information here." in items  # the lifetime outputs' notes
    assert "model purchase only ties btyd on roc_auc" in text
    assert "lapse" not in text.split("drift")[0]  # a model that beats both is not listed
    assert "model value loses to rfm on roc_auc beyond the noise" in text
    assert "model value was not promoted: loses to the rfm baseline." in text
    assert "not scored (no champion model): value." in text
    assert "2 column/model pairs beyond the failure threshold: btyd__p_alive" in text
    assert "(max PSI 4.39)" in text
    assert "every email audience is empty: the consent column attr__email_consent is not" in text
    assert "1 segments skipped, their columns are not in the data" in text
    assert "untestable segments (no control group large enough to measure a lift): " \
        "at_risk (0 reachable), reactivated." in text  # fmt: skip
    assert "segments below their minimum size: prospects (28)." in text
    assert "k = 3 is the smallest k searched" in text
    assert "cluster silhouette 0.165 (< 0.25): the 3 clusters overlap a lot" in text
    assert "cluster 'high-value frequent buyers' holds 48.5% of the customers" in text
    assert "one-time buyers" not in text  # no selective word in its name


def test_nothing_to_say_when_all_is_well() -> None:
    items = attention_items(
        outcomes=[_outcome("purchase", {"rfm": "beats", "btyd": "beats"})],
        manifest={"drift": {"ok": 10}, "warnings": []},
        segments={"notes": [], "segments": []},
        cluster_quality={"k": 5, "silhouette": 0.31, "weak_structure": False, "warnings": []},
        cluster_profile=pd.DataFrame({"cluster__name": ["high-value"], "share": [0.1]}),
    )
    assert items == []
    text = RunSummary({"train": 53.04, "cluster": 7.3}, [("report", "r.html")]).text()
    assert text.splitlines()[0] == "done in 60s (train 53s, cluster 7.3s)"
    assert text.endswith("needs attention: nothing")


def test_run_summary_reads_the_partition(tmp_path: Path) -> None:
    part = tmp_path / "as_of=2011-12-10"
    (part / "segments").mkdir(parents=True)
    (part / "segments" / "report.json").write_text(json.dumps(SEGMENTS))
    result = {
        "partition": part,
        "report": part / "report.html",
        "manifest": {**MANIFEST, "models_skipped": []},
        "outcomes": [],
        "clusters": SimpleNamespace(model=SimpleNamespace(quality_=QUALITY, profile_=PROFILE)),
        "tracking_uri": "sqlite:///x/mlflow.db",
        "seconds": {"load data": 5.0, "train": 53.0, "cluster": 7.3, "score and report": 8.4},
    }
    text = run_summary(result).text()
    assert "done in 74s (load data 5.0s, train 53s, cluster 7.3s, score and report 8.4s)" in text
    assert f"scores:    {part / 'scores.parquet'} (4,362 customers)" in text
    where = part / "segments" / "audiences"
    assert f"audiences: {where} (2 segments with someone to contact)" in text
    assert "needs attention (8):" in text
    assert "MLflow UI: mlflow ui --backend-store-uri sqlite:///x/mlflow.db" in text

"""`segml score`: models from the registry, one partition per date, documented exit codes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from segml.cli import main
from segml.io import exclusive_lock, resolve_published
from tests.jobs.fixtures import shop_config, trained_shop

pytestmark = pytest.mark.xdist_group("score-job")
ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2024-11-01"


LINES = (
    'training: {now: "2024-10-01", cutoffs: 2, lightgbm: {n_estimators: 40}}',
    f"segments: {ROOT / 'configs' / 'segments.yaml'}",
)


def _config(folder: Path, name: str = "shop.yaml", **extra: str) -> Path:
    return shop_config(folder, *LINES, *[f"{k}: {v}" for k, v in extra.items()], name=name)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # tiny data: a model may lose to its baselines and get no champion; score the others
    return trained_shop(tmp_path_factory.mktemp("shop"), *LINES, "scoring: {missing_model: skip}",
                        customers=1500, seed=11)  # fmt: skip


def test_score_writes_partition_and_reruns_identically(trained: Path) -> None:
    out = trained / "scores"
    argv = ["score", "--config", str(trained / "shop.yaml"), "--as-of", AS_OF, "--out", str(out)]
    assert main(argv) == 0
    part = out / f"as_of={AS_OF}"
    names = sorted(p.name for p in part.iterdir())
    assert names == ["_manifest.json", "drift.csv", "scores.parquet", "segments"]
    scores = pl.read_parquet(part / "scores.parquet")
    assert scores["customer_id"].n_unique() == scores.height > 1000
    manifest = json.loads((part / "_manifest.json").read_text())
    scored = set(manifest["models"])
    assert "purchase" in scored and scored | set(manifest["models_skipped"]) == {
        "purchase", "lapse", "value"}  # fmt: skip
    for target in scored & {"purchase", "lapse"}:
        assert scores[f"score__{target}"].is_between(0, 1).all()
        assert set(scores[f"decile__{target}"].unique()) <= set(range(1, 11))
    if "value" in scored:
        assert (scores["score__value"] >= 0).all()
    assert scores["cluster__name"].null_count() == 0
    first = _files(part)
    assert main(argv) == 0
    again = _files(part)
    assert again["scores.parquet"] == first["scores.parquet"]
    assert _stable(again) == _stable(first)  # all but the timings and write times
    rerun = json.loads(again["_manifest.json"])
    assert rerun["content_sha256"] == manifest["content_sha256"]
    assert rerun["execution"] != manifest["execution"]
    assert set(rerun["execution"]) == {"seconds", "written_at"}
    assert sorted(rerun["files"]) == sorted(k for k in first if k != "_manifest.json")


def test_score_over_a_partition_with_a_report_rebuilds_it(small: Path, tmp_path: Path) -> None:
    """``segml run`` leaves report.html in the partition; ``segml score`` over it must not drop
    it: the report is rebuilt inside the new version, before it is published."""
    out = tmp_path / "scores"
    shutil.copytree(small / "base", out, symlinks=True)
    part = out / f"as_of={AS_OF}"
    config = small / "shop.yaml"
    assert main(["report", "--run", str(part), "--config", str(config)]) == 0
    old = resolve_published(part)
    assert (old / "report.html").is_file()
    assert main(_score_argv(config, out)) == 0
    new = resolve_published(part)
    assert new != old and (new / "report.html").is_file()
    assert f"run {part}" in (new / "report.html").read_text()  # named by the partition
    assert (new / "report.html").stat().st_mtime > (old / "report.html").stat().st_mtime
    fresh = tmp_path / "fresh"
    assert main(_score_argv(config, fresh)) == 0  # a partition without a report gets none
    assert not (fresh / f"as_of={AS_OF}" / "report.html").exists()


def test_missing_champion_exits_4(trained: Path, tmp_path: Path, capsys) -> None:
    for name in ("orders", "events", "customers"):
        shutil.copy(trained / f"{name}.csv", tmp_path)
    config = _config(tmp_path)  # a fresh, empty registry under tmp_path/runs
    from segml.tracking import default_tracking_uri, find_model

    # an existing store without models (with no store at all the job says "no tracking store")
    find_model(tracking_uri=default_tracking_uri(tmp_path / "runs"), name="x", alias="champion")
    assert main(["score", "--config", str(config), "--as-of", AS_OF,
                 "--out", str(tmp_path / "s")]) == 4  # fmt: skip
    err = capsys.readouterr().err
    assert "no 'champion' model for ['purchase', 'lapse', 'value']" in err
    assert "segml train" in err and "Traceback" not in err


def test_renamed_input_column_exits_3(trained: Path, tmp_path: Path, capsys) -> None:
    for name in ("events", "customers"):
        shutil.copy(trained / f"{name}.csv", tmp_path)
    orders = pl.read_csv(trained / "orders.csv").rename({"order_time": "ordered_at"})
    orders.write_csv(tmp_path / "orders.csv")
    config = _config(tmp_path, tracking_uri=f"sqlite:///{trained / 'runs' / 'mlflow.db'}",
                     scoring="{missing_model: skip}")  # fmt: skip
    code = main(["score", "--config", str(config), "--as-of", AS_OF, "--out", str(tmp_path / "s")])
    assert code == 3
    assert "orders is missing required columns ['order_time']" in capsys.readouterr().err
    assert not (tmp_path / "s" / f"as_of={AS_OF}").exists()


# -- kills at each step of the job: the real command line in a child process ------------------


@pytest.fixture(scope="module")
def small(trained: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained shop's first 300 customers, scored with its models: the cheapest real job
    (drift on so few customers is noise: not a failure here)."""
    folder = tmp_path_factory.mktemp("small")
    ids = pl.read_csv(trained / "customers.csv")["customer_id"].sort()[:300]
    for name in ("orders", "events", "customers"):
        table = pl.read_csv(trained / f"{name}.csv", infer_schema=False)
        table.filter(pl.col("customer_id").is_in(ids.implode())).write_csv(folder / f"{name}.csv")
    uri = f"sqlite:///{trained / 'runs' / 'mlflow.db'}"
    _config(folder, tracking_uri=uri, scoring="{missing_model: skip, fail_on_drift: false}")
    assert main(_score_argv(folder / "shop.yaml", folder / "base")) == 0
    return folder


def test_score_segments_once_and_exports_to_a_destination_from_config(
    small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rule set is evaluated once per job (it was twice: for the reason codes, then for the
    audiences), and the audiences go to every destination under ``exports:``, here the JSON-lines
    destination the test module tests/exports/test_destinations.py registers."""
    import segml.segments.segmenter as segmenter
    from tests.exports.test_destinations import JsonLines

    calls = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return consent_states(*args, **kwargs)

    consent_states = segmenter.consent_states  # called once per segmentation
    monkeypatch.setattr(segmenter, "consent_states", counted)
    uri = json.loads((small / "base" / f"as_of={AS_OF}" / "_manifest.json").read_text())[
        "tracking_uri"
    ]
    jsonl = "{type: " + JsonLines.type + ", fields: [customer_id, control, rfm__frequency]}"
    exports = "{destinations: [{type: parquet}, {type: csv}, " + jsonl + "]}"
    config = _config(small, name="jsonl.yaml", tracking_uri=uri, exports=exports,
                     scoring="{missing_model: skip, fail_on_drift: false}")  # fmt: skip
    assert main(_score_argv(config, tmp_path / "out")) == 0
    assert len(calls) == 1
    base = _files(small / "base" / f"as_of={AS_OF}" / "segments")
    got = _files(tmp_path / "out" / f"as_of={AS_OF}" / "segments")
    audiences = sorted(k for k in base if k.startswith("audiences/"))
    assert audiences and all(got[k] == base[k] for k in audiences)  # the same Parquet and CSV
    lines = sorted(k for k in got if k.startswith("jsonl/"))
    assert [k.removeprefix("jsonl/").removesuffix(".jsonl") for k in lines] == [
        k.removeprefix("audiences/").removesuffix(".csv") for k in audiences if k.endswith(".csv")
    ]
    manifest = json.loads(got["_manifest.json"])
    assert set(manifest["exports"]) == {"jsonl"} and manifest["exports"]["jsonl"]["held_out"] > 0
    first = json.loads(next(got[k] for k in lines if got[k]).decode().splitlines()[0])
    assert set(first) == {"customer_id", "control", "rfm__frequency"}  # read for the destination
    partition = json.loads((tmp_path / "out" / f"as_of={AS_OF}" / "_manifest.json").read_text())
    assert set(partition["segments"]) >= set(lines)


def test_score_writes_platform_audiences_and_no_personal_data_elsewhere(
    small: Path, trained: Path, tmp_path: Path
) -> None:
    """The synthetic store's fake contact details reach the ad-platform and email-list files
    (hashed where the platform wants hashes) and nothing else: not the scores, not the
    warehouse table, not the tracking store or its artifacts, not the training runs."""
    uri = json.loads((small / "base" / f"as_of={AS_OF}" / "_manifest.json").read_text())[
        "tracking_uri"
    ]
    kinds = ["parquet", "google_ads", "meta", "email_list", "warehouse"]
    exports = "{destinations: [" + ", ".join(f"{{type: {k}}}" for k in kinds) + "]}"
    config = _config(small, name="platforms.yaml", tracking_uri=uri, exports=exports,
                     scoring="{missing_model: skip, fail_on_drift: false}")  # fmt: skip
    assert main(_score_argv(config, tmp_path / "out")) == 0
    part = tmp_path / "out" / f"as_of={AS_OF}"
    manifest = json.loads((part / "segments" / "_manifest.json").read_text())
    rows = {k: v["rows"] for k, v in manifest["files"].items()}
    for prefix in ("google_ads/", "meta/", "email_platform/", "warehouse/"):
        assert sum(n for k, n in rows.items() if k.startswith(prefix)) > 0, prefix
    assert manifest["exports"]["google_ads"]["excluded"]["no_identifier"] > 0  # dirt, counted
    customers = pl.read_csv(small / "customers.csv", infer_schema=False)
    emails = [e.strip().lower() for e in customers["email"].drop_nulls() if "@" in e]
    phones = [p for p in customers["phone"].drop_nulls()]
    assert len(emails) > 200 and len(phones) > 50
    raw = [e.encode() for e in emails] + [p.encode() for p in phones]
    allowed = {"email_platform"}  # the email platform's import holds addresses by design
    folders = [part, trained / "runs"]
    checked = 0
    for path in (p for f in folders for p in f.rglob("*") if p.is_file()):
        if allowed & set(path.relative_to(part if part in path.parents else trained).parts):
            continue
        data = path.read_bytes().lower()
        assert not [r for r in raw if r.lower() in data], path
        checked += 1
    assert checked > 20
    scores = pl.read_parquet(part / "scores.parquet")
    assert not {"email", "phone", "first_name", "last_name", "postal_code"} & set(scores.columns)


def _score_argv(config: Path, out: Path) -> list[str]:
    return ["score", "--config", str(config), "--as-of", AS_OF, "--out", str(out)]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _stable(files: dict[str, bytes]) -> dict[str, Any]:
    """What identical reruns share: every file's bytes but the manifest's and the segment
    manifest's, and the manifests without their write times."""
    manifests = {k: json.loads(v) for k, v in files.items() if k.endswith("_manifest.json")}
    manifests["_manifest.json"].pop("execution")
    manifests["segments/_manifest.json"].pop("written_at")
    return {**files, **manifests}


def _killed_score(config: Path, out: Path, step: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SEGML_FAULT": step, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "segml.cli", *_score_argv(config, out)],
                          env=env, capture_output=True, text=True, check=False)  # fmt: skip


def _only_the_published_partition(out: Path) -> None:
    part = out / f"as_of={AS_OF}"
    assert sorted(p.name for p in out.iterdir()) == [f".{part.name}.lock", ".versions", part.name]
    versions = sorted(os.listdir(out / ".versions" / part.name))
    assert len(versions) <= 2 and all(v.isdigit() for v in versions), versions  # live + previous
    assert resolve_published(part).name == versions[-1]


STEPS = ["score:before_write", "score:mid_write", "score:manifest", "publish:between_renames",
         "publish:after_pointer", "score:mlflow"]  # fmt: skip


@pytest.mark.parametrize("step", STEPS)
def test_a_kill_at_each_step_keeps_a_complete_partition(small: Path, tmp_path: Path, step: str):
    """SIGKILL at each named step (SEGML_FAULT, docs/reliability.md): the partition is the
    previous one or the new one, complete; the next run succeeds and leaves nothing behind."""
    out = tmp_path / "scores"
    shutil.copytree(small / "base", out, symlinks=True)
    part = out / f"as_of={AS_OF}"
    before = _files(part)
    killed = _killed_score(small / "shop.yaml", out, step)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    after = _files(part)
    if step in ("publish:after_pointer", "score:mlflow"):  # the new version went live
        assert after != before and _stable(after) == _stable(before)
    else:
        assert after == before
    assert main(_score_argv(small / "shop.yaml", out)) == 0
    assert _stable(_files(part)) == _stable(before)
    _only_the_published_partition(out)


def test_killed_between_renames_then_a_broken_rule_set_keeps_the_partition(
    small: Path, tmp_path: Path, capsys
) -> None:
    """Issue 13's reproduction: the old two-rename swap lost the partition here."""
    out = tmp_path / "scores"
    shutil.copytree(small / "base", out, symlinks=True)
    part = out / f"as_of={AS_OF}"
    before = _files(part)
    assert _killed_score(small / "shop.yaml", out, "publish:between_renames").returncode == -9
    rules = tmp_path / "broken.yaml"
    rules.write_text("segments: [{name: x, priority: 1, when: 'nope > 1'}]\n")
    broken = small / "broken.yaml"  # beside the data its paths name
    text = (small / "shop.yaml").read_text()
    broken.write_text(text.replace(str(ROOT / "configs" / "segments.yaml"), str(rules)))
    assert main(_score_argv(broken, out)) == 2
    assert str(rules) in capsys.readouterr().err
    assert _files(part) == before


def test_second_job_for_same_partition_is_refused(trained: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "scores"
    with exclusive_lock(out / f"as_of={AS_OF}"):
        code = main(["score", "--config", str(trained / "shop.yaml"), "--as-of", AS_OF,
                     "--out", str(out)])  # fmt: skip
    assert code == 6
    err = capsys.readouterr().err
    assert f"pid {os.getpid()}" in err and "--wait" in err
    assert not (out / f"as_of={AS_OF}").exists()


def test_drift_beyond_threshold_exits_5_and_publishes_nothing(trained: Path, capsys) -> None:
    """A cutoff far from training shifts recency and activity: PSI beyond a strict threshold."""
    config = _config(trained, "strict.yaml", scoring="{missing_model: skip, psi_fail: 0.2}")
    out = trained / "drifted"
    assert main(["score", "--config", str(config), "--as-of", "2025-06-01", "--out", str(out)]) == 5
    err = capsys.readouterr().err
    assert "drifted beyond PSI 0.2 against the training reference" in err, err
    assert not (out / "as_of=2025-06-01").exists()
    assert (out / "_rejected" / "as_of=2025-06-01" / "drift.csv").exists()


def test_cluster_assignment_ignores_the_feature_settings_of_the_day(
    trained: Path, small: Path, tmp_path: Path
) -> None:
    """The clusterer's inputs are built with the feature settings stored with it (issue 14):
    fitted on 60-day engagement columns (the models use 90 days), it assigns the same clusters
    whether the scoring config still says 60 days or has gone back to the default. Before, the
    scoring job rebuilt its inputs from the config of the day and failed on the missing
    ``engagement__*_60d`` columns."""
    db = tmp_path / "mlflow.db"  # a copy: the re-fit clusterer must not reach other tests
    db.write_bytes((trained / "runs" / "mlflow.db").read_bytes())
    scoring = "{missing_model: skip, fail_on_drift: false}"
    common = {"tracking_uri": f"sqlite:///{db}", "scoring": scoring,
              "clustering": "{n_clusters: 3, n_subsamples: 2}"}  # fmt: skip
    fitted = _config(small, "sixty.yaml", features="{engagement_window_days: 60}", **common)
    default = _config(small, "default.yaml", **common)
    assert main(["cluster", "--config", str(fitted), "--as-of", AS_OF]) == 0
    assigned = {}
    for config in (fitted, default):
        out = tmp_path / config.stem
        assert main(_score_argv(config, out)) == 0, config.name
        scores = pl.read_parquet(out / f"as_of={AS_OF}" / "scores.parquet")
        assigned[config.stem] = scores.select("customer_id", "cluster__id", "cluster__name")
    assert assigned["sixty"]["cluster__id"].n_unique() > 1
    assert assigned["sixty"].equals(assigned["default"])


def test_lifetime_outputs_for_every_customer_change_no_model_input(
    small: Path, tmp_path: Path
) -> None:
    """``clv__*`` and ``churn__tier`` (docs/outputs.md) are written for every customer, and are
    no model's input: the run without them has the same scores and model inputs to the bit."""
    base = small / "base" / f"as_of={AS_OF}"
    uri = json.loads((base / "_manifest.json").read_text())["tracking_uri"]
    with_outputs = pl.read_parquet(base / "scores.parquet")
    new = [c for c in with_outputs.columns if c.startswith(("clv__", "churn__"))]
    assert new == ["clv__p_alive", "clv__expected_purchases_30d", "clv__expected_purchases_90d",
                   "clv__expected_purchases_365d", "clv__btyd_12m", "clv__model_12m",
                   "churn__tier"]  # fmt: skip
    has_orders = with_outputs["btyd__p_alive"].is_not_null()
    assert with_outputs.filter(has_orders).select(new).null_count().sum_horizontal().item() == 0
    assert (with_outputs["clv__p_alive"] == with_outputs["btyd__p_alive"]).all()
    manifest = json.loads((base / "_manifest.json").read_text())
    assert sum(manifest["outputs"]["churn_tiers"]["customers"].values()) == with_outputs.height
    scoring = "{missing_model: skip, fail_on_drift: false, outputs: %s}"
    off = _config(small, name="off.yaml", tracking_uri=uri, scoring=scoring % "{enabled: false}")
    assert main(_score_argv(off, tmp_path / "off")) == 0
    without = pl.read_parquet(tmp_path / "off" / f"as_of={AS_OF}" / "scores.parquet")
    assert without.equals(with_outputs.drop(new))
    off_manifest = json.loads((tmp_path / "off" / f"as_of={AS_OF}" / "_manifest.json").read_text())
    assert "outputs" not in off_manifest
    from segml.scores.job import load_champions

    champions = load_champions(tracking_uri=uri, prefix="segml", targets=list(manifest["models"]))
    for model in champions.models.values():
        assert not [c for c in model.feature_names_in_ if c.startswith(("clv__", "churn__"))]

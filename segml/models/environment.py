"""The environment a logged segml model carries, so ``mlflow models serve`` runs it anywhere.

MLflow documents two parts (``mlflow.pyfunc.log_model``): ``code_paths``, local code copied
into the model and put first on ``sys.path`` when it loads, and ``pip_requirements``, written
to the model's ``requirements.txt`` for the environment managers (virtualenv, uv, conda) to
install. segml is not on any package index, so a model ships segml's own source
(``segml_source``) and requires only segml's dependencies, pinned to the versions it was
trained with (``serving_requirements``), instead of a ``segml==<version>`` pin no index has.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["segml_source", "serving_requirements"]


def segml_source(folder: Path) -> str:
    """A copy of the segml package in ``folder/segml`` (its code and package data, without
    the bundled sample data and byte-code), for MLflow's ``code_paths``."""
    import shutil

    package = Path(__file__).resolve().parents[1]
    target = Path(folder) / "segml"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.csv.gz")
    shutil.copytree(package, target, ignore=skip)
    return str(target)


def serving_requirements() -> list[str]:
    """segml's own dependencies pinned to the installed versions (``name==version``).

    MLflow is pinned as ``mlflow-skinny`` (the client, pyfunc and the scoring server of
    ``mlflow models serve``, without the tracking server and UI). Optional extras (Spark,
    dev, docs) are left out.
    """
    import importlib.metadata as md

    from packaging.requirements import Requirement

    out = []
    for text in _segml_requirements():
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = "mlflow-skinny" if req.name.lower() == "mlflow" else req.name
        out.append(f"{name}=={md.version(name)}")
    return out


def _segml_requirements() -> list[str]:
    """The requirement strings of the installed segml distribution, or for a source checkout
    that is not installed, of its ``pyproject.toml``."""
    import importlib.metadata as md
    import tomllib

    try:
        return list(md.requires("segml") or [])
    except md.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
        return list(tomllib.loads(pyproject.read_text())["project"]["dependencies"])

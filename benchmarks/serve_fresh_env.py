"""A registered segml model served from a fresh environment built from its own requirements.

``mlflow models serve --env-manager virtualenv`` creates a new virtualenv (pyenv for the Python
version) and installs only the model's ``requirements.txt`` into it; segml itself is not
installed there, so the model runs on the segml source it carries (``code_paths``). The script
posts the model's own ``serving_input_example.json`` and checks the answer equals the scores of
the model loaded in this process. Slow (the first run downloads and installs the pinned
packages, a few minutes) and it needs the package index: a benchmark, not a test.

    python benchmarks/serve_fresh_env.py --store runs/synthetic/mlflow.db [--model segml-purchase]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(proc: subprocess.Popen[bytes], url: str, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"mlflow models serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2):
                return time.monotonic() - start
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(2)
    raise SystemExit(f"no answer on {url}/ping within {timeout:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="the mlflow.db segml train wrote")
    parser.add_argument("--model", default="segml-purchase")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    uri = f"sqlite:///{Path(args.store).resolve()}"
    mlflow.set_tracking_uri(uri)
    model_uri = f"models:/{args.model}@champion"
    local = Path(mlflow.artifacts.download_artifacts(model_uri, dst_path=tempfile.mkdtemp()))
    print("requirements.txt:", " ".join((local / "requirements.txt").read_text().split()))
    request = json.loads((local / "serving_input_example.json").read_text())
    expected = mlflow.pyfunc.load_model(str(local)).predict(
        pd.DataFrame(**request["dataframe_split"])
    )
    port, env = _port(), os.environ | {"MLFLOW_TRACKING_URI": uri}
    env.pop("PYTHONPATH", None)  # nothing of this checkout: the model brings its own segml
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri, "--env-manager",
         "virtualenv", "--host", "127.0.0.1", "-p", str(port)],
        env=env, cwd=tempfile.mkdtemp(), start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        seconds = _wait(proc, url, args.timeout)
        req = urllib.request.Request(f"{url}/invocations", data=json.dumps(request).encode(),
                                     headers={"Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(req, timeout=120) as r:
            answer = pd.DataFrame(json.loads(r.read())["predictions"])
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    score = next(c for c in answer.columns if c.startswith("score__"))
    np.testing.assert_allclose(answer[score], expected[score], rtol=1e-9)
    print(f"served from a fresh virtualenv after {seconds:.0f} s; {len(answer)} scores equal "
          f"the local model's ({score}: {answer[score].round(4).tolist()})")  # fmt: skip


if __name__ == "__main__":
    main()

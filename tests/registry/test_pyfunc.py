"""The champion as MLflow serves it: loaded by alias, it must rank exactly like the shared `top_k`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from pipeline import paths
from pipeline.data.interactions import SplitData
from pipeline.evaluation.ranking import top_k
from pipeline.models.base import ScoringContext
from pipeline.models.registry import load_model
from pipeline.registry.pyfunc import PERSONALISED, POPULAR_FALLBACK
from tests.registry.conftest import MODEL_NAME, Project

CHAMPION_URI = f"models:/{MODEL_NAME}@champion"


@pytest.fixture(scope="module")
def champion(registered: tuple[Project, dict]) -> mlflow.pyfunc.PyFuncModel:
    project, _ = registered
    project.client()
    return mlflow.pyfunc.load_model(CHAMPION_URI)


def test_is_logged_from_code_not_pickled(champion: mlflow.pyfunc.PyFuncModel) -> None:
    flavor = champion.metadata.flavors["python_function"]
    assert flavor["loader_module"] == "mlflow.pyfunc.loaders.code_model" and "python_model" not in flavor
    assert flavor["code"] == "code"  # the pipeline package travels with the model


def test_known_user_gets_top_k_without_known_items(
    registered: tuple[Project, dict], champion: mlflow.pyfunc.PyFuncModel
) -> None:
    project, _ = registered
    split = SplitData.load(project.root / paths.split_dir("warm"))
    history = split.train.concat(split.valid)
    user = split.index.user_index(["u00"])
    model = load_model(project.root / paths.model_dir("ease", "warm"))
    expected = split.index.item_ids[top_k(model, user, ScoringContext(history), history.csr, 5)[0]].tolist()

    result = champion.predict(pd.DataFrame({"user_id": ["u00"], "k": [5]}))

    assert result["item_ids"][0] == expected and result["strategy"][0] == PERSONALISED
    known = set(split.index.item_ids[history.csr[user[0]].indices])
    assert known and not known & set(expected)


def test_unknown_user_gets_the_most_popular_items(
    registered: tuple[Project, dict], champion: mlflow.pyfunc.PyFuncModel
) -> None:
    project, _ = registered
    split = SplitData.load(project.root / paths.split_dir("warm"))
    counts = split.train.concat(split.valid).item_counts
    most_popular = split.index.item_ids[np.argsort(-counts, kind="stable")[:10]].tolist()

    result = champion.predict(pd.DataFrame({"user_id": ["somebody-new", "u01"]}))  # no `k`: 10

    assert result["strategy"].tolist() == [POPULAR_FALLBACK, PERSONALISED]
    assert result["item_ids"][0] == most_popular and len(result["item_ids"][1]) == 10


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_mlflow_models_serve_answers_over_http(registered: tuple[Project, dict]) -> None:
    project, _ = registered
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)  # `mlflow models serve` starts `uvicorn` from PATH
    env = {**os.environ, "MLFLOW_TRACKING_URI": project.uri, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    command = [f"{bin_dir}/mlflow", "models", "serve", "-m", CHAMPION_URI, "--env-manager", "local",
               "-h", "127.0.0.1", "-p", str(port)]
    server = subprocess.Popen(command, env=env, cwd=project.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        body = json.dumps({"dataframe_records": [{"user_id": "u00", "k": 3}]}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", body,
                                         {"Content-Type": "application/json"})
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    answer = json.load(response)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=30)
    (prediction,) = answer["predictions"]
    assert prediction["user_id"] == "u00" and len(prediction["item_ids"]) == 3

"""`mlflow models serve` on 127.0.0.1, started once for this module, answering over real HTTP.

The champion here is the content model (registered as the pipeline does, with the best validation
metric): it scores new users from their items and new items from their text, and its cold-user scoring
is deterministic, so the served list can be compared exactly with the offline evaluation's."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline import paths
from pipeline.data.interactions import SplitData
from pipeline.registry.serving import COLD_USER, PERSONALISED, SESSION
from tests.registry.conftest import COLD_USERS, CONTENT, MODEL_NAME, NEW_ITEMS, Project, new_project
from tests.registry.offline import known_history, most_popular, offline_cold_user_ranking, revealed_items

STARTUP_SECONDS = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def content_champion(tmp_path_factory: pytest.TempPathFactory, empty_store: Path) -> tuple[Project, dict]:
    project = new_project(tmp_path_factory.mktemp("served"), empty_store)
    params = yaml.safe_load((project.root / paths.PARAMS_FILE).read_text(encoding="utf-8"))
    params["models"].update(CONTENT)
    (project.root / paths.PARAMS_FILE).write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    project.write_metrics(popularity=0.1, ease=0.2, content=0.3)
    promotion = project.register()
    assert promotion["champion"]["model"] == "content"
    return project, promotion


class Server:
    def __init__(self, url: str):
        self.url = url

    def post(self, payload: Any) -> tuple[int, Any]:
        """POST /invocations; (HTTP status, decoded JSON body)."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        request = urllib.request.Request(f"{self.url}/invocations", body, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def recommend(self, *records: dict, **params: Any) -> list[dict]:
        status, answer = self.post({"dataframe_records": list(records), **({"params": params} if params else {})})
        assert status == 200, answer
        return answer["predictions"]


@pytest.fixture(scope="module")
def server(content_champion: tuple[Project, dict]) -> Iterator[Server]:
    project, _ = content_champion
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)  # `mlflow models serve` starts `uvicorn` from PATH
    env = {**os.environ, "MLFLOW_TRACKING_URI": project.uri, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    command = [f"{bin_dir}/mlflow", "models", "serve", "-m", f"models:/{MODEL_NAME}@champion", "--env-manager",
               "local", "-h", "127.0.0.1", "-p", str(port)]
    log_file = project.root / "server.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(command, env=env, cwd=project.root, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", process, log_file)
        yield Server(f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_until_ready(url: str, process: subprocess.Popen, log_file: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"`mlflow models serve` did not come up:\n{log_file.read_text(errors='replace')}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def split(content_champion: tuple[Project, dict]) -> SplitData:
    project, _ = content_champion
    return SplitData.load(project.root / paths.split_dir("warm"), items=None)


def test_known_user(server: Server, content_champion: tuple[Project, dict], split: SplitData) -> None:
    _, promotion = content_champion
    (answer,) = server.recommend({"user_id": "u00"}, k=3)

    assert answer["strategy"] == PERSONALISED and len(answer["item_ids"]) == 3
    assert answer["model_version"] == f"{MODEL_NAME}/{promotion['champion']['version']}"
    known = set(split.index.item_ids[known_history(split).csr[split.index.user_index(["u00"])[0]].indices])
    assert not known & set(answer["item_ids"])


def test_new_user_matches_offline_cold_user_scoring(
    server: Server, content_champion: tuple[Project, dict], split: SplitData
) -> None:
    project, _ = content_champion
    revealed = revealed_items(split, COLD_USERS[0], 2)
    offline = offline_cold_user_ranking(project.root / paths.model_dir("content", "warm"), split, COLD_USERS[0],
                                        revealed, 10)

    new_user, session = server.recommend({"user_id": "first-visit", "recent_items": revealed}, {"recent_items": revealed})

    assert (new_user["strategy"], session["strategy"]) == (COLD_USER, SESSION)
    assert new_user["item_ids"] == session["item_ids"] == offline
    assert offline != most_popular(split, 10)


def test_new_item_candidates_are_ranked_from_their_text(server: Server) -> None:
    # a session in group 0's genre: the new items with that genre's title come first
    (answer,) = server.recommend({"recent_items": ["i00", "i01", "i02"], "candidate_items": NEW_ITEMS})

    assert sorted(answer["item_ids"][:2]) == NEW_ITEMS[:2] and sorted(answer["item_ids"]) == NEW_ITEMS
    assert answer["message"] == ""


def test_unknown_items_are_reported_not_crashed_on(server: Server) -> None:
    (answer,) = server.recommend({"user_id": "u00", "recent_items": ["i01", "never-seen"], "exclude_items": ["gone"]})

    assert answer["strategy"] == PERSONALISED and answer["unknown_items"] == ["never-seen", "gone"]


def test_fields_outside_the_schema_are_dropped_unread(server: Server) -> None:
    # MLflow's signature enforcement drops columns the schema does not name before the model sees them
    plain = server.recommend({"user_id": "u00"})
    assert server.recommend({"user_id": "u00", "model_path": "/etc/passwd", "code": "__import__('os')"}) == plain


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"dataframe_records": [{"user_id": "u00", "k": 0}]}, "'k'"),
        ({"dataframe_records": [{"user_id": "u00"}], "params": {"k": 100_000}}, "params.k"),
        ({"dataframe_records": [{"user_id": "u00"}], "params": {"k": "ten"}}, "k"),
        ({"dataframe_records": [{"user_id": 42}]}, "user_id"),
        ({"dataframe_records": [{"recent_items": "i01"}]}, "recent_items"),
        ({"dataframe_records": [{"recent_items": [1, 2]}]}, "recent_items"),
        ({"dataframe_records": [{"candidate_items": ["i01"] * 1001}]}, "candidate_items"),
        ({"dataframe_records": [{"recent_items": ["i01"], "attributes": {"age": "31"}}]}, "attributes"),
        (b"{not json", "JSON"),
    ],
)
def test_bad_requests_get_400_naming_the_field(server: Server, payload: Any, field: str) -> None:
    status, answer = server.post(payload)

    assert status == 400 and field in answer["message"], answer

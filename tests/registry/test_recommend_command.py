"""`recsys recommend`: a file of requests answered by the champion exactly as the served model answers."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import polars as pl
import pytest

from pipeline import cli
from pipeline.registry.serving import COLD_USER, PERSONALISED, POPULAR_FALLBACK, SESSION
from tests.registry.conftest import MODEL_NAME, Project

REQUESTS = [
    {"user_id": "u00"},
    {"user_id": "first-visit", "recent_items": ["i01", "i02"], "k": 3},
    {"recent_items": ["i16", "i17"], "exclude_items": ["i18"]},
    {"user_id": "nobody"},
]


def run(project: Project, monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    monkeypatch.chdir(project.root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", project.uri)
    cli.main(["recommend", *args])


def test_batch_answers_match_the_served_model(
    registered: tuple[Project, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, _ = registered
    requests = tmp_path / "requests.jsonl"
    requests.write_text("".join(json.dumps(row) + "\n" for row in REQUESTS), encoding="utf-8")
    out = tmp_path / "answers" / "top.parquet"

    run(project, monkeypatch, "--users", str(requests), "--k", "5", "--out", str(out))

    answers = pl.read_parquet(out)
    assert answers["strategy"].to_list() == [PERSONALISED, COLD_USER, SESSION, POPULAR_FALLBACK]
    assert [len(items) for items in answers["item_ids"].to_list()] == [5, 3, 5, 5]
    champion = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@champion")
    online = [champion.predict(pl.DataFrame([row]).to_pandas(), params={"k": 5})["item_ids"][0] for row in REQUESTS]
    assert answers["item_ids"].to_list() == [list(items) for items in online]


def test_csv_of_user_ids(registered: tuple[Project, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project, _ = registered
    requests = tmp_path / "users.csv"
    requests.write_text("user_id\nu00\n0042\n", encoding="utf-8")  # ids stay strings: 0042 is not 42
    out = tmp_path / "top.parquet"

    run(project, monkeypatch, "--users", str(requests), "--out", str(out))

    answers = pl.read_parquet(out)
    assert answers["user_id"].to_list() == ["u00", "0042"] and answers["item_ids"].list.len().to_list() == [10, 10]


@pytest.mark.parametrize(
    ("file_name", "content", "message"),
    [
        ("users.txt", "u00\n", "unsupported file type"),
        ("users.csv", "user_id,kk\nu00,3\n", "unknown column(s) ['kk']"),
        ("users.jsonl", '{"user_id": "u00", "k": 0}\n', "'k' must be an integer from 1"),
        ("users.jsonl", '{"user_id": "u00", "k": 2.5}\n', "column 'k' must hold whole numbers"),
    ],
)
def test_bad_request_files_fail_with_a_message(
    registered: tuple[Project, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], file_name: str, content: str, message: str,
) -> None:
    project, _ = registered
    requests = tmp_path / file_name
    requests.write_text(content, encoding="utf-8")

    with pytest.raises(SystemExit) as exit_status:
        run(project, monkeypatch, "--users", str(requests), "--out", str(tmp_path / "top.parquet"))

    assert exit_status.value.code == 1 and message in capsys.readouterr().err

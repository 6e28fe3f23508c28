"""The corpus of bad inputs: each is written in a source's real layout, run through the real stages
(ingest, then the GX validation gate, then split) in a scratch project, and must stop the pipeline at the
right stage with a message that says what to fix, with nothing downstream run and nothing half-written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pytest
import yaml

from pipeline.stages import ingest, split, validate
from tests.conftest import REPO_ROOT

VALIDATION = {"min_rows": 10, "rating_min": 0.0, "rating_max": 10.0, "earliest_timestamp": 788_918_400}
GOOD = [f"{u}::{i:07d}::{(u + i) % 10 + 1}::{1_365_000_000 + 3_600 * n}"
        for n, (u, i) in enumerate((u, i) for u in range(1, 8) for i in range(1, 8))]  # 49 MovieTweetings rows
TABLE = {"interactions": "events.csv",
         "columns": {"user": "user", "item": "item", "rating": "rating", "timestamp": "ts"}}


def mt_ratings(lines: list[str]) -> Callable[[Path], None]:
    def write(raw: Path) -> None:
        (raw / "ratings.dat").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return write


def replaced(row: int, line: str) -> list[str]:
    return [line if n == row else good for n, good in enumerate(GOOD)]


def events_csv(text: str) -> Callable[[Path], None]:
    def write(raw: Path) -> None:
        (raw / "events.csv").write_text(text, encoding="utf-8")
    return write


def good_events(ts_scale: int = 1) -> str:
    lines = ["user,item,rating,ts"] + [f"u{n % 7},i{n % 5},{n % 5 + 1},{(1_500_000_000 + 60 * n) * ts_scale}"
                                       for n in range(30)]
    return "\n".join(lines) + "\n"


def parquet(frame: pl.DataFrame) -> Callable[[Path], None]:
    def write(raw: Path) -> None:
        frame.write_parquet(raw / "events.parquet")
    return write


@dataclass(frozen=True)
class BadInput:
    name: str
    write: Callable[[Path], None]
    stage: str  # where the pipeline must stop
    message: str  # a regular expression the stage's message must match
    data: dict = field(default_factory=lambda: {"source": "movietweetings"})


def raw_bytes(name: str, data: bytes) -> Callable[[Path], None]:
    def write(raw: Path) -> None:
        (raw / name).write_bytes(data)
    return write


CORPUS = [
    BadInput("empty-file", raw_bytes("ratings.dat", b""), "validate",
             re.escape("interactions: table is empty, expected at least 10 rows (validation.min_rows)")),
    BadInput("missing-column", events_csv("user,item,rating\n" + "".join(f"u{n},i{n},4\n" for n in range(30))),
             "ingest", re.escape("events.csv: no column 'ts' (data.table.columns.timestamp); the file has 'user', "
                                 "'item', 'rating'"),
             data={"source": "table", "table": TABLE}),
    BadInput("missing-column-of-a-published-layout",
             raw_bytes("ratings.csv", ("userId,movieId,rating\n" + "".join(f"{n},2,3.5\n" for n in range(20))).encode()),
             "validate",
             re.escape("interactions: required column 'timestamp' is missing"), data={"source": "movielens"}),
    BadInput("wrong-delimiter-headerless", raw_bytes("u.data", b"196,242,3,881250949\n186,302,3,891717742\n"), "ingest",
             re.escape("u.data: the first line '196,242,3,881250949' has no '\\t' separator; it looks ','-separated. "
                       "MovieLens 100K's u.data is tab-separated"), data={"source": "movielens"}),
    BadInput("wrong-delimiter-with-header", events_csv(good_events().replace(",", ";")), "ingest",
             re.escape("events.csv: no column 'user' (data.table.columns.user); the file has 'user;item;rating;ts'; "
                       "the header looks ';'-separated: set data.table.separator"),
             data={"source": "table", "table": TABLE}),
    BadInput("non-numeric-rating", mt_ratings(replaced(3, "4::0000004::nine::1365010800")), "validate",
             re.escape("interactions.rating: 1 value is not a number, e.g. 'nine' (row 3)")),
    BadInput("out-of-range-rating", mt_ratings(replaced(5, "1::0000006::11::1365018000")[:-1] + ["9::0000001::-1::1365999999"]),
             "validate", re.escape("interactions.rating: 2 values outside [0, 10], e.g. 11.0, -1.0 (rows 5, 48); "
                                   "bounds from validation.rating_min/rating_max")),
    BadInput("null-id", mt_ratings(replaced(4, "::0000005::7::1365014400")), "validate",
             re.escape("interactions.user_id: 1 null value (row 4)")),
    BadInput("nan-id-in-csv", events_csv(good_events().replace("u3,i3", "u3,NaN", 1)), "validate",
             re.escape("interactions.item_id: 1 null value (row 3)"), data={"source": "table", "table": TABLE}),
    BadInput("nan-id-in-parquet",
             parquet(pl.DataFrame({"user": [float(n % 7) for n in range(29)] + [float("nan")],
                                   "item": [f"i{n % 5}" for n in range(30)], "rating": [4.0] * 30,
                                   "ts": [1_500_000_000 + 60 * n for n in range(30)]})),
             "validate", re.escape("interactions.user_id: 1 null value (row 29)"),
             data={"source": "table", "table": TABLE | {"interactions": "events.parquet"}}),
    BadInput("duplicate-rows", mt_ratings(GOOD + [GOOD[7]]), "validate",
             re.escape("interactions: 2 rows repeat the same (user_id, item_id, timestamp), e.g. "
                       "('2', '0000001', 1365025200) (rows 7, 49); remove the repeats, or tolerate them with "
                       "validation.max_duplicate_fraction and resolve them with data.duplicates")),
    BadInput("milliseconds-declared-as-seconds", events_csv(good_events(ts_scale=1000)), "validate",
             r"interactions\.timestamp: 30 values outside \[788918400 \(1995-01-01\), \d+ \(\d{4}-\d\d-\d\d\)\], "
             r"e\.g\. 1500000000000, 1500000060000, 1500000120000 \(rows 0, 1, 2\); these look like milliseconds, "
             r"store seconds since the epoch \(a `table` source can declare data\.table\.timestamp_unit: ms\)",
             data={"source": "table", "table": TABLE}),
    BadInput("date-in-the-future", mt_ratings(replaced(6, "1::0000007::8::4102444800")), "validate",
             r"interactions\.timestamp: 1 value outside \[788918400 \(1995-01-01\), \d+ \(\d{4}-\d\d-\d\d\)\], "
             r"e\.g\. 4102444800 \(row 6\); bounds from validation\.earliest_timestamp and now \+ 1 day"),
    BadInput("non-utf8-bytes",
             raw_bytes("ratings.dat", ("\n".join(GOOD[:2]) + "\n").encode() + b"3::00\xe900003::7::1365007200\n"),
             "ingest", re.escape("ratings.dat: line 3 is not valid UTF-8 (invalid continuation byte); "
                                 "re-encode the file as UTF-8")),
    BadInput("truncated-last-line", raw_bytes("ratings.dat", ("\n".join(GOOD) + "\n7::0000003::").encode()), "ingest",
             re.escape("ratings.dat: the last line '7::0000003::' has 3 of 4 fields and no line break: the file "
                       "looks truncated (an interrupted copy or download); fetch it again")),
    BadInput("truncated-json-line",
             raw_bytes("All_Beauty.jsonl", b'{"user_id": "u1", "parent_asin": "B1", "rating": 5.0, "timestamp": 1588687728923}\n'
                                           b'{"user_id": "u2", "parent_asin": "B1", "rat'),
             "ingest", re.escape("All_Beauty.jsonl: the last line '{\"user_id\": \"u2\", \"parent_asin\": \"B1\", \"rat' "
                                 "is not complete JSON and has no line break: the file looks truncated"),
             data={"source": "amazon"}),
    BadInput("parquet-with-other-columns",
             parquet(pl.DataFrame({"uid": [1, 2], "iid": [3, 4], "score": [4.0, 5.0], "when": [1, 2]})), "ingest",
             re.escape("events.parquet: no column 'user' (data.table.columns.user); the file has 'uid', 'iid', "
                       "'score', 'when'"),
             data={"source": "table", "table": TABLE | {"interactions": "events.parquet"}}),
    BadInput("parquet-with-list-ids",
             parquet(pl.DataFrame({"user": [[1], [2]], "item": ["a", "b"], "rating": [4.0, 5.0], "ts": [1, 2]})),
             "ingest", re.escape("events.parquet: column 'user' (data.table.columns.user) holds List(Int64); ids "
                                 "must be text or integers: fix the export"),
             data={"source": "table", "table": TABLE | {"interactions": "events.parquet"}}),
]


@dataclass
class Outcome:
    stage: str | None  # the stage that stopped the pipeline, None if all passed
    message: str


def run_pipeline(project: Path, capsys: pytest.CaptureFixture[str]) -> Outcome:
    """ingest -> validate -> split as DVC chains them: each runs only if the previous one succeeded."""
    try:
        ingest.main()
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        return Outcome("ingest", str(error))
    capsys.readouterr()
    if validate.main() != 0:
        return Outcome("validate", capsys.readouterr().err)
    split.main()
    return Outcome(None, "")


def make_project(root: Path, case: BadInput) -> Path:
    raw = root / "data" / "raw"
    raw.mkdir(parents=True)
    case.write(raw)
    params = {"data": {"path": "data/raw", "kcore": 2, **case.data}, "validation": VALIDATION,
              "split": {"sparsity": [0.5], "reveal": [1]}}
    (root / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    return root


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CORPUS])
def test_bad_input_stops_the_pipeline_with_its_message(
    case: BadInput, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(make_project(tmp_path, case))
    outcome = run_pipeline(tmp_path, capsys)
    assert outcome.stage == case.stage, outcome.message
    assert re.search(case.message, outcome.message), outcome.message
    if case.stage == "validate":
        failures = [line for line in outcome.message.splitlines() if line.startswith("  - ")]
        assert len(failures) == 1, f"one root cause, not a cascade: {failures}"
    assert not (tmp_path / "reports" / "validation" / "gate.json").exists()
    assert not (tmp_path / "data" / "splits").exists(), "nothing downstream ran"
    if case.stage == "ingest":
        assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["raw"], "no partial data/processed"


def test_the_good_inputs_of_the_corpus_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The corpus is only meaningful if its inputs fail for the stated reason, not for being small."""
    for name, write, data in (("mt", mt_ratings(GOOD), {"source": "movietweetings"}),
                              ("table", events_csv(good_events()), {"source": "table", "table": TABLE})):
        root = tmp_path / name
        root.mkdir()
        monkeypatch.chdir(make_project(root, BadInput(name, write, "", "", data)))
        assert run_pipeline(root, capsys).stage is None
        assert (root / "data" / "splits" / "warm" / "train.parquet").exists()


def test_ingest_cli_exits_1_with_the_message(tmp_path: Path) -> None:
    case = next(c for c in CORPUS if c.name == "truncated-last-line")
    make_project(tmp_path, case)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    completed = subprocess.run([sys.executable, "-m", "pipeline.stages.ingest"], cwd=tmp_path, env=env,
                               capture_output=True, text=True)
    assert completed.returncode == 1
    assert completed.stderr.startswith("ingest: error: data/raw/ratings.dat: the last line '7::0000003::'")
    assert not (tmp_path / "data" / "processed").exists()

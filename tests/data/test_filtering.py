"""`prepare`: the data.* preparation parameters, applied after validation in the split stage."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipeline.config import DataParams
from pipeline.data.filtering import kcore, prepare, resolve_duplicates
from pipeline.data.sources import read_source

DAY = 86_400
T0 = 1_577_836_800  # 2020-01-01 UTC


def frame(rows: list[tuple[str, str, float | None, int]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"user_id": pl.String, "item_id": pl.String, "rating": pl.Float64,
                                      "timestamp": pl.Int64}, orient="row")


def params(**data: object) -> DataParams:
    return DataParams(**({"kcore": 0} | data))


def test_defaults_keep_the_documented_five_core_of_movietweetings(movietweetings_dir: Path) -> None:
    interactions = read_source("movietweetings", movietweetings_dir).interactions
    prepared = prepare(interactions, DataParams())
    assert (prepared.height, prepared["user_id"].n_unique(), prepared["item_id"].n_unique()) == (68_055, 4_333, 2_414)
    assert prepared.equals(kcore(interactions, 5).sort(["user_id", "timestamp", "item_id"]))


def test_time_window_is_half_open_in_utc() -> None:
    rows = frame([("u", "a", 1.0, T0 - 1), ("u", "b", 1.0, T0), ("u", "c", 1.0, T0 + DAY - 1), ("u", "d", 1.0, T0 + DAY)])
    kept = prepare(rows, params(time_window={"start": "2020-01-01", "end": "2020-01-02T00:00:00Z"}))
    assert kept["item_id"].to_list() == ["b", "c"]
    with pytest.raises(ValueError, match=r"no interactions left inside data.time_window \[2021-01-01"):
        prepare(rows, params(time_window={"start": "2021-01-01"}))


def test_time_window_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="data.time_window.start .* must be before end"):
        DataParams(time_window={"start": "2021-01-01", "end": "2020-01-01"})


REPEATS = frame([("u", "a", 2.0, T0 + 20), ("u", "a", 4.0, T0 + 10), ("u", "a", 5.0, T0 + 30), ("u", "b", None, T0),
                 ("v", "a", 3.0, T0 + 5)])


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("keep_all", [("u", "a", 2.0, T0 + 20), ("u", "a", 4.0, T0 + 10), ("u", "a", 5.0, T0 + 30),
                      ("u", "b", None, T0), ("v", "a", 3.0, T0 + 5)]),
        ("keep_first", [("u", "a", 4.0, T0 + 10), ("u", "b", None, T0), ("v", "a", 3.0, T0 + 5)]),
        ("keep_last", [("u", "a", 5.0, T0 + 30), ("u", "b", None, T0), ("v", "a", 3.0, T0 + 5)]),
        ("sum", [("u", "a", 11.0, T0 + 30), ("u", "b", None, T0), ("v", "a", 3.0, T0 + 5)]),
        ("mean", [("u", "a", 11.0 / 3, T0 + 30), ("u", "b", None, T0), ("v", "a", 3.0, T0 + 5)]),
    ],
)
def test_duplicate_policies(policy: str, expected: list[tuple]) -> None:
    assert resolve_duplicates(REPEATS, policy).rows() == expected


def test_duplicates_without_a_rating_column_keep_one_row_per_pair() -> None:
    assert resolve_duplicates(REPEATS.drop("rating"), "sum").rows() == [("u", "a", T0 + 30), ("u", "b", T0),
                                                                         ("v", "a", T0 + 5)]


def test_implicit_threshold_keeps_positives_without_their_rating() -> None:
    rows = frame([("u", "a", 5.0, T0), ("u", "b", 3.0, T0 + 1), ("u", "c", 4.0, T0 + 2), ("u", "d", None, T0 + 3)])
    kept = prepare(rows, params(implicit_threshold=4))
    assert kept.rows() == [("u", "a", None, T0), ("u", "c", None, T0 + 2), ("u", "d", None, T0 + 3)]
    with pytest.raises(ValueError, match=r"no interactions left with a rating >= data.implicit_threshold \(9\)"):
        prepare(rows.head(3), params(implicit_threshold=9))


def test_a_re_rating_decides_before_the_threshold() -> None:
    rows = frame([("u", "a", 5.0, T0), ("u", "a", 1.0, T0 + 1)])
    assert prepare(rows, params(implicit_threshold=4)).height == 1, "kept all: the first rating is a positive"
    with pytest.raises(ValueError, match="implicit_threshold"):
        prepare(rows, params(duplicates="keep_last", implicit_threshold=4))


def test_min_history_applies_with_the_k_core_until_stable() -> None:
    # x rated a, b and z; z has no other rating, so the 2-core drops it and leaves x with 2 interactions
    rows = frame([("x", "a", 1.0, T0), ("x", "b", 1.0, T0 + 1), ("x", "z", 1.0, T0 + 2),
                  *((u, i, 1.0, T0 + n) for n, (u, i) in enumerate((u, i) for u in "pqr" for i in "abc"))])
    assert prepare(rows, params(kcore=2))["user_id"].unique().sort().to_list() == ["p", "q", "r", "x"]
    assert prepare(rows, params(kcore=2, min_history=3))["user_id"].unique().sort().to_list() == ["p", "q", "r"]
    with pytest.raises(ValueError, match="after the 2-core filter with data.min_history 9; lower data.kcore or "
                                         "data.min_history"):
        prepare(rows, params(kcore=2, min_history=9))


def test_output_is_ordered_by_user_time_item() -> None:
    rows = frame([("b", "x", 1.0, T0), ("a", "y", 1.0, T0 + 5), ("a", "x", 1.0, T0 + 5), ("a", "z", 1.0, T0)])
    assert prepare(rows.lazy(), params()).select("user_id", "item_id").rows() == [
        ("a", "z"), ("a", "x"), ("a", "y"), ("b", "x")]

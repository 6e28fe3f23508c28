"""Leaderboards order each regime by that regime's own validation value, never by test."""

from __future__ import annotations

import polars as pl

from pipeline.evaluation.leaderboard import build_leaderboard


def report(model: str, warm_valid: float, cold_valid: float | None, cold_test: float) -> dict:
    metrics = {"ndcg@10": cold_test, "recall@10": cold_test}
    cold = {"test": metrics} if cold_valid is None else {"valid": {"ndcg@10": cold_valid}, "test": metrics}
    return {"model": model, "warm": {"valid": {"ndcg@10": warm_valid}, "test": metrics}, "cold_items": cold}


def board(reports: list[dict]) -> pl.DataFrame:
    return build_leaderboard(reports, pl.DataFrame(), "cold_items", "ndcg@10", samples=10, seed=0)


def test_a_regime_with_validation_is_ordered_by_it_not_by_warm_or_test() -> None:
    reports = [report("a", 0.3, 0.1, 0.9), report("b", 0.2, 0.2, 0.1)]
    ordered = board(reports)
    assert ordered["model"].to_list() == ["b", "a"]
    assert ordered["valid_ndcg@10"].to_list() == [0.2, 0.1]


def test_without_regime_validation_the_warm_value_orders_and_inapplicable_models_come_last() -> None:
    reports = [report("a", 0.1, None, 0.9), report("b", 0.2, None, 0.1),
               {"model": "c", "warm": {"valid": {"ndcg@10": 0.5}}, "cold_items": {"not_applicable": "no features"}}]
    ordered = board(reports)
    assert ordered["model"].to_list() == ["b", "a", "c"]
    assert ordered["status"][2] == "not applicable: no features"


def test_every_model_is_paired_tested_against_the_baseline_too() -> None:
    users = list(range(40))
    strong = [1.0 if user % 2 else 0.5 for user in users]  # ahead of the baseline on every user
    per_user = pl.DataFrame({
        "user_id": users * 3,
        "ndcg@10": [0.1] * 40 + strong + [0.1 + 0.001 * (user % 3 - 1) for user in users],
        "model": ["popularity"] * 40 + ["strong"] * 40 + ["level"] * 40,
        "regime": ["cold_items"] * 120,
        "part": ["test"] * 120,
    })
    reports = [report("strong", 0.3, 0.3, 0.75), report("level", 0.2, 0.2, 0.1), report("popularity", 0.1, 0.1, 0.1)]
    rows = {row["model"]: row for row in build_leaderboard(
        reports, per_user, "cold_items", "ndcg@10", samples=10, seed=0, baseline="popularity").iter_rows(named=True)}
    assert rows["strong"]["p_vs_popularity"] < 1e-6
    assert rows["level"]["p_vs_popularity"] > 0.05
    assert rows["popularity"]["p_vs_popularity"] is None
    assert rows["strong"]["p_vs_best"] is None and rows["level"]["p_vs_best"] < 1e-6


def test_cold_item_rows_say_when_one_item_carries_a_difference() -> None:
    items = [f"i{item}" for item in range(30)]
    carried = [0.20 + (0.1 if item else 0.0) for item in range(30)]  # best's lead vanishes without item i0
    spread = [0.20 + 0.001 * (item % 3) for item in range(30)]  # a lead every left-out item keeps
    per_item = pl.DataFrame({
        "item_id": items * 3,
        "ndcg@10": [0.30] * 30 + carried + spread,
        "model": ["best"] * 30 + ["carried"] * 30 + ["spread"] * 30,
        "regime": ["cold_items"] * 90,
        "part": ["test"] * 90,
    })
    reports = [report("best", 0.3, 0.3, 0.30), report("carried", 0.2, 0.2, 0.20), report("spread", 0.1, 0.1, 0.20)]
    rows = {row["model"]: row for row in build_leaderboard(
        reports, pl.DataFrame(), "cold_items", "ndcg@10", samples=10, seed=0, per_item=per_item).iter_rows(named=True)}
    assert rows["carried"]["p_items_vs_best"] > 0.2
    assert rows["spread"]["p_items_vs_best"] < 1e-6
    assert rows["best"]["p_items_vs_best"] is None
    assert rows["carried"]["ndcg@10_items_ci_low"] < 0.20 < rows["carried"]["ndcg@10_items_ci_high"]
    assert "p_items_vs_best" not in board(reports).columns, "no per-item figures, no item columns"

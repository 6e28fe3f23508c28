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

"""Leaderboards: one per regime, one row per model, ordered by the regime's own validation selection
metric (the warm one where a regime has no validation part; selection never looks at test), with
bootstrap intervals and paired tests against the selected best and against a baseline (popularity by
default): "is it better than the trivial recommender" is the first question for any model. Where only a
candidate set of about a hundred items is ranked (cold items), a few of them carry most of the figure, so
the rows also get a delete-one jackknife interval over items and a test against the best on it."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import polars as pl

from pipeline.data.schema import ITEM, USER
from pipeline.evaluation.significance import bootstrap_interval, jackknife_interval, jackknife_p_value, paired_p_value

TEST_COLUMNS = ("ndcg", "recall", "hr", "mrr", "precision", "map", "coverage", "novelty", "avg_popularity")
WARM = "warm"


def load_reports(files: list[Path]) -> list[dict]:
    return [json.loads(path.read_text(encoding="utf-8")) for path in files]


def regimes_in(reports: list[dict]) -> list[str]:
    """Regimes in a stable, readable order: warm first, then the others as first seen."""
    seen: list[str] = []
    for report in reports:
        for key, value in report.items():
            if isinstance(value, dict) and ("test" in value or "not_applicable" in value) and key not in seen:
                seen.append(key)
    return sorted(seen, key=lambda regime: (regime != WARM, seen.index(regime)))


def validation_value(report: dict, regime: str, selection_metric: str) -> float:
    """The regime's own validation value; the warm one for regimes without a validation part (e.g.
    the sampled protocol); -inf where the model does not serve the regime."""
    result = report.get(regime) or {}
    if "not_applicable" in result:
        return -math.inf
    return (result.get("valid") or report[WARM]["valid"])[selection_metric]


def selection_order(reports: list[dict], selection_metric: str, regime: str = WARM) -> list[str]:
    ranked = sorted(reports, key=lambda r: -validation_value(r, regime, selection_metric))
    return [r["model"] for r in ranked]


def build_leaderboard(reports: list[dict], per_user: pl.DataFrame, regime: str, selection_metric: str,
                      samples: int, seed: int, k: int = 10, baseline: str | None = None,
                      per_item: pl.DataFrame | None = None) -> pl.DataFrame:
    """`baseline`: a model every other one is paired-tested against (`p_vs_<baseline>`), where it was run.
    `per_item`: the evaluate stage's leave-one-item-out NDCG@k (reports/per_item); where the regime has
    them, `ndcg@k_items_ci_low/high` and `p_items_vs_best` (normal test with the jackknife error of the
    per-item differences)."""
    order = selection_order(reports, selection_metric, regime)
    by_model = {r["model"]: r for r in reports}
    best = next((m for m in order if "test" in by_model[m].get(regime, {})), None)
    best_items = None if per_item is None else _item_values(per_item, best, regime, f"ndcg@{k}")
    references = {"p_vs_best": best} | ({f"p_vs_{baseline}": baseline} if baseline else {})
    rows = []
    for model in order:
        result = by_model[model].get(regime)
        value = validation_value(by_model[model], regime, selection_metric)
        row: dict = {"model": model, f"valid_{selection_metric}": None if math.isinf(value) else value}
        if result is None or "not_applicable" in result:
            row["status"] = "not applicable: " + result["not_applicable"] if result else "not evaluated"
            rows.append(row)
            continue
        test = result["test"]
        row["status"] = test.get("protocol", "full ranking")
        row.update({f"test_{m}@{k}": test[f"{m}@{k}"] for m in TEST_COLUMNS if f"{m}@{k}" in test})
        values = _user_values(per_user, model, regime, f"ndcg@{k}")
        if values is not None:
            low, high = bootstrap_interval(values[f"ndcg@{k}"].to_numpy(), samples, seed)
            row[f"ndcg@{k}_ci_low"], row[f"ndcg@{k}_ci_high"] = low, high
            for column, reference in references.items():  # every row gets every column: a stable order
                reference_values = (_user_values(per_user, reference, regime, f"ndcg@{k}")
                                    if reference is not None and model != reference else None)
                row[column] = None if reference_values is None else _paired_p_value(values, reference_values, f"ndcg@{k}")
        if best_items is not None:
            row.update(_item_columns(per_item, by_model, model, best, best_items, regime, k))
        row["train_seconds"] = by_model[model].get("train_seconds_by_variant", {}).get(
            regime if not regime.startswith(("cold", "warm")) else WARM)
        rows.append(row)
    board = pl.DataFrame(rows, infer_schema_length=None)
    return board.with_row_index("rank", offset=1)


def paper_table(reports: list[dict], regime: str, metrics: tuple[str, ...], selection_metric: str) -> pl.DataFrame:
    """A paper protocol's test figures at the paper's own cut-offs (its table reports P/R/NDCG at 5 and
    20, the leaderboard shows @10), one row per model scored under it, in validation order."""
    by_model = {r["model"]: r for r in reports}
    rows = [{"model": model, **{f"test_{metric}": by_model[model][regime]["test"].get(metric) for metric in metrics}}
            for model in selection_order(reports, selection_metric, regime) if "test" in by_model[model].get(regime, {})]
    return pl.DataFrame(rows, schema={"model": pl.String, **{f"test_{metric}": pl.Float64 for metric in metrics}})


def _paired_p_value(values: pl.DataFrame, reference: pl.DataFrame, metric: str) -> float:
    paired = values.join(reference, on=USER, suffix="_reference")
    return paired_p_value(paired[metric].to_numpy(), paired[f"{metric}_reference"].to_numpy())


def _item_columns(per_item: pl.DataFrame, by_model: dict[str, dict], model: str, best: str,
                  best_items: pl.DataFrame, regime: str, k: int) -> dict[str, float | None]:
    metric = f"ndcg@{k}"
    values = _item_values(per_item, model, regime, metric)
    columns: dict[str, float | None] = dict.fromkeys((f"{metric}_items_ci_low", f"{metric}_items_ci_high",
                                                      "p_items_vs_best"))
    if values is None:
        return columns
    estimate = by_model[model][regime]["test"][metric]
    low, high = jackknife_interval(values[metric].to_numpy(), estimate)
    # a normal interval over ~100 items can leave NDCG's range: clipped to it
    columns[f"{metric}_items_ci_low"], columns[f"{metric}_items_ci_high"] = max(low, 0.0), min(high, 1.0)
    if model != best:
        paired = values.join(best_items, on=ITEM, suffix="_best")
        columns["p_items_vs_best"] = jackknife_p_value((paired[metric] - paired[f"{metric}_best"]).to_numpy(),
                                                       estimate - by_model[best][regime]["test"][metric])
    return columns


def _item_values(per_item: pl.DataFrame, model: str | None, regime: str, metric: str) -> pl.DataFrame | None:
    if per_item.is_empty() or model is None:
        return None
    rows = per_item.filter((pl.col("model") == model) & (pl.col("regime") == regime) & (pl.col("part") == "test"))
    return rows.select(ITEM, metric) if rows.height else None


def _user_values(per_user: pl.DataFrame, model: str, regime: str, metric: str) -> pl.DataFrame | None:
    if per_user.is_empty():
        return None
    rows = per_user.filter((pl.col("model") == model) & (pl.col("regime") == regime) & (pl.col("part") == "test"))
    return rows.select(USER, metric) if rows.height else None


def to_markdown(board: pl.DataFrame, title: str) -> str:
    def cell(value: object) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        if isinstance(value, float):
            return f"{value:.2e}" if 0 < abs(value) < 1e-3 else f"{value:.4f}"
        return str(value)

    header = "| " + " | ".join(board.columns) + " |"
    rule = "|" + "|".join("---" for _ in board.columns) + "|"
    lines = [f"## {title}", "", header, rule]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in board.iter_rows()]
    return "\n".join(lines) + "\n"


def curve_rows(reports: list[dict], prefix: str, parse: Callable[[str], float], full_regime: str | None, full_value: float | None,
               metric: str = "ndcg@10") -> pl.DataFrame:
    """Long table (model, x, metric) for a regime family, e.g. sparse_<fraction> or cold_users_k<k>."""
    rows = []
    for report in reports:
        for regime, result in report.items():
            if isinstance(result, dict) and regime.startswith(prefix) and "test" in result:
                rows.append({"model": report["model"], "x": parse(regime[len(prefix):]), metric: result["test"][metric]})
        if full_regime is not None and "test" in report.get(full_regime, {}):
            rows.append({"model": report["model"], "x": full_value, metric: report[full_regime]["test"][metric]})
    return pl.DataFrame(rows, schema={"model": pl.String, "x": pl.Float64, metric: pl.Float64}).sort(["model", "x"])

"""The model card logged with every registered version (`model_card.md`): what a reviewer needs before
shipping a model, in one page: the data it saw, its numbers per regime with 95% intervals, what it
cannot do, and where it came from.

Intervals are the shared percentile bootstrap over users (the one the leaderboards use) on the
per-user values the evaluate stage wrote, so the card needs nothing the register stage does not read
already and shows validation intervals as well as test ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from pipeline.evaluation.leaderboard import regimes_in
from pipeline.evaluation.significance import bootstrap_interval

CARD_METRICS = ("ndcg@10", "recall@10", "coverage@10")
INTERVAL_METRIC = "ndcg@10"
PARTS = ("valid", "test")


@dataclass(frozen=True)
class CardInputs:
    """Everything one card is written from."""

    name: str
    model_type: str
    report: Mapping[str, Any]  # metrics/<name>.json
    per_user: pl.DataFrame  # reports/per_user/<name>.parquet
    data_source: str
    dataset: Mapping[str, Any] | None  # reports/dataset.json, None when the split stage wrote none
    lineage: Mapping[str, str]
    bootstrap_samples: int
    seed: int


def model_card(inputs: CardInputs) -> str:
    """The card as Markdown."""
    sections = [
        f"# Model card: {inputs.name} ({inputs.model_type})",
        _data_section(inputs),
        _metrics_section(inputs),
        _limits_section(inputs.report),
        _lineage_section(inputs.lineage),
    ]
    return "\n\n".join(sections) + "\n"


def _data_section(inputs: CardInputs) -> str:
    lines = ["## Data", "", f"- source: `{inputs.data_source}`"]
    dataset = inputs.dataset
    if dataset is None:
        lines.append("- sizes: not recorded (no reports/dataset.json)")
    else:
        filtered = dataset.get("filtered", {})
        if filtered:
            lines.append(f"- after filtering: {_count(filtered, 'interactions')} interactions, "
                         f"{_count(filtered, 'users')} users, {_count(filtered, 'items')} items")
        for part, sizes in dataset.get("warm", {}).items():
            lines.append(f"- warm {part}: {_count(sizes, 'interactions')} interactions of {_count(sizes, 'users')} users")
        for key in ("cold_users", "cold_items"):
            if key in dataset:
                lines.append(f"- held out as {key.replace('_', ' ')}: {dataset[key]}")
    lines.append(f"- splits fingerprint: `{inputs.lineage.get('split_hash', 'unknown')}`")
    return "\n".join(lines)


def _count(sizes: Mapping[str, Any], key: str) -> str:
    return f"{sizes[key]:,}" if key in sizes else "?"


def _metrics_section(inputs: CardInputs) -> str:
    header = ["regime", "part", "users", *CARD_METRICS, f"{INTERVAL_METRIC} 95% interval"]
    rows = []
    for regime in regimes_in([dict(inputs.report)]):
        result = inputs.report[regime]
        for part in PARTS:
            numbers = result.get(part)
            if not isinstance(numbers, Mapping):
                continue
            users = numbers.get("n_users")
            interval = _interval(inputs, regime, part)
            rows.append([regime, part, "-" if users is None else f"{int(users):,}",
                         *(_number(numbers.get(metric)) for metric in CARD_METRICS), interval])
    lines = [
        "## Metrics",
        "",
        "Selection and promotion use validation only; test numbers are reported, never chosen on. "
        f"Intervals: percentile bootstrap over users ({inputs.bootstrap_samples} resamples, seed {inputs.seed}).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]
    return "\n".join(lines)


def _interval(inputs: CardInputs, regime: str, part: str) -> str:
    if INTERVAL_METRIC not in inputs.per_user.columns:
        return "-"
    values = inputs.per_user.filter((pl.col("regime") == regime) & (pl.col("part") == part))[INTERVAL_METRIC]
    if values.is_empty():
        return "-"
    low, high = bootstrap_interval(values.to_numpy(), inputs.bootstrap_samples, inputs.seed)
    return f"[{low:.4f}, {high:.4f}]"


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) and math.isfinite(value) else "-"


def _limits_section(report: Mapping[str, Any]) -> str:
    lines = ["## Limits", ""]
    for regime, result in report.items():
        if isinstance(result, Mapping) and "not_applicable" in result:
            lines.append(f"- does not serve `{regime}`: {result['not_applicable']}")
    cold_users = sorted(regime for regime in report if regime.startswith("cold_users_k"))
    if cold_users:
        lines.append(f"- new users were scored after revealing k interactions ({', '.join(cold_users)}); a user with "
                     "no known interaction is served the most popular items (`popular-fallback`)")
    else:
        lines.append("- not evaluated on new users; a user with no known interaction is served the most popular items "
                     "(`popular-fallback`)")
    if "cold_items" not in report:
        lines.append("- not evaluated on new items")
    lines.append("- every number comes from one offline split of past interactions; it predicts online behaviour "
                 "only as far as the future resembles that past")
    return "\n".join(lines)


def _lineage_section(lineage: Mapping[str, str]) -> str:
    lines = ["## Lineage", "", "| tag | value |", "|---|---|"]
    lines += [f"| {key} | `{value}` |" for key, value in sorted(lineage.items())]
    return "\n".join(lines)

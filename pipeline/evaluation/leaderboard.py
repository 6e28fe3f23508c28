"""The leaderboard: one row per model, ordered by the validation selection metric."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

COLUMNS_AT_10 = ("ndcg", "recall", "hr", "mrr", "precision", "map", "coverage", "novelty")


def load_reports(files: list[Path]) -> list[dict]:
    return [json.loads(path.read_text(encoding="utf-8")) for path in files]


def build_leaderboard(reports: list[dict], selection_metric: str, regime: str = "warm") -> pl.DataFrame:
    rows = []
    for report in reports:
        valid, test = report[regime]["valid"], report[regime]["test"]
        row = {"model": report["model"], f"valid_{selection_metric}": valid[selection_metric]}
        row.update({f"test_{metric}@10": test[f"{metric}@10"] for metric in COLUMNS_AT_10})
        row["train_seconds"] = report["train_seconds"]
        rows.append(row)
    board = pl.DataFrame(rows).sort(f"valid_{selection_metric}", descending=True)
    return board.with_row_index("rank", offset=1)


def to_markdown(board: pl.DataFrame, title: str) -> str:
    header = "| " + " | ".join(board.columns) + " |"
    rule = "|" + "|".join("---" for _ in board.columns) + "|"
    lines = [f"# {title}", "", header, rule]
    for row in board.iter_rows():
        lines.append("| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"

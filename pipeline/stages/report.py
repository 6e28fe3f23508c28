"""Stage `report`: the leaderboard of every configured model (Markdown + CSV)."""

from __future__ import annotations

import logging

from pipeline import paths
from pipeline.config import load_params
from pipeline.evaluation.leaderboard import build_leaderboard, load_reports, to_markdown
from pipeline.stages.cli import run_stage

log = logging.getLogger(__name__)


def main() -> None:
    params = load_params()
    metric = params.evaluation.selection_metric
    reports = load_reports([paths.metrics_file(name) for name in params.models])
    board = build_leaderboard(reports, metric)
    title = f"Leaderboard: warm regime, full ranking (selected by valid {metric}; test reported)"
    paths.REPORTS_DIR.mkdir(parents=True, exist_ok=True)
    board.write_csv(paths.LEADERBOARD_CSV)
    paths.LEADERBOARD_MD.write_text(to_markdown(board, title), encoding="utf-8")
    print(to_markdown(board, title))


if __name__ == "__main__":
    run_stage("report", main)

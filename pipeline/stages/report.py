"""Stage `report`: leaderboards per regime (Markdown + CSV) with intervals and paired tests, the
sparsity and cold-start curves (DVC plot CSVs + PNG), and the time each stage took."""

from __future__ import annotations

import json
import logging

import polars as pl

from pipeline import paths
from pipeline.config import load_params
from pipeline.data.paper_protocols import PAPER_METRICS, protocol_of
from pipeline.evaluation.leaderboard import (
    WARM,
    build_leaderboard,
    curve_rows,
    load_reports,
    paper_table,
    regimes_in,
    to_markdown,
)
from pipeline.evaluation.plots import line_plot
from pipeline.stages.cli import run_stage
from pipeline.stages.evaluate import per_item_file, per_user_file

log = logging.getLogger(__name__)

REGIME_TITLES = {
    "warm": "warm: per-user temporal holdout, full ranking",
    "loo": "loo: leave-last-one-out, full ranking",
    "cold_items": "cold_items: new items ranked among the new items only",
    "warm_sampled": "warm_sampled: SAMPLED protocol (1 positive + N negatives; for comparison with papers only)",
}


LATER_STAGES = ("report", "register")


def stage_timings() -> pl.DataFrame:
    """Wall time of every stage up to this one, in the order they ran."""
    files = sorted(paths.TIMINGS_DIR.glob("*.json"), key=lambda path: path.stat().st_mtime)
    rows = [json.loads(path.read_text(encoding="utf-8")) for path in files]
    rows = [row for row in rows if row["stage"] not in LATER_STAGES]
    return pl.DataFrame(rows, schema={"stage": pl.String, "seconds": pl.Float64})


def title(regime: str) -> str:
    if regime.startswith("sparse_"):
        return f"{regime}: warm training thinned to {regime[7:]} of each user's interactions"
    if regime.startswith("cold_users_k"):
        return f"{regime}: new users revealing their first {regime[12:]} interaction(s)"
    if (paper := protocol_of(regime)) is not None:
        return f"{regime}: {paper.label}; published: {paper.published}"
    return REGIME_TITLES.get(regime, regime)


def main() -> None:
    params = load_params()
    settings = params.evaluation
    reports = load_reports([paths.metrics_file(name) for name in params.models])
    per_user = pl.concat([pl.read_parquet(per_user_file(name)).with_columns(model=pl.lit(name)) for name in params.models])
    per_item = pl.concat([pl.read_parquet(per_item_file(name)).with_columns(model=pl.lit(name)) for name in params.models])
    sections, boards = [], {}
    for regime in regimes_in(reports):
        board = build_leaderboard(reports, per_user, regime, settings.selection_metric, settings.bootstrap_samples,
                                  params.seed, baseline=settings.baseline, per_item=per_item)
        boards[regime] = board
        sections.append(to_markdown(board, title(regime)))
        if protocol_of(regime) is not None:
            table = paper_table(reports, regime, PAPER_METRICS, settings.selection_metric)
            sections.append(to_markdown(table, f"{regime}: test figures at the paper's cut-offs ({title(regime)})"))
    timings = stage_timings()
    sections.append(to_markdown(timings.with_row_index("order", offset=1), "time per stage (seconds)"))
    header = (f"# Leaderboards\n\nModels ordered by warm validation {settings.selection_metric} (selection never sees "
              "test). 95% bootstrap intervals over users; `p_vs_best`: two-sided Wilcoxon signed-rank test of per-user "
              f"test NDCG@10 against the first applicable model; `p_vs_{settings.baseline}`: the same test against that "
              "baseline. Where a candidate set is ranked (cold items), `_items_` columns give the uncertainty over those "
              "few items (delete-one jackknife): a user-level p-value there can be reversed by another draw of the "
              "items.\n\n")
    paths.LEADERBOARD_MD.write_text(header + "\n".join(sections), encoding="utf-8")
    paths.LEADERBOARD_DIR.mkdir(parents=True, exist_ok=True)
    for regime, board in boards.items():
        board.write_csv(paths.LEADERBOARD_DIR / f"{regime}.csv")
    boards[WARM].write_csv(paths.LEADERBOARD_CSV)
    write_curves(reports)
    print(to_markdown(boards[WARM], title(WARM)))


def write_curves(reports: list[dict]) -> None:
    paths.PLOTS_DIR.mkdir(parents=True, exist_ok=True)
    sparsity = curve_rows(reports, "sparse_", float, WARM, 1.0).rename({"x": "train_fraction"})
    cold = curve_rows(reports, "cold_users_k", float, None, None).rename({"x": "revealed_k"})
    sparsity.write_csv(paths.PLOTS_DIR / "sparsity.csv")
    cold.write_csv(paths.PLOTS_DIR / "cold_users.csv")
    line_plot(sparsity.rename({"train_fraction": "x"}), "fraction of each user's training interactions", "ndcg@10",
              "Warm test NDCG@10 against training fraction", paths.PLOTS_DIR / "sparsity.png")
    line_plot(cold.rename({"revealed_k": "x"}), "interactions revealed by each new user (k)", "ndcg@10",
              "Cold-user test NDCG@10 against k", paths.PLOTS_DIR / "cold_users.png")


if __name__ == "__main__":
    run_stage("report", main)

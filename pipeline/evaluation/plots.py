"""PNG versions of the DVC plots, for readers without `dvc plots show`."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: stages run on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402


def line_plot(curves: pl.DataFrame, x_label: str, y: str, title: str, path: Path) -> None:
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for (model,), rows in curves.group_by("model", maintain_order=True):
        axes.plot(rows["x"], rows[y], marker="o", label=model)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, ncols=2)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)

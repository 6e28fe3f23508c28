"""Human review of the registry: every version with its numbers and aliases, and approval of a candidate.

The numbers are read back from each version's run, so the table shows what MLflow recorded, not what
the files on disk say today. Aliases are live; a version's decision and reason are the ones recorded
when it was registered (or approved), so the table also tells the story of past rounds.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlflow import MlflowClient

from pipeline.registry.promotion import (
    APPROVAL_TAG,
    CANDIDATE,
    CHALLENGER,
    CHAMPION,
    DECISION_TAG,
    PROMOTED,
    REASON_TAG,
    registered_aliases,
)
from pipeline.registry.tracking import VERSION_TAG_MODEL, VERSION_TAG_MODEL_TYPE, metric_key

REVIEW_METRICS = (("valid", "ndcg@10"), ("valid", "recall@10"), ("test", "ndcg@10"), ("test", "recall@10"))


@dataclass(frozen=True)
class VersionSummary:
    version: str
    model: str
    model_type: str
    metrics: dict[str, float | None]  # "valid ndcg@10" -> value (None when the run did not record it)
    aliases: tuple[str, ...]
    decision: str
    reason: str


def list_versions(client: MlflowClient, model_name: str) -> list[VersionSummary]:
    """Every version of `model_name`, newest first."""
    versions = client.search_model_versions(f"name = '{model_name}'")
    if not versions:
        raise ValueError(f"no versions of '{model_name}' in this tracking store: run the `register` stage first")
    aliases_by_version: dict[str, list[str]] = {}
    for alias, version in sorted(registered_aliases(client, model_name).items()):
        aliases_by_version.setdefault(version, []).append(alias)
    summaries = []
    for model_version in sorted(versions, key=lambda v: int(v.version), reverse=True):
        run_metrics = client.get_run(model_version.run_id).data.metrics if model_version.run_id else {}
        tags = model_version.tags
        summaries.append(
            VersionSummary(
                version=str(model_version.version),
                model=tags.get(VERSION_TAG_MODEL, "?"),
                model_type=tags.get(VERSION_TAG_MODEL_TYPE, "?"),
                metrics={f"{split} {metric}": run_metrics.get(metric_key("warm", split, metric))
                         for split, metric in REVIEW_METRICS},
                aliases=tuple(aliases_by_version.get(str(model_version.version), [])),
                decision=tags.get(DECISION_TAG, ""),
                reason=tags.get(REASON_TAG, ""),
            )
        )
    return summaries


def format_versions(summaries: list[VersionSummary]) -> str:
    """A plain-text table, one line per version; the reason goes last because it is the longest."""
    metric_names = [f"{split} {metric}" for split, metric in REVIEW_METRICS]
    header = ["version", "model", "type", *metric_names, "aliases", "decision", "reason"]
    rows = [
        [
            s.version,
            s.model,
            s.model_type,
            *("-" if s.metrics[name] is None else f"{s.metrics[name]:.4f}" for name in metric_names),
            ",".join(s.aliases) or "-",
            s.decision or "-",
            s.reason or "-",
        ]
        for s in summaries
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = ["  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]])
             for row in [header, *rows]]
    return "\n".join(line.rstrip() for line in lines)


def approve(client: MlflowClient, model_name: str, version: str) -> str:
    """Move `champion` to `version` (the human step of `registry.require_approval`); return what happened."""
    existing = {str(v.version) for v in client.search_model_versions(f"name = '{model_name}'")}
    if version not in existing:
        known = ", ".join(sorted(existing, key=int)) or "none"
        raise ValueError(f"'{model_name}' has no version {version}; versions: {known}")
    aliases = registered_aliases(client, model_name)
    previous = aliases.get(CHAMPION)
    if previous == version:
        return f"version {version} of '{model_name}' already holds '{CHAMPION}'; nothing changed"
    client.set_registered_model_alias(model_name, CHAMPION, version)
    client.set_model_version_tag(model_name, version, APPROVAL_TAG, "approved")
    client.set_model_version_tag(model_name, version, DECISION_TAG, PROMOTED)
    replaced = f"replacing version {previous}" if previous else "the first champion"
    client.set_model_version_tag(model_name, version, REASON_TAG, f"approved by a reviewer, {replaced}")
    if aliases.get(CANDIDATE) == version:
        client.delete_registered_model_alias(model_name, CANDIDATE)
    if aliases.get(CHALLENGER) == version:
        # A version cannot be the alternative to itself; the one it displaced is the rollback target.
        if previous:
            client.set_registered_model_alias(model_name, CHALLENGER, previous)
        else:
            client.delete_registered_model_alias(model_name, CHALLENGER)
    return f"'{CHAMPION}' of '{model_name}' is now version {version} ({replaced})"

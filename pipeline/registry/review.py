"""Human review of the registry: every version with its numbers and aliases, and the human decisions
(approve, reject, rollback), each appended to the audit trail (pipeline/registry/audit.py).

The numbers are read back from each version's run, so the table shows what MLflow recorded, not what
the files on disk say today. Aliases are live; a version's decision and reason are the ones recorded
when it was registered (or approved), so the table also tells the story of past rounds.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlflow import MlflowClient

from pipeline.registry import audit
from pipeline.registry.promotion import (
    APPROVAL_TAG,
    CANDIDATE,
    CHALLENGER,
    CHAMPION,
    DECISION_TAG,
    PROMOTED,
    REASON_TAG,
    REJECTED,
    registered_aliases,
)
from pipeline.registry.tracking import VERSION_TAG_MODEL, VERSION_TAG_MODEL_TYPE, metric_key

ROLLED_BACK = "rolled-back"  # `promotion_decision` of a champion withdrawn by `recsys rollback`
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


def _check_version(client: MlflowClient, model_name: str, version: str) -> None:
    existing = {str(v.version) for v in client.search_model_versions(f"name = '{model_name}'")}
    if version not in existing:
        known = ", ".join(sorted(existing, key=int)) or "none"
        raise ValueError(f"'{model_name}' has no version {version}; versions: {known}")


def _make_champion(client: MlflowClient, model_name: str, version: str, aliases: dict[str, str], reason: str) -> None:
    """Point `champion` at `version` and keep the other aliases consistent with it."""
    previous = aliases.get(CHAMPION)
    client.set_registered_model_alias(model_name, CHAMPION, version)
    client.set_model_version_tag(model_name, version, DECISION_TAG, PROMOTED)
    client.set_model_version_tag(model_name, version, REASON_TAG, reason)
    if aliases.get(CANDIDATE) == version:
        client.delete_registered_model_alias(model_name, CANDIDATE)
    if aliases.get(CHALLENGER) == version:
        # A version cannot be the alternative to itself; the one it displaced is the natural alternative.
        if previous:
            client.set_registered_model_alias(model_name, CHALLENGER, previous)
        else:
            client.delete_registered_model_alias(model_name, CHALLENGER)


def approve(client: MlflowClient, model_name: str, version: str, who: str | None = None) -> str:
    """Move `champion` to `version` (the human step of `registry.require_approval`); return what happened.
    `who` defaults to the login name. Callers hold `registry_lock`, as for every alias move."""
    _check_version(client, model_name, version)
    aliases = registered_aliases(client, model_name)
    previous = aliases.get(CHAMPION)
    if previous == version:
        return f"version {version} of '{model_name}' already holds '{CHAMPION}'; nothing changed"
    who = who or audit.current_user()
    replaced = f"replacing version {previous}" if previous else "the first champion"
    _make_champion(client, model_name, version, aliases, f"approved by {who}, {replaced}")
    client.set_model_version_tag(model_name, version, APPROVAL_TAG, "approved")
    audit.record(client, model_name, audit.APPROVE, version, previous, version, f"approved, {replaced}", who)
    return f"'{CHAMPION}' of '{model_name}' is now version {version} ({replaced})"


def reject(client: MlflowClient, model_name: str, version: str, why: str, who: str | None = None) -> str:
    """Record a reviewer's rejection of `version`: tags, the audit trail, and no alias left on it."""
    if not why.strip():
        raise ValueError("say why the version is rejected (--why \"...\"): the audit trail keeps the reason")
    _check_version(client, model_name, version)
    aliases = registered_aliases(client, model_name)
    if aliases.get(CHAMPION) == version:
        raise ValueError(f"version {version} is the champion; `recsys rollback` restores the previous champion")
    who = who or audit.current_user()
    client.set_model_version_tag(model_name, version, APPROVAL_TAG, "rejected")
    client.set_model_version_tag(model_name, version, DECISION_TAG, REJECTED)
    client.set_model_version_tag(model_name, version, REASON_TAG, f"rejected by {who}: {why}")
    dropped = [alias for alias in (CANDIDATE, CHALLENGER) if aliases.get(alias) == version]
    for alias in dropped:
        client.delete_registered_model_alias(model_name, alias)
    audit.record(client, model_name, audit.REJECT, version, aliases.get(CHAMPION), aliases.get(CHAMPION), why, who)
    return f"version {version} of '{model_name}' is rejected" + (f" (removed alias {', '.join(dropped)})" if dropped else "")


def rollback(client: MlflowClient, model_name: str, why: str) -> str:
    """Move `champion` back to the version that held it before the current one, by the audit trail."""
    aliases = registered_aliases(client, model_name)
    current = aliases.get(CHAMPION)
    if current is None:
        raise ValueError(f"'{model_name}' has no champion to roll back")
    history = audit.champion_history(audit.read_trail(client, model_name))
    if not history or history[-1] != current:
        recorded = f"ends at version {history[-1]}" if history else "is empty"
        raise ValueError(
            f"'{CHAMPION}' points at version {current} but the audit trail {recorded}: the alias was moved outside "
            f"recsys, so the previous champion is unknown; move it with `recsys approve VERSION`"
        )
    if len(history) < 2:
        raise ValueError(f"version {current} is the first champion in the audit trail; there is nothing to roll back to")
    target = history[-2]
    _check_version(client, model_name, target)
    who = audit.current_user()
    client.set_model_version_tag(model_name, current, DECISION_TAG, ROLLED_BACK)
    client.set_model_version_tag(model_name, current, REASON_TAG, f"rolled back by {who}: {why or 'no reason given'}")
    _make_champion(client, model_name, target, aliases, f"restored by {who}'s rollback from version {current}")
    if registered_aliases(client, model_name).get(CHALLENGER) == current:
        client.delete_registered_model_alias(model_name, CHALLENGER)  # it was withdrawn, not an alternative
    audit.record(client, model_name, audit.ROLLBACK, target, current, target, why)
    return f"'{CHAMPION}' of '{model_name}' is back at version {target} (was {current})"

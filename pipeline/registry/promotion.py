"""Promotion policy: which registered version becomes `champion`, `challenger` or `candidate`.

The rules are decided from numbers alone (`decide_promotion`), so they can be read and tested without
a tracking server; `apply_decision` is the one place that turns a decision into registry aliases and
version tags. The rules:

- The best candidate of this round (highest validation metric; ties go to the earlier version) is
  promoted only when it is *strictly* better than the current champion, so rerunning the pipeline on
  unchanged data never churns the alias.
- With `registry.require_approval`, a winning candidate gets the alias `candidate` and the tag
  `approval=pending` instead; a human moves `champion` with `recsys approve VERSION`.
- `challenger` is the strongest alternative to the champion after the decision: the best of this
  round's candidates that did not win, or the displaced champion when that one scores higher. It is
  the model to A/B test against the champion (and the natural rollback target after a promotion).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode

from pipeline.registry.tracking import VERSION_TAG_MODEL, metric_key, safe_metric_name

CHAMPION = "champion"
CHALLENGER = "challenger"
CANDIDATE = "candidate"

APPROVAL_TAG = "approval"
DECISION_TAG = "promotion_decision"
REASON_TAG = "promotion_reason"

# Values of the `promotion_decision` tag.
PROMOTED = "champion"
PENDING = "pending-approval"
KEPT_AS_CHALLENGER = "challenger"
REJECTED = "rejected"


@dataclass(frozen=True)
class Contender:
    """A registered version as the policy sees it: `value` is its validation metric (None when a
    current champion has none recorded, e.g. after `registry.champion_metric` changed)."""

    version: str
    model: str
    value: float | None

    @property
    def label(self) -> str:
        return f"{self.model} v{self.version}"

    def describe(self) -> str:
        return f"{self.label} ({'no value' if self.value is None else f'{self.value:.4f}'})"


@dataclass(frozen=True)
class VersionOutcome:
    """What happened to one candidate of this round, stored as its version tags."""

    version: str
    model: str
    value: float
    decision: str
    reason: str


@dataclass(frozen=True)
class PromotionDecision:
    metric: str
    require_approval: bool
    previous_champion: Contender | None
    champion: Contender | None
    challenger: Contender | None
    pending: Contender | None
    outcomes: tuple[VersionOutcome, ...]
    reasons: tuple[str, ...]

    @property
    def promoted(self) -> bool:
        return self.champion != self.previous_champion

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "promoted": self.promoted}


def decide_promotion(
    candidates: Sequence[Contender], champion: Contender | None, metric: str, require_approval: bool
) -> PromotionDecision:
    """Decide aliases for this round's `candidates` given the current `champion` (None if there is none)."""
    if not candidates:
        raise ValueError("no candidate versions to decide on: is the `models` section of params.yaml empty?")
    for candidate in candidates:
        if candidate.value is None or not math.isfinite(candidate.value):
            raise ValueError(f"{candidate.label} has no finite validation {metric} ({candidate.value}); cannot rank it")
    ranked = sorted(candidates, key=_rank)
    best = ranked[0]
    assert best.value is not None  # checked above; narrows the type
    reasons = [f"Best of {len(ranked)} candidate(s) on validation {metric}: {best.describe()}"
               + (f"; runner-up {ranked[1].describe()}." if len(ranked) > 1 else ".")]

    wins = champion is None or champion.value is None or best.value > champion.value
    if champion is None:
        reasons.append(f"There is no current champion, so {best.label} qualifies.")
    elif champion.value is None:
        reasons.append(f"Champion {champion.label} has no validation {metric} recorded, so {best.label} qualifies.")
    elif wins:
        reasons.append(f"{best.label} beats champion {champion.describe()} by {best.value - champion.value:.4f}.")
    else:
        reasons.append(f"{best.label} does not strictly beat champion {champion.describe()}; the champion stays.")

    new_champion, pending = champion, None
    if wins and require_approval:
        pending = best
        reasons.append(f"registry.require_approval is on: {best.label} gets alias '{CANDIDATE}' and waits for "
                       f"`recsys approve {best.version}`.")
    elif wins:
        new_champion = best
        reasons.append(f"{best.label} becomes {CHAMPION}.")

    alternatives = [c for c in ranked if c not in (new_champion, pending)]
    displaced = champion if new_champion != champion else None
    if displaced is not None and displaced.value is not None:
        alternatives.append(displaced)
    challenger = min(alternatives, key=_rank) if alternatives else None
    if challenger is not None:
        origin = "the displaced champion" if challenger == displaced else "the strongest candidate that did not win"
        reasons.append(f"{challenger.label} becomes {CHALLENGER}: {origin}.")

    outcomes = tuple(_outcome(c, champion, challenger, pending, new_champion, metric) for c in candidates)
    return PromotionDecision(
        metric=metric,
        require_approval=require_approval,
        previous_champion=champion,
        champion=new_champion,
        challenger=challenger,
        pending=pending,
        outcomes=outcomes,
        reasons=tuple(reasons),
    )


def _rank(contender: Contender) -> tuple[float, int]:
    """Sort key: higher value first, then the earlier version (deterministic ties)."""
    return (-(contender.value if contender.value is not None else -math.inf), int(contender.version))


def _outcome(
    candidate: Contender,
    previous: Contender | None,
    challenger: Contender | None,
    pending: Contender | None,
    champion: Contender | None,
    metric: str,
) -> VersionOutcome:
    assert candidate.value is not None  # checked by decide_promotion
    value = f"validation {metric} {candidate.value:.4f}"
    if candidate == pending:
        decision, reason = PENDING, f"{value} beats the champion; awaiting human approval"
    elif candidate == champion:
        against = f"beats champion {previous.describe()}" if previous is not None else "first champion"
        decision, reason = PROMOTED, f"{value}, best of this round; {against}"
    else:
        # Every candidate that did not win lost to the version now holding `candidate` or `champion`.
        winner, alias = (pending, CANDIDATE) if pending is not None else (champion, CHAMPION)
        assert winner is not None
        decision = KEPT_AS_CHALLENGER if candidate == challenger else REJECTED
        reason = f"{value} is not above {winner.describe()}, which holds '{alias}'"
    return VersionOutcome(candidate.version, candidate.model, candidate.value, decision, reason)


def registered_aliases(client: MlflowClient, model_name: str) -> dict[str, str]:
    """Alias -> version of a registered model; empty before its first registration."""
    try:
        aliases = client.get_registered_model(model_name).aliases
    except MlflowException as error:
        if error.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            return {}
        raise
    return {alias: str(version) for alias, version in aliases.items()}  # some stores give int versions


def current_champion(client: MlflowClient, model_name: str, metric: str) -> Contender | None:
    """The version holding `champion`, with its warm validation `metric` read back from its run."""
    version = registered_aliases(client, model_name).get(CHAMPION)
    if version is None:
        return None
    model_version = client.get_model_version(model_name, version)
    run_metrics = client.get_run(model_version.run_id).data.metrics
    return Contender(
        version=version,
        model=model_version.tags.get(VERSION_TAG_MODEL, "?"),
        value=run_metrics.get(metric_key("warm", "valid", metric)),
    )


def apply_decision(client: MlflowClient, model_name: str, decision: PromotionDecision) -> None:
    """Move aliases and tag every candidate version with its decision, reason and metric value."""
    if decision.promoted and decision.champion is not None:
        client.set_registered_model_alias(model_name, CHAMPION, decision.champion.version)
    if decision.pending is not None:
        client.set_registered_model_alias(model_name, CANDIDATE, decision.pending.version)
        client.set_model_version_tag(model_name, decision.pending.version, APPROVAL_TAG, "pending")
    if decision.challenger is not None:
        client.set_registered_model_alias(model_name, CHALLENGER, decision.challenger.version)
    elif CHALLENGER in registered_aliases(client, model_name):
        # A stale challenger from an older round would otherwise outlive the decision that removed it.
        client.delete_registered_model_alias(model_name, CHALLENGER)
    value_tag = f"valid_{safe_metric_name(decision.metric)}"
    for outcome in decision.outcomes:
        client.set_model_version_tag(model_name, outcome.version, DECISION_TAG, outcome.decision)
        client.set_model_version_tag(model_name, outcome.version, REASON_TAG, outcome.reason)
        client.set_model_version_tag(model_name, outcome.version, value_tag, f"{outcome.value:.6f}")

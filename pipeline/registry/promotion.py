"""Promotion policy: which registered version becomes `champion`, `challenger` or `candidate`.

The rules are decided from numbers alone (`decide_promotion`), so they can be read and tested without
a tracking server; `apply_decision` is the one place that turns a decision into registry aliases and
version tags. The rules (`registry.promotion` in params.yaml, all on validation; test is only reported):

- The best candidate of this round is the one with the highest `metric` in `regime` (ties go to the
  earlier version). Only it is measured against the current champion; it replaces the champion when
  1. its mean beats the champion's by more than `min_gain` (so an equally good retrain never churns
     the alias),
  2. a one-sided paired Wilcoxon signed-rank test over the users both were validated on says it is
     better at level `alpha` (skipped with `alpha: null`), and
  3. no guard metric drops by more than its `max_drop`; a guard is checked only where both versions
     serve its regime (a collaborative model has no cold-item numbers) and the decision says so.
- The numbers of two versions are comparable only when both were evaluated on the same splits (the
  `split_hash` tag). When the data changed since the champion was chosen, no mean or paired test can
  say which is better, so the best candidate waits for a human as `candidate` (as with
  `registry.require_approval`) and the decision says why; nothing is promoted on incomparable numbers.
- With `registry.require_approval`, a winning candidate gets the alias `candidate` and the tag
  `approval=pending` instead; a human moves `champion` with `recsys approve VERSION`.
- `challenger` is the strongest alternative to the champion after the decision: the best of this
  round's candidates that did not win, or the displaced champion when that one scores higher. It is
  the model to A/B test against the champion.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode

from pipeline.config import GuardMetric, PromotionPolicy
from pipeline.data.schema import USER
from pipeline.evaluation.significance import paired_p_value
from pipeline.registry.tracking import (
    PER_USER_ARTIFACT_DIR,
    SPLIT_HASH_TAG,
    VERSION_TAG_MODEL,
    metric_key,
    safe_metric_name,
)

CHAMPION = "champion"
CHALLENGER = "challenger"
CANDIDATE = "candidate"

APPROVAL_TAG = "approval"
DECISION_TAG = "promotion_decision"
REASON_TAG = "promotion_reason"
EVIDENCE_TAG_PREFIX = "promotion."  # every number behind the best candidate's decision

# Values of the `promotion_decision` tag.
PROMOTED = "champion"
PENDING = "pending-approval"
KEPT_AS_CHALLENGER = "challenger"
REJECTED = "rejected"

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


@dataclass(frozen=True)
class Contender:
    """A registered version as the policy sees it. `value` is its primary validation metric (None when a
    current champion has none recorded, e.g. after the policy metric changed); `guards` holds its value of
    each guard metric it was measured on; `split` fingerprints the splits it was evaluated on; `per_user`
    maps user id -> primary metric for the paired test (None when not available)."""

    version: str
    model: str
    value: float | None
    guards: Mapping[str, float] = field(default_factory=dict)
    split: str | None = None
    per_user: Mapping[str, float] | None = field(default=None, repr=False, compare=False)

    @property
    def label(self) -> str:
        return f"{self.model} v{self.version}"

    def describe(self) -> str:
        return f"{self.label} ({'no value' if self.value is None else f'{self.value:.4f}'})"

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "model": self.model, "value": self.value, "split": self.split,
                "guards": dict(self.guards)}


@dataclass(frozen=True)
class GuardCheck:
    """One guard metric of the best candidate against the champion."""

    name: str
    candidate: float | None
    champion: float | None
    max_drop: float
    status: str  # PASSED, FAILED or SKIPPED
    note: str

    @property
    def drop(self) -> float | None:
        return None if self.candidate is None or self.champion is None else self.champion - self.candidate


@dataclass(frozen=True)
class Comparison:
    """The best candidate against the current champion: every number behind the decision.
    `incomparable` says why no comparison was possible (None when it was)."""

    candidate_version: str
    champion_version: str
    incomparable: str | None
    gain: float | None
    min_gain: float
    p_value: float | None
    alpha: float | None
    paired_users: int
    guards: tuple[GuardCheck, ...]

    @property
    def gain_passed(self) -> bool:
        return self.gain is not None and self.gain > self.min_gain

    @property
    def significant(self) -> bool:
        return self.alpha is None or (self.p_value is not None and self.p_value < self.alpha)

    @property
    def passed(self) -> bool:
        return (self.incomparable is None and self.gain_passed and self.significant
                and all(guard.status != FAILED for guard in self.guards))

    def failures(self) -> list[str]:
        """Why the candidate did not pass, one phrase per failed check."""
        if self.incomparable is not None:
            return [self.incomparable]
        failures = []
        if not self.gain_passed:
            failures.append(f"gain {self.gain:+.4f} is not above min_gain {self.min_gain:.4f}")
        if not self.significant:
            failures.append(f"one-sided paired Wilcoxon p = {self.p_value:.4g} over {self.paired_users} users is not "
                            f"below alpha {self.alpha}")
        failures += [f"guard {guard.name}: {guard.note}" for guard in self.guards if guard.status == FAILED]
        return failures

    def summary(self) -> str:
        """The numbers in one line, for the best candidate's reason tag."""
        if self.incomparable is not None:
            return self.incomparable
        parts = [f"gain {self.gain:+.4f} (min_gain {self.min_gain:.4f})"]
        if self.alpha is not None:
            parts.append(f"p = {self.p_value:.4g} over {self.paired_users} users (alpha {self.alpha})")
        parts += [f"{guard.name} {guard.status}" for guard in self.guards]
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        guards = [{**asdict(guard), "drop": guard.drop} for guard in self.guards]
        return {**asdict(self), "guards": guards, "gain_passed": self.gain_passed, "significant": self.significant,
                "passed": self.passed}


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
    policy: PromotionPolicy
    require_approval: bool
    previous_champion: Contender | None
    champion: Contender | None
    challenger: Contender | None
    pending: Contender | None
    comparison: Comparison | None  # None when there was no champion to compare with
    outcomes: tuple[VersionOutcome, ...]
    reasons: tuple[str, ...]

    @property
    def promoted(self) -> bool:
        return self.champion != self.previous_champion

    @property
    def metric_name(self) -> str:
        return f"{self.policy.regime} validation {self.policy.metric}"

    def to_dict(self) -> dict[str, Any]:
        def contender(value: Contender | None) -> dict[str, Any] | None:
            return None if value is None else value.to_dict()

        return {
            "policy": self.policy.model_dump(mode="json"),
            "require_approval": self.require_approval,
            "previous_champion": contender(self.previous_champion),
            "champion": contender(self.champion),
            "challenger": contender(self.challenger),
            "pending": contender(self.pending),
            "comparison": None if self.comparison is None else self.comparison.to_dict(),
            "outcomes": [asdict(outcome) for outcome in self.outcomes],
            "reasons": list(self.reasons),
            "promoted": self.promoted,
        }


def compare(best: Contender, champion: Contender, policy: PromotionPolicy) -> Comparison:
    """Measure `best` against `champion` under `policy`, from their numbers alone."""
    guards = tuple(_guard_check(guard, best, champion) for guard in policy.guards)

    def comparison(incomparable: str | None, gain: float | None = None, p_value: float | None = None,
                   paired_users: int = 0) -> Comparison:
        return Comparison(best.version, champion.version, incomparable, gain, policy.min_gain, p_value, policy.alpha,
                          paired_users, guards)

    if champion.value is None:
        return comparison(f"champion {champion.label} has no {policy.regime} validation {policy.metric} recorded")
    if champion.split is None or champion.split != best.split:
        return comparison(
            f"champion {champion.label} was evaluated on splits {champion.split or 'unknown'}, this round on "
            f"{best.split}: the numbers describe different users, so neither means nor a paired test can rank them"
        )
    assert best.value is not None  # decide_promotion checks every candidate
    gain = best.value - champion.value
    if policy.alpha is None:
        return comparison(None, gain)
    if best.per_user is None or champion.per_user is None:
        missing = champion.label if champion.per_user is None else best.label
        return comparison(f"{missing} has no per-user {policy.metric} values for the paired test", gain)
    users = sorted(set(best.per_user) & set(champion.per_user))
    if not users:
        return comparison(f"{best.label} and champion {champion.label} share no validation users to pair", gain)
    ours = np.array([best.per_user[user] for user in users])
    theirs = np.array([champion.per_user[user] for user in users])
    return comparison(None, gain, paired_p_value(ours, theirs, alternative="greater"), len(users))


def _guard_check(guard: GuardMetric, candidate: Contender, champion: Contender) -> GuardCheck:
    ours, theirs = candidate.guards.get(guard.name), champion.guards.get(guard.name)
    if ours is None or theirs is None:
        missing = [c.label for c, v in ((candidate, ours), (champion, theirs)) if v is None]
        verb = "have" if len(missing) > 1 else "has"
        return GuardCheck(guard.name, ours, theirs, guard.max_drop, SKIPPED,
                          f"not compared: {' and '.join(missing)} {verb} no validation {guard.metric} in {guard.regime}")
    drop = theirs - ours
    status = FAILED if drop > guard.max_drop else PASSED
    relation = "exceeds" if status == FAILED else "within"
    return GuardCheck(guard.name, ours, theirs, guard.max_drop, status,
                      f"{ours:.4f} vs {theirs:.4f}: drop {drop:+.4f} {relation} max_drop {guard.max_drop:.4f}")


def decide_promotion(
    candidates: Sequence[Contender], champion: Contender | None, policy: PromotionPolicy, require_approval: bool
) -> PromotionDecision:
    """Decide aliases for this round's `candidates` given the current `champion` (None if there is none)."""
    metric = f"{policy.regime} validation {policy.metric}"
    if not candidates:
        raise ValueError("no candidate versions to decide on: is the `models` section of params.yaml empty?")
    for candidate in candidates:
        if candidate.value is None or not math.isfinite(candidate.value):
            raise ValueError(f"{candidate.label} has no finite {metric} ({candidate.value}); cannot rank it")
    ranked = sorted(candidates, key=_rank)
    best = ranked[0]
    reasons = [f"Best of {len(ranked)} candidate(s) on {metric}: {best.describe()}"
               + (f"; runner-up {ranked[1].describe()}." if len(ranked) > 1 else ".")]

    comparison = compare(best, champion, policy) if champion is not None else None
    needs_review = comparison is not None and comparison.incomparable is not None
    wins = comparison is None or comparison.passed
    if champion is None:
        reasons.append(f"There is no current champion, so {best.label} qualifies.")
    elif needs_review:
        reasons.append(f"{best.label} cannot be compared with the champion: {comparison.incomparable}.")
    elif wins:
        reasons.append(f"{best.label} beats champion {champion.describe()}: {comparison.summary()}.")
    else:
        reasons.append(f"{best.label} does not replace champion {champion.describe()}: "
                       f"{'; '.join(comparison.failures())}. The champion stays.")
    skipped = [guard for guard in (comparison.guards if comparison and not needs_review else ()) if guard.status == SKIPPED]
    reasons += [f"Guard {guard.name} {guard.note}." for guard in skipped]

    new_champion, pending = champion, None
    if needs_review:
        pending = best
        reasons.append(f"{best.label} gets alias '{CANDIDATE}' and waits for a reviewer: `recsys approve "
                       f"{best.version}` or `recsys reject {best.version} --why ...`.")
    elif wins and require_approval:
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

    outcomes = tuple(_outcome(c, champion, challenger, pending, new_champion, comparison, metric) for c in candidates)
    return PromotionDecision(
        policy=policy,
        require_approval=require_approval,
        previous_champion=champion,
        champion=new_champion,
        challenger=challenger,
        pending=pending,
        comparison=comparison,
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
    comparison: Comparison | None,
    metric: str,
) -> VersionOutcome:
    assert candidate.value is not None  # checked by decide_promotion
    value = f"{metric} {candidate.value:.4f}"
    against = "" if previous is None or comparison is None else f"champion {previous.describe()}: {comparison.summary()}"
    compared = comparison is not None and comparison.candidate_version == candidate.version
    if candidate == pending:
        decision = PENDING
        if compared and comparison.incomparable is not None:
            reason = f"{value}; cannot be compared with {against}; awaiting a reviewer"
        else:
            reason = f"{value} beats {against or 'no champion (first one)'}; awaiting human approval"
    elif candidate == champion:
        decision, reason = PROMOTED, f"{value}, best of this round; " + (f"beats {against}" if against else "first champion")
    elif compared:
        assert comparison is not None and previous is not None
        decision = KEPT_AS_CHALLENGER if candidate == challenger else REJECTED
        reason = f"{value}, best of this round, does not replace champion {previous.describe()}: " + "; ".join(
            comparison.failures())
    else:
        # Every other candidate lost to the round's best, which holds `candidate` or `champion` or lost to it.
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


def current_champion(client: MlflowClient, model_name: str, policy: PromotionPolicy) -> Contender | None:
    """The version holding `champion`, with the numbers the policy compares read back from its run: the
    primary and guard validation metrics, its split fingerprint and (for the paired test) its per-user values."""
    version = registered_aliases(client, model_name).get(CHAMPION)
    if version is None:
        return None
    model_version = client.get_model_version(model_name, version)
    run_metrics = client.get_run(model_version.run_id).data.metrics
    guards = {guard.name: run_metrics[key] for guard in policy.guards
              if (key := metric_key(guard.regime, "valid", guard.metric)) in run_metrics}
    return Contender(
        version=version,
        model=model_version.tags.get(VERSION_TAG_MODEL, "?"),
        value=run_metrics.get(metric_key(policy.regime, "valid", policy.metric)),
        guards=guards,
        split=model_version.tags.get(SPLIT_HASH_TAG),
        per_user=logged_per_user_values(client, model_version.run_id, policy) if policy.alpha is not None else None,
    )


def per_user_values(frame: pl.DataFrame, policy: PromotionPolicy) -> dict[str, float] | None:
    """user id -> primary metric on the policy regime's validation part, from a reports/per_user file."""
    if policy.metric not in frame.columns:
        return None
    rows = frame.filter((pl.col("regime") == policy.regime) & (pl.col("part") == "valid"))
    return dict(zip(rows[USER].cast(pl.String).to_list(), rows[policy.metric].to_list(), strict=True)) or None


def logged_per_user_values(client: MlflowClient, run_id: str, policy: PromotionPolicy) -> dict[str, float] | None:
    """The per-user values a run logged (None for versions registered before they were logged)."""
    logged = [a.path for a in client.list_artifacts(run_id, PER_USER_ARTIFACT_DIR) if a.path.endswith(".parquet")]
    if not logged:
        return None
    with tempfile.TemporaryDirectory() as directory:
        local = client.download_artifacts(run_id, logged[0], directory)
        return per_user_values(pl.read_parquet(Path(local)), policy)


def apply_decision(client: MlflowClient, model_name: str, decision: PromotionDecision) -> None:
    """Move aliases and tag every candidate version with its decision, reason and metric value, and the
    compared one with every number of its comparison against the champion."""
    if decision.promoted and decision.champion is not None:
        client.set_registered_model_alias(model_name, CHAMPION, decision.champion.version)
    if decision.pending is not None:
        waiting = registered_aliases(client, model_name).get(CANDIDATE)
        if waiting is not None and waiting != decision.pending.version:
            # An older candidate nobody answered is replaced by this round's; its tag must not say it still waits.
            client.set_model_version_tag(model_name, waiting, APPROVAL_TAG, "superseded")
        client.set_registered_model_alias(model_name, CANDIDATE, decision.pending.version)
        client.set_model_version_tag(model_name, decision.pending.version, APPROVAL_TAG, "pending")
    if decision.challenger is not None:
        client.set_registered_model_alias(model_name, CHALLENGER, decision.challenger.version)
    elif CHALLENGER in registered_aliases(client, model_name):
        # A stale challenger from an older round would otherwise outlive the decision that removed it.
        client.delete_registered_model_alias(model_name, CHALLENGER)
    value_tag = metric_key(decision.policy.regime, "valid", decision.policy.metric)
    for outcome in decision.outcomes:
        client.set_model_version_tag(model_name, outcome.version, DECISION_TAG, outcome.decision)
        client.set_model_version_tag(model_name, outcome.version, REASON_TAG, outcome.reason)
        client.set_model_version_tag(model_name, outcome.version, value_tag, f"{outcome.value:.6f}")
    if decision.comparison is not None:
        for key, value in evidence_tags(decision.comparison).items():
            client.set_model_version_tag(model_name, decision.comparison.candidate_version, key, value)


def evidence_tags(comparison: Comparison) -> dict[str, str]:
    """`promotion.*` tags: the comparison's numbers, one tag each, so the MLflow UI shows them per version."""
    def number(value: float | None) -> str:
        return "" if value is None else f"{value:.6g}"

    tags = {
        "compared_with": comparison.champion_version,
        "comparable": str(comparison.incomparable is None).lower(),
        "gain": number(comparison.gain),
        "min_gain": number(comparison.min_gain),
        "p_value": number(comparison.p_value),
        "alpha": number(comparison.alpha),
        "paired_users": str(comparison.paired_users),
        "passed": str(comparison.passed).lower(),
    }
    # MLflow tag keys may not contain '@': guard `cold_items/ndcg@10` is tagged `promotion.guard.cold_items/ndcg_at_10`
    tags.update({f"guard.{safe_metric_name(guard.name)}": f"{guard.status}: {guard.note}" for guard in comparison.guards})
    return {EVIDENCE_TAG_PREFIX + key: value for key, value in tags.items()}

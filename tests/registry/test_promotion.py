"""The promotion policy on its own: numbers in, aliases, evidence and reasons out, no MLflow involved."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.config import GuardMetric, PromotionPolicy, RegistryParams
from pipeline.registry.promotion import (
    FAILED,
    KEPT_AS_CHALLENGER,
    PASSED,
    PENDING,
    PROMOTED,
    REJECTED,
    SKIPPED,
    Contender,
    PromotionDecision,
    decide_promotion,
    evidence_tags,
)

SPLIT = "split-a"
USERS = [f"u{i}" for i in range(30)]
OFFSETS = np.linspace(-0.05, 0.05, len(USERS))  # sum to zero: each contender's per-user mean is its value
COLD = "cold_users_k3/ndcg@10"
COVERAGE = "warm/coverage@10"
DEFAULT_POLICY = PromotionPolicy()
NO_TEST = PromotionPolicy(alpha=None)


def contender(version: str, model: str, value: float | None, split: str | None = SPLIT, noise: float = 0.0,
              **guards: float) -> Contender:
    """A version whose per-user values spread around `value`; `noise` adds seeded per-user jitter."""
    jitter = np.random.default_rng(int(version)).normal(0, noise, len(USERS)) if noise else 0.0
    per_user = None if value is None else dict(zip(USERS, value + OFFSETS + jitter, strict=True))
    named = {COLD if key == "cold" else COVERAGE: number for key, number in guards.items()}
    return Contender(version, model, value, guards=named, split=split, per_user=per_user)


POP = contender("5", "popularity", 0.10)
KNN = contender("6", "itemknn", 0.25)
EASE = contender("7", "ease", 0.30)
CHAMPION = contender("2", "ease", 0.28)


def decide(candidates: list[Contender], champion: Contender | None, approval: bool = False,
           policy: PromotionPolicy = DEFAULT_POLICY) -> PromotionDecision:
    return decide_promotion(candidates, champion, policy, approval)


def decisions(decision: PromotionDecision) -> dict[str, str]:
    return {outcome.version: outcome.decision for outcome in decision.outcomes}


def test_first_round_makes_the_best_champion_and_the_runner_up_challenger() -> None:
    decision = decide([POP, EASE, KNN], champion=None)
    assert decision.champion == EASE and decision.challenger == KNN and decision.pending is None
    assert decision.promoted and decision.previous_champion is None and decision.comparison is None
    assert decisions(decision) == {"5": REJECTED, "6": KEPT_AS_CHALLENGER, "7": PROMOTED}
    assert "ease v7 (0.3000)" in decision.reasons[0] and "itemknn v6 (0.2500)" in decision.reasons[0]


@pytest.mark.parametrize("value", [0.28, 0.2])
def test_champion_stays_unless_strictly_beaten(value: float) -> None:
    candidate = contender("7", "ease", value)
    decision = decide([POP, candidate], champion=CHAMPION)
    assert decision.champion == CHAMPION and not decision.promoted
    assert decision.challenger == candidate  # the strongest new model is the one to test against the champion
    assert decisions(decision) == {"5": REJECTED, "7": KEPT_AS_CHALLENGER}
    assert f"gain {value - 0.28:+.4f} is not above min_gain 0.0000" in " ".join(decision.reasons)


def test_a_better_candidate_displaces_the_champion_which_becomes_challenger() -> None:
    decision = decide([POP, EASE], champion=CHAMPION)
    assert decision.champion == EASE and decision.promoted and decision.previous_champion == CHAMPION
    assert decision.challenger == CHAMPION  # 0.28 beats the runner-up's 0.10
    comparison = decision.comparison
    assert comparison is not None and comparison.passed and comparison.paired_users == len(USERS)
    assert comparison.gain == pytest.approx(0.02) and comparison.p_value is not None and comparison.p_value < 1e-5
    assert decisions(decision) == {"5": REJECTED, "7": PROMOTED}


def test_the_gain_must_exceed_min_gain() -> None:
    decision = decide([EASE], champion=CHAMPION, policy=PromotionPolicy(min_gain=0.03))
    assert not decision.promoted and decision.comparison is not None and not decision.comparison.gain_passed
    assert "gain +0.0200 is not above min_gain 0.0300" in decision.reasons[1]


def test_a_higher_mean_that_is_noise_is_not_promoted() -> None:
    """Same mean gain as above, but per-user differences that swamp it: the paired test says no."""
    noisy = contender("7", "ease", 0.30, noise=0.3)
    decision = decide([noisy], champion=CHAMPION)
    comparison = decision.comparison
    assert comparison is not None and comparison.gain_passed and not comparison.significant
    assert not decision.promoted and comparison.p_value is not None and comparison.p_value >= 0.05
    assert f"over {len(USERS)} users is not below alpha 0.05" in decision.reasons[1]
    assert decide([noisy], champion=CHAMPION, policy=NO_TEST).promoted  # without the test, the mean decides


def test_the_paired_test_is_one_sided() -> None:
    """A candidate that is worse for almost every user never passes, whatever its p-value two-sided."""
    worse = Contender("7", "ease", 0.30, split=SPLIT, per_user=dict(zip(USERS, 0.1 + OFFSETS, strict=True)))
    comparison = decide([worse], champion=CHAMPION).comparison
    assert comparison is not None and comparison.p_value is not None and comparison.p_value > 0.99


@pytest.mark.parametrize(("cold", "status", "promoted"), [(0.19, PASSED, True), (0.17, FAILED, False)])
def test_a_guard_vetoes_a_drop_beyond_max_drop(cold: float, status: str, promoted: bool) -> None:
    champion = contender("2", "ease", 0.28, cold=0.20, coverage=0.30)
    candidate = contender("7", "ease", 0.30, cold=cold, coverage=0.31)
    decision = decide([candidate], champion=champion)
    comparison = decision.comparison
    assert comparison is not None and decision.promoted is promoted
    guards = {guard.name: guard for guard in comparison.guards}
    assert guards[COLD].status == status and guards[COLD].drop == pytest.approx(0.20 - cold)
    assert guards[COVERAGE].status == PASSED  # coverage rose
    assert guards["cold_items/ndcg@10"].status == SKIPPED  # neither serves new items
    if not promoted:
        assert "guard cold_users_k3/ndcg@10: 0.1700 vs 0.2000: drop +0.0300 exceeds max_drop 0.0200" in decision.reasons[1]


def test_a_guard_is_skipped_where_one_model_does_not_serve_the_regime() -> None:
    champion = contender("2", "twotower", 0.28, cold=0.20)
    candidate = contender("7", "ease", 0.30)  # no cold-user number
    decision = decide([candidate], champion=champion, policy=PromotionPolicy(
        guards=(GuardMetric(regime="cold_users_k3", metric="ndcg@10", max_drop=0.0),)))
    assert decision.promoted
    assert "Guard cold_users_k3/ndcg@10 not compared: ease v7 has no validation ndcg@10 in cold_users_k3." in (
        decision.reasons)


@pytest.mark.parametrize(("champion", "why"), [
    (contender("2", "ease", 0.28, split="split-b"), "was evaluated on splits split-b, this round on split-a"),
    (contender("2", "ease", 0.28, split=None), "was evaluated on splits unknown"),
    (contender("2", "bpr", None), "has no warm validation ndcg@10 recorded"),
    (Contender("2", "ease", 0.28, split=SPLIT), "ease v2 has no per-user ndcg@10 values"),
])
def test_an_incomparable_champion_sends_the_best_candidate_to_a_reviewer(champion: Contender, why: str) -> None:
    decision = decide([POP, EASE], champion=champion)
    assert decision.champion == champion and not decision.promoted and decision.pending == EASE
    assert decision.comparison is not None and why in (decision.comparison.incomparable or "")
    assert decisions(decision)["7"] == PENDING and "recsys approve 7" in " ".join(decision.reasons)
    assert decision.challenger == POP


def test_require_approval_makes_the_winner_a_pending_candidate() -> None:
    decision = decide([POP, EASE], champion=CHAMPION, approval=True)
    assert decision.champion == CHAMPION and not decision.promoted
    assert decision.pending == EASE and decision.challenger == POP
    assert decisions(decision) == {"5": KEPT_AS_CHALLENGER, "7": PENDING}
    assert "recsys approve 7" in " ".join(decision.reasons)


def test_ties_go_to_the_earlier_version() -> None:
    decision = decide([contender("4", "b", 0.2), contender("3", "a", 0.2)], champion=None)
    assert decision.champion is not None and decision.champion.version == "3"


def test_outcome_reasons_carry_the_numbers() -> None:
    reasons = {o.version: o.reason for o in decide([POP, EASE], champion=CHAMPION).outcomes}
    assert reasons["7"].startswith("warm validation ndcg@10 0.3000, best of this round; beats champion ease v2 "
                                   "(0.2800): gain +0.0200 (min_gain 0.0000), p = ")
    assert "cold_users_k3/ndcg@10 skipped" in reasons["7"]
    assert reasons["5"] == "warm validation ndcg@10 0.1000 is not above ease v7 (0.3000), which holds 'champion'"


def test_every_number_goes_into_tags_and_the_report() -> None:
    decision = decide([POP, EASE], champion=contender("2", "ease", 0.28, cold=0.2))
    assert decision.comparison is not None
    tags = evidence_tags(decision.comparison)
    assert tags["promotion.compared_with"] == "2" and tags["promotion.gain"] == "0.02"
    assert tags["promotion.passed"] == "true" and tags["promotion.paired_users"] == str(len(USERS))
    assert tags["promotion.guard.cold_users_k3/ndcg_at_10"].startswith("skipped: not compared: ease v7")
    report = decision.to_dict()
    assert report["champion"] == {"version": "7", "model": "ease", "value": 0.3, "split": SPLIT, "guards": {}}
    assert report["comparison"]["gain_passed"] and report["comparison"]["guards"][0]["drop"] is None
    assert report["policy"]["alpha"] == 0.05 and report["promoted"] is True
    assert [o["decision"] for o in report["outcomes"]] == [REJECTED, PROMOTED]  # the displaced champion is challenger


@pytest.mark.parametrize("candidates", [[], [contender("1", "ease", math.nan)], [contender("1", "ease", None)]])
def test_nothing_rankable_is_an_error(candidates: list[Contender]) -> None:
    with pytest.raises(ValueError):
        decide(candidates, champion=None)


def test_the_old_champion_metric_key_names_its_replacement() -> None:
    with pytest.raises(ValueError, match="registry.champion_metric was replaced by registry.promotion.metric"):
        RegistryParams.model_validate({"champion_metric": "ndcg@10"})

"""The promotion policy on its own: numbers in, aliases and reasons out, no MLflow involved."""

from __future__ import annotations

import math

import pytest

from pipeline.registry.promotion import (
    KEPT_AS_CHALLENGER,
    PENDING,
    PROMOTED,
    REJECTED,
    Contender,
    PromotionDecision,
    decide_promotion,
)

POP = Contender("5", "popularity", 0.10)
KNN = Contender("6", "itemknn", 0.25)
EASE = Contender("7", "ease", 0.30)
CHAMPION = Contender("2", "ease", 0.28)


def decide(candidates: list[Contender], champion: Contender | None, approval: bool = False) -> PromotionDecision:
    return decide_promotion(candidates, champion, "ndcg@10", approval)


def decisions(decision: PromotionDecision) -> dict[str, str]:
    return {outcome.version: outcome.decision for outcome in decision.outcomes}


def test_first_round_makes_the_best_champion_and_the_runner_up_challenger() -> None:
    decision = decide([POP, EASE, KNN], champion=None)
    assert decision.champion == EASE and decision.challenger == KNN and decision.pending is None
    assert decision.promoted and decision.previous_champion is None
    assert decisions(decision) == {"5": REJECTED, "6": KEPT_AS_CHALLENGER, "7": PROMOTED}
    assert "ease v7 (0.3000)" in decision.reasons[0] and "itemknn v6 (0.2500)" in decision.reasons[0]


@pytest.mark.parametrize("value", [0.28, 0.2])
def test_champion_stays_unless_strictly_beaten(value: float) -> None:
    contender = Contender("7", "ease", value)
    decision = decide([POP, contender], champion=CHAMPION)
    assert decision.champion == CHAMPION and not decision.promoted
    assert decision.challenger == contender  # the strongest new model is the one to test against the champion
    assert decisions(decision) == {"5": REJECTED, "7": KEPT_AS_CHALLENGER}
    assert "does not strictly beat champion ease v2 (0.2800)" in " ".join(decision.reasons)


def test_a_better_candidate_displaces_the_champion_which_becomes_challenger() -> None:
    decision = decide([POP, EASE], champion=CHAMPION)
    assert decision.champion == EASE and decision.promoted and decision.previous_champion == CHAMPION
    assert decision.challenger == CHAMPION  # 0.28 beats the runner-up's 0.10
    assert "beats champion ease v2 (0.2800) by 0.0200" in " ".join(decision.reasons)
    assert decisions(decision) == {"5": REJECTED, "7": PROMOTED}


def test_the_runner_up_is_challenger_when_it_beats_the_displaced_champion() -> None:
    weak_champion = Contender("2", "popularity", 0.05)
    decision = decide([POP, EASE], champion=weak_champion)
    assert decision.champion == EASE and decision.challenger == POP


def test_require_approval_makes_the_winner_a_pending_candidate() -> None:
    decision = decide([POP, EASE], champion=CHAMPION, approval=True)
    assert decision.champion == CHAMPION and not decision.promoted
    assert decision.pending == EASE and decision.challenger == POP
    assert decisions(decision) == {"5": KEPT_AS_CHALLENGER, "7": PENDING}
    assert "recsys approve 7" in " ".join(decision.reasons)


def test_a_champion_without_a_recorded_value_is_replaced() -> None:
    unknown = Contender("1", "bpr", None)
    decision = decide([POP], champion=unknown)
    assert decision.champion == POP and decision.challenger is None  # an unranked version is no alternative


def test_ties_go_to_the_earlier_version() -> None:
    decision = decide([Contender("4", "b", 0.2), Contender("3", "a", 0.2)], champion=None)
    assert decision.champion is not None and decision.champion.version == "3"


def test_outcome_reasons_carry_the_numbers() -> None:
    reasons = {o.version: o.reason for o in decide([POP, EASE], champion=CHAMPION).outcomes}
    assert reasons["7"] == "validation ndcg@10 0.3000, best of this round; beats champion ease v2 (0.2800)"
    assert reasons["5"] == "validation ndcg@10 0.1000 is not above ease v7 (0.3000), which holds 'champion'"


def test_decision_serialises_for_the_promotion_report() -> None:
    report = decide([POP, EASE], champion=None).to_dict()
    assert report["champion"] == {"version": "7", "model": "ease", "value": 0.3} and report["promoted"] is True
    assert [o["decision"] for o in report["outcomes"]] == [KEPT_AS_CHALLENGER, PROMOTED]


@pytest.mark.parametrize("candidates", [[], [Contender("1", "ease", math.nan)], [Contender("1", "ease", None)]])
def test_nothing_rankable_is_an_error(candidates: list[Contender]) -> None:
    with pytest.raises(ValueError):
        decide(candidates, champion=None)

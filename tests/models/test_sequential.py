"""Sequence recommenders on planted synthetic data: they learn an order that an order-blind copy cannot,
survive a save/load round trip, and Time-LSTM's time gates react to the gaps between interactions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from pipeline.data.features import build_side_information
from pipeline.data.interactions import IdIndex, Interactions, SplitData
from pipeline.data.splitting import temporal_split
from pipeline.evaluation.protocol import evaluate_ranking, warm_sets
from pipeline.models.base import ScoringContext
from pipeline.models.registry import create_model, load_model
from pipeline.models.sequential import Sequences
from pipeline.models.time_lstm import log_gaps

N_ITEMS = 40
SEQUENTIAL = ["gru4rec", "lstm", "time_lstm", "user_gru", "caser", "sasrec", "text_cnn"]
RECURRENT = {"gru4rec", "lstm", "time_lstm", "user_gru", "text_cnn"}
SMALL = {name: {"embedding_dim": 32, "max_length": 12, "dropout": 0.1, "learning_rate": 0.02, "batch_size": 16, "epochs": 12,
                "patience": 12, **({"hidden_dim": 32} if name in RECURRENT else {})} for name in SEQUENTIAL}
SMALL["text_cnn"]["min_word_count"] = 1  # each planted title has one word of its own: the item's number
SMALL["text_cnn"]["id_dropout"] = 0.0  # order is under test here, not content (tests/models/test_text_cnn.py)


def planted_split(seed: int = 0, n_users: int = 120, steps: int = 6) -> SplitData:
    """Each user interleaves two walks along one fixed random cycle over the catalogue (a1 b1 a2 b2 ...),
    so the next item is the successor of the item two steps back. Knowing the set of items, or even the
    last one, is not enough: its unseen neighbour on the cycle is usually the wrong walk's next item.
    Items carry titles and genres so the text hybrid runs on the same data."""
    rng = np.random.default_rng(seed)
    cycle = rng.permutation(N_ITEMS)
    rows = []
    for user in range(n_users):
        first = rng.integers(N_ITEMS)
        starts = np.array([first, first + steps + rng.integers(N_ITEMS - 2 * steps + 1)])  # walks never meet
        walks = cycle[(starts[:, None] + np.arange(steps)[None, :]) % N_ITEMS]
        sequence = walks.T.ravel()
        rows += [(f"u{user:03d}", f"i{item:02d}", None, 1_000_000 + 3_600 * step) for step, item in enumerate(sequence)]
    frame = pl.DataFrame(rows, schema={"user_id": pl.String, "item_id": pl.String, "rating": pl.Float64,
                                       "timestamp": pl.Int64}, orient="row")
    items = pl.DataFrame({"item_id": [f"i{i:02d}" for i in range(N_ITEMS)],
                          "title": [f"film number {i}" for i in range(N_ITEMS)],
                          "genres": [["odd"] if i % 2 else ["even"] for i in range(N_ITEMS)]})
    parts = temporal_split(frame, 0.1, 0.1)
    index = IdIndex.from_frames(*parts.values())
    side = build_side_information(index, items, None)
    return SplitData(index=index, **{name: Interactions.from_frame(part, index, side) for name, part in parts.items()})


def shuffled_within_users(train: Interactions, seed: int) -> Interactions:
    """The same training interactions with each user's timestamps permuted: the order is destroyed."""
    rng = np.random.default_rng(seed)
    stamps = train.timestamps.copy()
    for user in np.unique(train.users):
        rows = np.flatnonzero(train.users == user)
        stamps[rows] = rng.permutation(stamps[rows])
    return Interactions(train.users, train.items, stamps, train.ratings, train.n_users, train.n_items, train.side)


def held_out_ndcg(name: str, data: SplitData, train: Interactions) -> float:
    model = create_model(name, SMALL[name], data.index.n_users, data.index.n_items, "cpu", seed=0)
    model.fit(train, data.valid)
    result = evaluate_ranking(model, warm_sets(data)["test"], [10], 1024, data.train.item_counts, data.index.n_users)
    return result.summary["ndcg@10"]


@pytest.fixture(scope="module")
def data() -> SplitData:
    return planted_split()


@pytest.mark.parametrize("name", SEQUENTIAL)
def test_learns_the_planted_order_that_an_order_blind_copy_cannot(name: str, data: SplitData) -> None:
    ordered = held_out_ndcg(name, data, data.train)
    order_blind = held_out_ndcg(name, data, shuffled_within_users(data.train, seed=1))
    assert ordered > 0.8, f"{name} did not learn the successor rule"
    assert ordered > order_blind + 0.3


@pytest.mark.parametrize("name", SEQUENTIAL)
def test_save_load_round_trip_gives_identical_scores(name: str, data: SplitData, tmp_path: Path) -> None:
    params = {**SMALL[name], "epochs": 2}
    model = create_model(name, params, data.index.n_users, data.index.n_items, "cpu", seed=1).fit(data.train, data.valid)
    model.save(tmp_path)
    restored = load_model(tmp_path)
    users = torch.arange(data.index.n_users)
    context = ScoringContext(history=data.train.concat(data.valid))
    assert torch.equal(model.score(users, context), restored.score(users, context))


def gapped(items: list[int], gaps_hours: list[float]) -> Sequences:
    stamps = (1_000_000 + 3_600 * np.cumsum([0.0, *gaps_hours])).astype(np.int64)
    return Sequences(torch.tensor([0]), torch.tensor([items]), torch.from_numpy(stamps)[None])


def test_time_lstm_gates_and_scores_respond_to_gaps(data: SplitData) -> None:
    model = create_model("time_lstm", SMALL["time_lstm"], data.index.n_users, data.index.n_items, "cpu", seed=0)
    model.fit(data.train, data.valid)
    model.module.eval()
    encoder = model.module.encoder
    items = [3, 7, 11, 5]
    quick, slow = gapped(items, [0.1, 0.1, 0.1]), gapped(items, [0.1, 0.1, 24 * 90])
    with torch.no_grad():
        vectors, _ = model.item_representations()
        gates = {}
        for label, sequences in (("quick", quick), ("slow", slow)):
            real = sequences.items != model.n_items
            _, short_term_gate, _ = encoder.cell.gates(vectors[sequences.items], log_gaps(sequences, real, encoder.time_unit))
            gates[label] = short_term_gate[0, -1]
        states = {label: model.encode(s, vectors)[0, -1] for label, s in (("quick", quick), ("slow", slow))}
    # the gap weight of the short-term gate is non-positive: a three-month pause closes it
    assert torch.all(gates["slow"] < gates["quick"])
    assert not torch.allclose(states["quick"], states["slow"])


def test_left_padding_does_not_change_a_state(data: SplitData) -> None:
    """Training windows and scoring histories pad differently; the state of a history must not care."""
    for name in ("gru4rec", "time_lstm", "sasrec", "caser"):
        model = create_model(name, {**SMALL[name], "epochs": 1}, data.index.n_users, data.index.n_items, "cpu", seed=0)
        model.fit(data.train, data.valid)
        vectors, _ = model.item_representations()
        pad = model.n_items
        short = Sequences(torch.tensor([0]), torch.tensor([[4, 9, 2]]), torch.tensor([[10, 20, 30]]))
        padded = Sequences(torch.tensor([0]), torch.tensor([[pad, pad, 4, 9, 2]]), torch.tensor([[0, 0, 10, 20, 30]]))
        with torch.no_grad():
            assert torch.allclose(model.encode(short, vectors)[0, -1], model.encode(padded, vectors)[0, -1], atol=1e-5), name


def test_user_gru_serves_a_cold_user_from_the_unknown_user_vector(data: SplitData) -> None:
    model = create_model("user_gru", {**SMALL["user_gru"], "epochs": 2}, data.index.n_users, data.index.n_items, "cpu", seed=0)
    cold = data.train.users[0]
    model.fit(data.train.subset(data.train.users != cold), data.valid)
    context = ScoringContext(history=data.train)
    before = model.score(torch.tensor([cold]), context)
    with torch.no_grad():
        model.module.encoder.users.embedding.weight[cold] += 5.0  # the cold user's row was never trained
    assert torch.equal(before, model.score(torch.tensor([cold]), context))
    assert torch.isfinite(before).all()

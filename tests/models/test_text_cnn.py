"""The text-CNN hybrid: its vocabulary, ranking items nobody has interacted with from their text alone,
and a safe save/load round trip (JSON vocabulary, state_dict weights)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from pipeline.data.features import build_side_information
from pipeline.data.interactions import IdIndex, Interactions, SplitData
from pipeline.data.splitting import temporal_split
from pipeline.models.base import ScoringContext
from pipeline.models.registry import create_model, load_model
from pipeline.models.text_cnn import CONTENT_FILE, TextCNNHybrid, Vocabulary

TOPICS = {"space": ["rocket", "orbit", "alien"], "romance": ["love", "wedding", "kiss"], "war": ["soldier", "battle", "tank"]}
ITEMS_PER_TOPIC, COLD_PER_TOPIC = 16, 5
SMALL = {"embedding_dim": 32, "hidden_dim": 32, "word_dim": 16, "filters": 16, "max_length": 12,
         "learning_rate": 0.01, "batch_size": 16, "epochs": 30, "patience": 30}


def test_vocabulary_keeps_shared_words_and_maps_the_rest_to_unknown() -> None:
    vocabulary = Vocabulary.build(["The Rocket (2013)", "rocket girl", "Love, the end"], min_count=2)
    assert vocabulary.words == ("rocket", "the")  # in two documents each; ties alphabetically
    encoded = vocabulary.encode(["rocket LOVE the rocket the", ""], max_words=4)
    assert encoded.tolist() == [[2, Vocabulary.UNKNOWN, 3, 2], [Vocabulary.PADDING] * 4]


def topic_split(seed: int = 0, n_users: int = 90) -> tuple[SplitData, np.ndarray, dict[int, str]]:
    """Items of three topics named by topic words in their titles (no categories, so only text tells
    them apart); each user watches warm items of one topic. The last items of every topic get no
    interactions: they are new items. Returns the split, the new items' indices and each user's topic."""
    rng = np.random.default_rng(seed)
    titles, topic_of, cold_ids = {}, {}, []
    for topic, words in TOPICS.items():
        for j in range(ITEMS_PER_TOPIC):
            item = f"{topic}{j:02d}"
            titles[item] = f"{rng.choice(words)} {rng.choice(['night', 'day', 'story'])} {rng.choice(words)} {j}"
            topic_of[item] = topic
            if j >= ITEMS_PER_TOPIC - COLD_PER_TOPIC:
                cold_ids.append(item)
    warm_ids = [item for item in titles if item not in cold_ids]
    rows, cold_rows, user_topic = [], [], {}
    for user in range(n_users):
        topic = list(TOPICS)[user % len(TOPICS)]
        user_topic[user] = topic
        liked = rng.permutation([item for item in warm_ids if topic_of[item] == topic])[:8]
        rows += [(f"u{user:03d}", item, None, 1_000 + step) for step, item in enumerate(liked)]
        cold_rows += [(f"u{user:03d}", item, None, 9_000) for item in cold_ids if topic_of[item] == topic]
    schema = {"user_id": pl.String, "item_id": pl.String, "rating": pl.Float64, "timestamp": pl.Int64}
    parts = temporal_split(pl.DataFrame(rows, schema=schema, orient="row"), 0.1, 0.1)
    cold_frame = pl.DataFrame(cold_rows, schema=schema, orient="row")
    index = IdIndex.from_frames(*parts.values(), cold_frame)
    items = pl.DataFrame({"item_id": list(titles), "title": list(titles.values())})
    side = build_side_information(index, items, None)
    split = SplitData(index=index, **{name: Interactions.from_frame(part, index, side) for name, part in parts.items()})
    topics = {int(index.user_index([f"u{u:03d}"])[0]): t for u, t in user_topic.items()}
    return split, index.item_index(cold_ids), topics


@pytest.fixture(scope="module")
def trained() -> tuple[TextCNNHybrid, SplitData, np.ndarray, dict[int, str]]:
    split, cold, topics = topic_split()
    model = create_model("text_cnn", SMALL, split.index.n_users, split.index.n_items, "cpu", seed=0)
    model.fit(split.train, split.valid)
    assert isinstance(model, TextCNNHybrid)
    return model, split, cold, topics


def test_new_items_are_ranked_by_their_text(trained) -> None:
    model, split, cold, topics = trained
    users = np.array(sorted(topics))
    scores = model.score(torch.from_numpy(users), ScoringContext(history=split.train.concat(split.valid)))
    assert not model.module.interacted[torch.from_numpy(cold)].any(), "the new items must have no interactions"
    top = cold[scores[:, cold].argsort(dim=1, descending=True)[:, :COLD_PER_TOPIC].numpy()]
    item_topics = np.array([item_id.rstrip("0123456789") for item_id in split.index.item_ids])
    precision = np.mean([np.mean(item_topics[row] == topics[user]) for user, row in zip(users, top, strict=True)])
    # random ranking puts one item in three of the user's topic on top
    assert precision > 0.8


def test_unsupported_regimes_is_empty_because_new_items_are_served() -> None:
    assert TextCNNHybrid.unsupported_regimes == {}


def test_save_load_round_trip_gives_identical_scores_and_a_json_vocabulary(trained, tmp_path: Path) -> None:
    model, split, cold, _ = trained
    model.save(tmp_path)
    content = json.loads((tmp_path / CONTENT_FILE).read_text(encoding="utf-8"))
    assert "rocket" in content["vocabulary"]
    restored = load_model(tmp_path)
    users = torch.arange(split.index.n_users)
    context = ScoringContext(history=split.train)
    assert torch.equal(model.score(users, context), restored.score(users, context))


def test_fitting_without_item_text_says_how_to_provide_it() -> None:
    split, _, _ = topic_split()
    bare = Interactions(split.train.users, split.train.items, split.train.timestamps, split.train.ratings,
                        split.train.n_users, split.train.n_items)
    model = create_model("text_cnn", SMALL, split.index.n_users, split.index.n_items, "cpu", seed=0)
    with pytest.raises(ValueError, match="items table"):
        model.fit(bare)

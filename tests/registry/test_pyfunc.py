"""The champion as MLflow loads it in-process (`mlflow.pyfunc.load_model`, what `recsys recommend`
and the scoring server do): every path of the request schema, against the offline code it must match."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import mlflow
import numpy as np
import pandas as pd
import polars as pl
import pytest
from mlflow.exceptions import MlflowException

from pipeline import paths
from pipeline.data.interactions import SplitData
from pipeline.evaluation.protocol import EvaluationSet, evaluate_ranking
from pipeline.models.registry import create_model, load_model
from pipeline.registry.requests import MAX_ITEMS, MAX_K, parse_requests
from pipeline.registry.serving import COLD_USER, PERSONALISED, POPULAR_FALLBACK, SESSION, ServedRecommender
from tests.registry.conftest import COLD_USERS, MODEL_NAME, NEW_ITEMS, Project
from tests.registry.offline import known_history, most_popular, offline_cold_user_ranking, revealed_items

CHAMPION_URI = f"models:/{MODEL_NAME}@champion"


@pytest.fixture(scope="module")
def champion(registered: tuple[Project, dict]) -> mlflow.pyfunc.PyFuncModel:
    project, _ = registered
    project.client()
    return mlflow.pyfunc.load_model(CHAMPION_URI)


@pytest.fixture(scope="module")
def split(registered: tuple[Project, dict]) -> SplitData:
    project, _ = registered
    return SplitData.load(project.root / paths.split_dir("warm"))


def test_is_logged_from_code_not_pickled(champion: mlflow.pyfunc.PyFuncModel) -> None:
    flavor = champion.metadata.flavors["python_function"]
    assert flavor["loader_module"] == "mlflow.pyfunc.loaders.code_model" and "python_model" not in flavor
    assert flavor["code"] == "code"  # the pipeline package travels with the model


def test_known_user_gets_top_k_without_known_items(
    registered: tuple[Project, dict], champion: mlflow.pyfunc.PyFuncModel, split: SplitData
) -> None:
    project, promotion = registered
    history = known_history(split)
    user = split.index.user_index(["u00"])
    model = load_model(project.root / paths.model_dir("ease", "warm"))
    expected = evaluate_ranking(model, EvaluationSet(history, split.test.subset(split.test.users == user[0]),
                                                     np.flatnonzero(history.item_counts > 0)),
                                [5], 64, history.item_counts, 40).top_items[0]

    result = champion.predict(pd.DataFrame({"user_id": ["u00"], "k": [5]}))

    assert result["item_ids"][0] == split.index.item_ids[expected].tolist()
    assert result["strategy"][0] == PERSONALISED and result["unknown_items"][0] == []
    assert result["model_version"][0] == f"{MODEL_NAME}/{promotion['champion']['version']}"
    known = set(split.index.item_ids[history.csr[user[0]].indices])
    assert known and not known & set(result["item_ids"][0])


def test_unknown_user_without_recent_items_gets_the_most_popular_items(
    champion: mlflow.pyfunc.PyFuncModel, split: SplitData
) -> None:
    result = champion.predict(pd.DataFrame({"user_id": ["somebody-new", "u01"]}), params={"k": 10})

    assert result["strategy"].tolist() == [POPULAR_FALLBACK, PERSONALISED]
    assert result["item_ids"][0] == most_popular(split, 10) and len(result["item_ids"][1]) == 10
    assert "no known interactions" in result["message"][0]


def test_new_user_is_folded_in_as_the_cold_user_regime_does(
    registered: tuple[Project, dict], champion: mlflow.pyfunc.PyFuncModel, split: SplitData
) -> None:
    project, _ = registered
    cold_user = COLD_USERS[1]  # held out: an index row with no history, as a split's cold users have
    revealed = revealed_items(split, cold_user, 2)
    offline = offline_cold_user_ranking(project.root / paths.model_dir("ease", "warm"), split, cold_user, revealed, 10)
    requests = pd.DataFrame({"user_id": ["a-new-visitor", cold_user, None], "recent_items": [revealed] * 3})

    result = champion.predict(requests)

    assert result["strategy"].tolist() == [COLD_USER, COLD_USER, SESSION]
    assert result["item_ids"].tolist() == [offline] * 3
    assert offline != most_popular(split, 10) and not set(revealed) & set(offline)


def test_recent_items_of_a_known_user_join_its_history(champion: mlflow.pyfunc.PyFuncModel) -> None:
    plain = champion.predict(pd.DataFrame({"user_id": ["u00"], "k": [5]}))["item_ids"][0]
    recent = plain[:2]

    result = champion.predict(pd.DataFrame({"user_id": ["u00"], "recent_items": [recent], "k": [5]}))

    assert result["strategy"][0] == PERSONALISED and not set(recent) & set(result["item_ids"][0])


def test_unknown_ids_are_reported_and_exclusions_honoured(champion: mlflow.pyfunc.PyFuncModel) -> None:
    plain = champion.predict(pd.DataFrame({"user_id": ["u00"], "k": [5]}))["item_ids"][0]
    request = {"user_id": ["u00"], "exclude_items": [[plain[0], "no-such-item"]], "recent_items": [["gone"]]}

    result = champion.predict(pd.DataFrame(request), params={"k": 5})

    assert result["unknown_items"][0] == ["gone", "no-such-item"]
    assert result["item_ids"][0][:4] == plain[1:] and plain[0] not in result["item_ids"][0]


def test_only_unknown_recent_items_fall_back_to_popularity(
    champion: mlflow.pyfunc.PyFuncModel, split: SplitData
) -> None:
    result = champion.predict(pd.DataFrame({"recent_items": [["nothing-we-know"]]}))

    assert result["strategy"][0] == POPULAR_FALLBACK and result["unknown_items"][0] == ["nothing-we-know"]
    assert result["item_ids"][0] == most_popular(split, 10) and result["user_id"][0] is None


def test_collaborative_model_says_it_cannot_rank_new_items(
    champion: mlflow.pyfunc.PyFuncModel, split: SplitData
) -> None:
    known_to_u00 = set(split.index.item_ids[known_history(split).csr[split.index.user_index(["u00"])[0]].indices])
    unseen = [item for item in split.index.item_ids[:15] if item not in known_to_u00][:2]

    result = champion.predict(pd.DataFrame({"user_id": ["u00"], "candidate_items": [[*NEW_ITEMS, *unseen]]}))

    assert sorted(result["item_ids"][0]) == unseen and result["strategy"][0] == PERSONALISED
    assert all(item in result["message"][0] for item in NEW_ITEMS) and "collaborative" in result["message"][0]


@pytest.mark.parametrize(
    ("request_frame", "params", "field"),
    [
        ({"user_id": ["u00"], "k": [0]}, None, "'k'"),
        ({"user_id": ["u00"], "k": [MAX_K + 1]}, None, "'k'"),
        ({"user_id": ["u00"]}, {"k": -3}, "params.k"),
        ({"user_id": [7]}, None, "'user_id'"),
        ({"user_id": [""]}, None, "'user_id'"),
        ({"recent_items": ["i01"]}, None, "'recent_items'"),
        ({"recent_items": [[1, 2]]}, None, "'recent_items'"),
        ({"exclude_items": [["i01"] * (MAX_ITEMS + 1)]}, None, "'exclude_items'"),
        ({"candidate_items": [["../../etc/passwd", None]]}, None, "'candidate_items'"),
        ({"user_id": ["u00"], "surprise": [1]}, None, "surprise"),
        ({"recent_items": [["i01"]], "attributes": [{"age": "31"}]}, None, "'attributes'"),
    ],
)
def test_bad_requests_are_refused_naming_the_field(
    champion: mlflow.pyfunc.PyFuncModel, request_frame: dict, params: dict | None, field: str
) -> None:
    # the pyfunc's own checks; the signature's type checks run first over HTTP (test_serving_http.py)
    model = champion.unwrap_python_model()
    with pytest.raises(MlflowException, match=field) as error:
        model.predict(None, pd.DataFrame(request_frame), params)
    assert error.value.error_code == "INVALID_PARAMETER_VALUE"


def test_folding_in_new_users_never_touches_known_users(split: SplitData) -> None:
    """A model with per-user parameters (BPR) writes new users into lent rows only, a lent row starts
    afresh for every request, and requests from several threads (as the scoring server runs them) get
    the answers they get one at a time."""
    model = create_model("bpr", {"epochs": 2, "embedding_dim": 8}, split.index.n_users, split.index.n_items, "cpu", 3)
    model.fit(split.train)
    served = ServedRecommender(model, split.index, known_history(split), None)
    before = model.module.user_embedding.weight.detach().clone()
    known = served.known_users

    def ask(frame: pd.DataFrame) -> list[list[int]]:
        return [answer.items.tolist() for answer in served.recommend(parse_requests(frame, None, split.index))]

    users = pd.DataFrame({"user_id": ["u00", "u01"]})
    first_known = ask(users)
    cold = pd.DataFrame({"user_id": ["x", "y"], "recent_items": [["i01", "i02"], ["i20", "i21", "i22"]]})
    first_cold = ask(cold)
    ask(pd.DataFrame({"user_id": ["z"], "recent_items": [["i25"]]}))

    assert bool((model.module.user_embedding.weight[known] == before[known]).all())
    assert ask(cold) == first_cold and ask(users) == first_known
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ask, [cold, users] * 8))
    assert answers == [first_cold, first_known] * 8


def test_a_new_users_attributes_reach_a_feature_aware_model(registered: tuple[Project, dict], tmp_path) -> None:
    """Two-tower: a new user's `attributes` are read as a users-table row would be, so the answer equals the
    offline cold-user ranking of a held-out user with those attributes; other attributes, another answer."""
    project, _ = registered
    directory = project.root / paths.split_dir("warm")
    users = pl.DataFrame({"user_id": [f"u{user:02d}" for user in range(44)],
                          "taste": ["space" if user % 2 == 0 else "romance" for user in range(44)]})
    split = SplitData.load(directory, items=pl.read_parquet(project.root / paths.ITEMS_FILE), users=users)
    model = create_model("twotower", {"epochs": 3, "embedding_dim": 8, "hidden_sizes": [16], "feature_buckets": 64},
                         split.index.n_users, split.index.n_items, "cpu", 5)
    model.fit(split.train)
    model.save(tmp_path / "twotower")
    served = ServedRecommender(model, split.index, known_history(split), users)
    cold_user = COLD_USERS[0]  # group 0: "space" in the users table
    revealed = revealed_items(split, cold_user, 1)
    offline = offline_cold_user_ranking(tmp_path / "twotower", split, cold_user, revealed, 10)

    def ask(attributes: dict[str, str]) -> list[str]:
        frame = pd.DataFrame({"recent_items": [revealed], "attributes": [attributes]})
        (answer,) = served.recommend(parse_requests(frame, None, split.index))
        return split.index.item_ids[answer.items].tolist()

    assert ask({"taste": "space"}) == offline and ask({"taste": "romance"}) != offline
    with pytest.raises(MlflowException, match="unknown attribute"):
        ask({"age": "31"})

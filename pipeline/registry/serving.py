"""Answering recommendation requests with a trained model: known users, new users, anonymous
sessions and new-item candidates, each row labelled with the path that served it.

New users and sessions are folded in exactly as the offline cold-user regime does
(pipeline/stages/evaluate.py): the revealed items join the known history, `model.fold_in(users,
history)` prepares the model for them, and the shared `top_k` ranks the items the model knows with
that history masked. A user the index has never seen needs a row of the model's fixed-size user
index: each is lent a "spare" row, one that no training or validation interaction uses (on a split,
the held-out cold users' rows), so a known user's parameters are never touched; fold-in rewrites a
lent row completely before it is read, so nothing carries over from one request to the next. One
lock serialises scoring, because fold-in writes those rows and some models cache derived matrices.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.sparse as sp

from pipeline.data.features import build_side_information
from pipeline.data.interactions import IdIndex, Interactions
from pipeline.data.schema import USER
from pipeline.evaluation.ranking import top_k
from pipeline.evaluation.regimes import COLD_ITEMS
from pipeline.models.base import Recommender, ScoringContext
from pipeline.models.registry import create_model
from pipeline.registry.requests import ATTRIBUTES, CANDIDATE_ITEMS, Request, invalid

PERSONALISED = "personalised"  # a user the model was trained or validated with, plus any recent items
COLD_USER = "cold-user"  # a user id the model has no history for, folded in from recent items
SESSION = "session"  # no user id: the recent items folded in as an anonymous user
POPULAR_FALLBACK = "popular-fallback"  # nothing usable: the most popular items


@dataclass(frozen=True)
class Answer:
    items: np.ndarray  # item indices, best first
    strategy: str
    message: str


@dataclass(frozen=True)
class _Slot:
    """A request placed on a user row for one scoring pass."""

    position: int  # in the request
    row: int  # the model's user row it is scored as
    request: Request


class ServedRecommender:
    """A trained model with what it knows (the history, side tables) and the rules to answer requests."""

    def __init__(self, model: Recommender, index: IdIndex, history: Interactions, users_table: pl.DataFrame | None):
        self.model = model
        self.index = index
        self.history = history
        self.users_table = users_table
        self.known_users = np.diff(history.csr.indptr) > 0
        self.spare_rows = np.flatnonzero(~self.known_users)
        # Offline, warm and cold-user rankings never include the held-out new items: neither does the default.
        self.known_items = np.flatnonzero(history.item_counts > 0)
        self.cold_items_reason = model.unsupported_regimes.get(COLD_ITEMS)
        self.popularity = create_model("popularity", {}, index.n_users, index.n_items, "cpu", seed=0).fit(history)
        self.lock = threading.Lock()

    def recommend(self, requests: Sequence[Request]) -> list[Answer]:
        answers: dict[int, Answer] = {}
        personal, popular = [], []
        for position, request in enumerate(requests):
            if self.is_known(request.user):
                personal.append(_Slot(position, request.user, request))
            elif len(request.recent_items) and len(self.spare_rows):
                personal.append(_Slot(position, -1, request))
            else:
                popular.append(position)
        with self.lock:
            for chunk in self._chunks_with_spare_rows(personal):
                answers.update(self._answer_personal(chunk))
        for position in popular:
            answers[position] = self._answer_popular(requests[position])
        return [answers[position] for position in range(len(requests))]

    def is_known(self, user: int) -> bool:
        return user >= 0 and bool(self.known_users[user])

    def strategy(self, request: Request) -> str:
        if self.is_known(request.user):
            return PERSONALISED
        return COLD_USER if request.user_id is not None else SESSION

    def _chunks_with_spare_rows(self, slots: list[_Slot]) -> Iterator[list[_Slot]]:
        """Slots whose new users fit the spare rows, each new user lent a distinct one."""
        chunk, lent = [], 0
        for slot in slots:
            if slot.row < 0:
                if lent == len(self.spare_rows):
                    yield chunk
                    chunk, lent = [], 0
                slot = dataclasses.replace(slot, row=int(self.spare_rows[lent]))
                lent += 1
            chunk.append(slot)
        if chunk:
            yield chunk

    def _answer_personal(self, slots: list[_Slot]) -> dict[int, Answer]:
        history = self._history_with(slots)
        new_users = np.array([slot.row for slot in slots if not self.is_known(slot.request.user)], dtype=np.int64)
        if len(new_users):
            self.model.fold_in(new_users, history)
        context = ScoringContext(history)
        answers = {}
        for group, candidates, message in self._ranking_groups(slots):
            exclude = history.csr + _exclusions(group, history.csr.shape)
            rows = np.array([slot.row for slot in group], dtype=np.int64)
            ranked = top_k(self.model, rows, context, exclude, max(slot.request.k for slot in group),
                           candidates=candidates)
            for slot, items in zip(group, ranked, strict=True):
                items = _rankable(items, exclude[slot.row].indices, candidates)
                answers[slot.position] = Answer(items[: slot.request.k], self.strategy(slot.request), message)
        return answers

    def _answer_popular(self, request: Request) -> Answer:
        candidates = request.candidate_items if request.candidate_items is not None else self.known_items
        excluded = sp.csr_matrix((np.ones(len(request.exclude_items), dtype=np.float32),
                                  (np.zeros(len(request.exclude_items), dtype=np.int64), request.exclude_items)),
                                 shape=(1, self.index.n_items))
        # popularity ignores who asks: one row of exclusions is all the ranking reads
        items = top_k(self.popularity, np.zeros(1, dtype=np.int64), ScoringContext(self.history), excluded,
                      request.k, candidates=candidates)[0]
        items = _rankable(items, request.exclude_items, candidates)
        return Answer(items, POPULAR_FALLBACK, self._fallback_reason(request))

    def _fallback_reason(self, request: Request) -> str:
        if len(request.recent_items):
            return "the served model's user index has no spare row to fold a new user into"
        who = "no user id" if request.user_id is None else "the user has no known interactions"
        return f"{who} and no recent item the catalogue knows"

    def _history_with(self, slots: list[_Slot]) -> Interactions:
        """The known history plus every slot's recent items, in their order, after everything known;
        new users' attributes replace their lent rows' in the side information."""
        revealed = [(slot.row, slot.request.recent_items) for slot in slots if len(slot.request.recent_items)]
        if not revealed:
            return self.history
        rows = np.concatenate([np.full(len(items), row, dtype=np.int64) for row, items in revealed])
        items = np.concatenate([items for _, items in revealed])
        start = int(self.history.timestamps.max(initial=0)) + 1
        stamps = np.concatenate([start + np.arange(len(items)) for _, items in revealed])
        recent = Interactions(rows, items, stamps, np.full(len(rows), np.nan, dtype=np.float32),
                              self.index.n_users, self.index.n_items, self.history.side)
        history = self.history.concat(recent)
        attributes = {slot.row: slot.request.attributes for slot in slots
                      if slot.request.attributes and not self.is_known(slot.request.user)}
        return dataclasses.replace(history, side=self._side_with(attributes)) if attributes else history

    def _side_with(self, attributes: dict[int, dict[str, str]]):
        """Side information with the given rows' user attributes, built as the users table's are."""
        table = self.users_table
        if table is None or table.width < 2:
            raise invalid(f"'{ATTRIBUTES}': this model was logged without user attributes; send none")
        names = set(table.columns) - {USER}
        lent_ids = self.index.user_ids[list(attributes)]
        new_rows = []
        for row, values in attributes.items():
            unknown = sorted(set(values) - names)
            if unknown:
                raise invalid(f"'{ATTRIBUTES}': unknown attribute(s) {unknown}; known: {sorted(names)}")
            new_rows.append({USER: str(self.index.user_ids[row]), **values})
        try:
            added = pl.DataFrame(new_rows, schema={name: pl.String for name in table.columns}).cast(
                dict(table.schema), strict=True)
        except pl.exceptions.PolarsError as error:
            raise invalid(f"'{ATTRIBUTES}': a value does not fit its attribute's type {dict(table.schema)}") from error
        users = pl.concat([table.filter(~pl.col(USER).is_in(lent_ids)), added])
        return dataclasses.replace(self.history.side, users=build_side_information(self.index, None, users).users)

    def _ranking_groups(self, slots: list[_Slot]) -> Iterator[tuple[list[_Slot], np.ndarray, str]]:
        """Slots ranked in one `top_k` call: the same candidates and each user row at most once (a row
        carries one set of exclusions)."""
        by_candidates: dict[tuple[int, ...] | None, list[_Slot]] = {}
        for slot in slots:
            key = None if slot.request.candidate_items is None else tuple(slot.request.candidate_items.tolist())
            by_candidates.setdefault(key, []).append(slot)
        for key, group in by_candidates.items():
            candidates, message = self._candidates(key)
            while group:
                seen, batch, rest = set(), [], []
                for slot in group:
                    (rest if slot.row in seen else batch).append(slot)
                    seen.add(slot.row)
                yield batch, candidates, message
                group = rest

    def _candidates(self, requested: tuple[int, ...] | None) -> tuple[np.ndarray, str]:
        """The items a group may be recommended; new items only where the model can score them."""
        if requested is None:
            return self.known_items, ""
        candidates = np.array(requested, dtype=np.int64)
        if not self.cold_items_reason:
            return candidates, ""
        new = candidates[self.history.item_counts[candidates] == 0]
        if not len(new):
            return candidates, ""
        names = ", ".join(self.index.item_ids[new].tolist())
        return np.setdiff1d(candidates, new), f"'{CANDIDATE_ITEMS}' {names} not ranked: {self.cold_items_reason}"


def _exclusions(slots: list[_Slot], shape: tuple[int, int]) -> sp.csr_matrix:
    rows = np.concatenate([np.full(len(slot.request.exclude_items), slot.row, dtype=np.int64) for slot in slots])
    items = np.concatenate([slot.request.exclude_items for slot in slots]).astype(np.int64)
    return sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, items)), shape=shape)


def _rankable(ranked: np.ndarray, excluded: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """`ranked` without excluded or non-candidate items: `top_k` fills a list longer than what may be
    recommended (fewer candidates than k once exclusions are masked) with masked items."""
    return ranked[np.isin(ranked, candidates) & ~np.isin(ranked, excluded)]

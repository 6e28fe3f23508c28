"""Side information as hashed sparse feature matrices (Weinberger et al. 2009's hashing trick).

Each item becomes a bag of named features (title/text words, categories) and each user a bag of
attribute names with their values, hashed into a fixed number of buckets. Parameter shapes then
depend on the model configuration alone (a model is rebuilt from its JSON config before any data is
seen), no vocabulary has to be stored next to the weights, and items or attribute values never seen
in training still map to buckets. The hash is CRC-32, stable across processes and platforms.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable

import numpy as np
import scipy.sparse as sp

from pipeline.data.features import SideInformation

TOKEN = re.compile(r"[^\W_]+")


def _bucket(name: str, buckets: int) -> int:
    return zlib.crc32(name.encode("utf-8")) % buckets


def _hashed_rows(bags: Iterable[list[tuple[str, float]]], n_rows: int, buckets: int, normalize: bool) -> sp.csr_matrix:
    """One row per bag; with `normalize`, scaled to unit L2 norm so long titles do not outweigh short ones."""
    rows, columns, values = [], [], []
    for row, bag in enumerate(bags):
        for name, value in bag:
            rows.append(row)
            columns.append(_bucket(name, buckets))
            values.append(value)
    matrix = sp.csr_matrix((np.asarray(values, dtype=np.float32), (rows, columns)), shape=(n_rows, buckets))
    matrix.sum_duplicates()
    if not normalize:
        return matrix
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    return (sp.diags(1.0 / np.maximum(norms, 1e-12)).astype(np.float32) @ matrix).tocsr()


def item_feature_matrix(side: SideInformation | None, n_items: int, buckets: int) -> sp.csr_matrix:
    """[n_items, buckets]: words of the item text and the item's categories; empty rows without side data."""
    if side is None or side.items is None:
        return sp.csr_matrix((n_items, buckets), dtype=np.float32)
    categories = side.items.categories.tocsr()
    names = side.items.category_names

    def bag(item: int) -> list[tuple[str, float]]:
        words = [(f"word:{token}", 1.0) for token in TOKEN.findall(side.items.text[item].lower())]
        span = slice(categories.indptr[item], categories.indptr[item + 1])
        tags = [(f"category:{names[j]}", 1.0) for j in categories.indices[span]]
        return words + tags

    return _hashed_rows((bag(item) for item in range(n_items)), n_items, buckets, normalize=True)


def user_feature_matrix(side: SideInformation | None, n_users: int, buckets: int) -> sp.csr_matrix:
    """[n_users, buckets]: one-hot and standardised numeric attributes under their names; empty without."""
    if side is None or side.users is None:
        return sp.csr_matrix((n_users, buckets), dtype=np.float32)
    attributes = side.users.attributes.tocsr()
    names = side.users.attribute_names

    def bag(user: int) -> list[tuple[str, float]]:
        span = slice(attributes.indptr[user], attributes.indptr[user + 1])
        pairs = zip(attributes.indices[span], attributes.data[span], strict=True)
        return [(f"attribute:{names[j]}", float(value)) for j, value in pairs]

    # not normalised: a standardised numeric attribute must keep its value
    return _hashed_rows((bag(user) for user in range(n_users)), n_users, buckets, normalize=False)

"""The interaction matrix every CF model is fitted on, and what the models share: scores as an inner product.

``interaction_matrix`` turns an interaction frame into a ``(n_users, n_items)`` CSR matrix whose row ``u`` and
column ``i`` are the positions of the ids in ``user_ids`` and ``item_ids`` (the same orders the rest of the
chapter uses for top-k and metrics). A model's score matrix is ``S = U V^T`` with ``(U, V) = model.vectors()``:
factor models give their factors, item-item models (kNN, EASE) give ``U = X`` (the user's history) and
``V = W^T`` (the item-item weights), popularity gives ``U = 1`` and ``V = counts``.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from xlrec_lib.rec.content import index_pairs
from xlrec_lib.rec.topk import TopK, topk


def interaction_matrix(frame: pd.DataFrame, user_ids, item_ids, col_user: str = "user_id",
                       col_item: str = "item_id", col_rating: str | None = None) -> sp.csr_matrix:
    """``(len(user_ids), len(item_ids))`` float32 CSR matrix: 1 per interaction, or the ``col_rating`` value.

    An id missing from ``user_ids``/``item_ids`` or a repeated (user, item) pair is a ``ValueError``.
    """
    for col in (col_user, col_item) + ((col_rating,) if col_rating else ()):
        if col not in frame.columns:
            raise ValueError(f"interaction_matrix: frame has no column {col!r}; columns are {list(frame.columns)}")
    rows, cols = index_pairs(frame, user_ids, item_ids, col_user, col_item)
    if pd.Series(rows.astype(np.int64) * len(item_ids) + cols).duplicated().any():
        raise ValueError("interaction_matrix: a (user, item) pair appears twice; aggregate the frame first")
    values = frame[col_rating].to_numpy(np.float32) if col_rating else np.ones(len(frame), np.float32)
    return sp.csr_matrix((values, (rows, cols)), shape=(len(user_ids), len(item_ids)), dtype=np.float32)


def check_train(train, name: str = "train") -> sp.csr_matrix:
    """``train`` as a float32 CSR matrix with sorted indices; not sparse, empty, negative or NaN is a ValueError."""
    if not sp.issparse(train):
        raise ValueError(f"{name} must be a scipy.sparse (n_users, n_items) matrix, got {type(train).__name__}")
    x = sp.csr_matrix(train, dtype=np.float32)
    x.sum_duplicates()
    x.sort_indices()
    if x.nnz == 0:
        raise ValueError(f"{name} has no interaction")
    if not np.isfinite(x.data).all() or (x.data < 0).any():
        raise ValueError(f"{name} values must be finite and >= 0")
    return x


@contextmanager
def torch_threads(n: int):
    """Run the block with ``torch.set_num_threads(n)`` (restored afterwards). The CF loops are many small tensor
    operations: on a busy machine, torch's threads spin-waiting for each other made them up to ten times slower
    than one thread (measured on the course's shared 2-core machine)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def seen_pairs(x: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """The (user row, item column) pairs stored in ``x``: the ``exclude`` argument of top-k."""
    coo = x.tocoo()
    return coo.row.astype(np.int64), coo.col.astype(np.int64)


class Recommender:
    """What the CF models share: subclasses set ``train_`` in ``fit`` and implement ``vectors``."""

    train_: sp.csr_matrix | None = None

    def vectors(self) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover - every model overrides it
        raise NotImplementedError

    def _fitted(self) -> sp.csr_matrix:
        if self.train_ is None:
            raise ValueError(f"{type(self).__name__} is not fitted: call fit(train) first")
        return self.train_

    def scores(self) -> torch.Tensor:
        """Dense ``(n_users, n_items)`` float32 scores ``U V^T`` (for fusion on MovieLens-sized data)."""
        users, items = self.vectors()
        return users @ items.T

    def recommend(self, k: int, exclude="train") -> TopK:
        """Top ``k`` per user through :func:`xlrec_lib.rec.topk.topk`; ``exclude="train"`` skips the items of the
        training matrix, ``None`` skips nothing, anything else is passed on as top-k's ``exclude``."""
        users, items = self.vectors()
        exclude = seen_pairs(self._fitted()) if isinstance(exclude, str) and exclude == "train" else exclude
        return topk(users, items, k, exclude)

"""Item-kNN: score an item by how similar it is to the items the user already has (cosine, k nearest neighbours).

With ``x_i`` the binary column of item ``i`` in the training matrix (which users have it),

    sim(i, j) = x_i . x_j / (||x_i|| ||x_j|| + shrink),   sim(i, i) = 0,

each item ``j`` keeps only its ``neighbors`` most similar items ``N(j)``, and

    s_uj = sum_{i in N(j)} x_ui sim(i, j).

Dense ``(n_items, n_items)`` similarities: for catalogues of a few thousand items.
"""

from __future__ import annotations

import numpy as np
import torch

from xlrec_lib.rec.cf.base import Recommender, check_train


def knn_weights(x, neighbors: int, shrink: float = 0.0) -> np.ndarray:
    """``W (n_items, n_items)`` with ``W_ij = sim(i, j)`` for the ``neighbors`` largest ``i`` of each column ``j``,
    0 elsewhere and on the diagonal (see the module docstring)."""
    x = x.astype(np.float64)
    gram = (x.T @ x).toarray()
    norms = np.sqrt(np.diag(gram))
    denom = np.outer(norms, norms) + shrink
    sim = np.divide(gram, denom, out=np.zeros_like(gram), where=denom > 0)  # an item nobody has: similarity 0
    np.fill_diagonal(sim, 0.0)
    n = sim.shape[0]
    if neighbors < n:
        drop = np.argpartition(-sim, neighbors, axis=0)[neighbors:]  # per column, rows beyond the top neighbours
        np.put_along_axis(sim, drop, 0.0, axis=0)
    return sim


class ItemKNN(Recommender):
    """Cosine item-item neighbours: ``s_uj = sum_{i in N(j)} x_ui sim(i, j)`` (see the module docstring).
    ``vectors()`` = ``(X dense, W^T)``. Interactions are binarised."""

    def __init__(self, neighbors: int = 100, shrink: float = 0.0):
        if neighbors < 1 or shrink < 0:
            raise ValueError(f"ItemKNN: need neighbors >= 1 and shrink >= 0, got {neighbors} and {shrink}")
        self.neighbors, self.shrink = int(neighbors), float(shrink)

    def fit(self, train) -> ItemKNN:
        x = check_train(train)
        x.data[:] = 1.0
        self.train_ = x
        self.weights_ = knn_weights(x, self.neighbors, self.shrink).astype(np.float32)
        return self

    def vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        x = self._fitted()
        return torch.from_numpy(x.toarray()), torch.from_numpy(np.ascontiguousarray(self.weights_.T))

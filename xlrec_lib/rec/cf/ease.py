"""EASE (Steck 2019, "Embarrassingly shallow autoencoders for sparse data"): a closed-form item-item model.

Objective, with ``X`` the binary ``(n_users, n_items)`` training matrix and ``B`` the ``(n_items, n_items)`` weights:

    min_B  ||X - X B||_F^2 + lam ||B||_F^2     subject to  diag(B) = 0

(the zero diagonal stops an item from predicting itself). With ``P = (X^T X + lam I)^{-1}``, the Lagrangian gives

    B = I - P diag(1 / diag(P)),   i.e.  B_ij = -P_ij / P_jj  (i != j),  B_jj = 0,

and scores ``S = X B``. One ``n_items x n_items`` inverse: seconds for thousands of items, memory ``n_items^2``.
"""

from __future__ import annotations

import numpy as np
import torch

from xlrec_lib.rec.cf.base import Recommender, check_train


def ease_weights(gram: np.ndarray, lam: float) -> np.ndarray:
    """``B`` from the Gram matrix ``G = X^T X`` ``(n_items, n_items)``: ``P = (G + lam I)^-1``, ``B = -P / diag(P)``
    column-wise, zero diagonal. float64 inside."""
    g = np.array(gram, dtype=np.float64)
    g[np.diag_indices_from(g)] += lam
    p = np.linalg.inv(g)
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    return b


class EASE(Recommender):
    """Steck's EASE: ``B = argmin ||X - XB||^2 + lam ||B||^2, diag(B) = 0`` (closed form, see the module docstring);
    scores ``X B``. ``vectors()`` = ``(X dense, B^T)``. Interactions are binarised."""

    def __init__(self, lam: float = 500.0):
        if not lam > 0:
            raise ValueError(f"EASE: lam must be > 0, got {lam}")
        self.lam = float(lam)

    def fit(self, train) -> EASE:
        x = check_train(train)
        x.data[:] = 1.0
        self.train_ = x
        self.weights_ = ease_weights((x.T @ x).toarray(), self.lam).astype(np.float32)
        return self

    def vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        x = self._fitted()
        return torch.from_numpy(x.toarray()), torch.from_numpy(np.ascontiguousarray(self.weights_.T))

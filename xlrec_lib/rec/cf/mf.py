"""Explicit matrix factorisation: predict the ratings themselves (biased MF, fitted by alternating least squares).

Only the observed ratings ``Omega`` count. With global mean ``mu``, biases ``b_u``, ``b_i``, factors ``p_u``, ``q_i``:

    r_hat_ui = mu + b_u + b_i + p_u . q_i
    min  sum_{(u,i) in Omega} (r_ui - r_hat_ui)^2 + reg (||p_u||^2 + ||q_i||^2 + b_u^2 + b_i^2)

Fixing the items, each user's ``[p_u, b_u]`` is a ridge regression of ``r_ui - mu - b_i`` on ``[q_i, 1]`` over the
items the user rated:

    ([Q_u, 1]^T [Q_u, 1] + reg I) [p_u; b_u] = [Q_u, 1]^T (r_u - mu - b_{I_u}),

and symmetrically for the items. A model of *ratings*, not of what a user will watch: ranking unseen items by
``r_hat`` favours films few people rated highly (see the chapter). Rows are solved in a Python loop: fine for
MovieLens-100k, a teaching model.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from xlrec_lib.rec.cf.base import Recommender, check_train


def ridge_rows(r: sp.csr_matrix, design: np.ndarray, offset: np.ndarray, shift: float, reg: float) -> np.ndarray:
    """For each row ``u`` of ``r`` (n_rows, n_cols): ``argmin_w sum_{j in row u} (r_uj - shift - offset_j - a_j . w)^2
    + reg ||w||^2`` with ``a_j = design[j]`` (n_cols, d). Returns ``(n_rows, d)``; a row without ratings gets 0."""
    d = design.shape[1]
    out = np.zeros((r.shape[0], d))
    eye = reg * np.eye(d)
    for u in range(r.shape[0]):
        cols = r.indices[r.indptr[u]:r.indptr[u + 1]]
        if len(cols):
            a = design[cols]
            target = r.data[r.indptr[u]:r.indptr[u + 1]] - shift - offset[cols]
            out[u] = np.linalg.solve(a.T @ a + eye, a.T @ target)
    return out


class ExplicitMF(Recommender):
    """Biased MF of the ratings, ``min sum_Omega (r_ui - mu - b_u - b_i - p_u.q_i)^2 + reg(...)`` (module docstring),
    by ALS from small random factors (``seed``). ``predict(u, i)`` gives ``r_hat``; ``vectors()`` gives
    ``U = [p_u, 1, mu + b_u]`` and ``V = [q_i, b_i, 1]`` so that ``U V^T = r_hat``."""

    def __init__(self, factors: int = 32, reg: float = 10.0, iterations: int = 10, seed: int = 0):
        if factors < 1 or iterations < 1 or reg < 0:
            raise ValueError(f"ExplicitMF: need factors, iterations >= 1 and reg >= 0, got {factors}, {iterations}, "
                             f"{reg}")
        self.factors, self.reg, self.iterations, self.seed = int(factors), float(reg), int(iterations), seed

    def fit(self, train) -> ExplicitMF:
        r = check_train(train)
        self.train_ = r
        rt = r.T.tocsr()
        rng = np.random.default_rng(self.seed)
        self.mu_ = float(r.data.mean())
        p = rng.normal(0, 0.1, (r.shape[0], self.factors))
        q = rng.normal(0, 0.1, (r.shape[1], self.factors))
        bu, bi = np.zeros(r.shape[0]), np.zeros(r.shape[1])
        for _ in range(self.iterations):
            w = ridge_rows(r, np.hstack([q, np.ones((len(q), 1))]), bi, self.mu_, self.reg)
            p, bu = w[:, :-1], w[:, -1]
            w = ridge_rows(rt, np.hstack([p, np.ones((len(p), 1))]), bu, self.mu_, self.reg)
            q, bi = w[:, :-1], w[:, -1]
        self.p_, self.q_, self.bu_, self.bi_ = p, q, bu, bi
        return self

    def predict(self, users, items) -> np.ndarray:
        """``r_hat`` for aligned arrays of user and item row indices."""
        self._fitted()
        users, items = np.asarray(users), np.asarray(items)
        return self.mu_ + self.bu_[users] + self.bi_[items] + (self.p_[users] * self.q_[items]).sum(1)

    def vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        self._fitted()
        ones_u, ones_i = np.ones((len(self.p_), 1)), np.ones((len(self.q_), 1))
        u = np.hstack([self.p_, ones_u, (self.mu_ + self.bu_)[:, None]])
        v = np.hstack([self.q_, self.bi_[:, None], ones_i])
        return torch.from_numpy(u).float(), torch.from_numpy(v).float()

"""Synthetic implicit-feedback matrices with power-law popularity, for timing fits at sizes MovieLens lacks.

User activity and item popularity both follow Zipf-like weights ``w_r = r^(-exponent)`` (rank ``r = 1, 2, ...``),
as real interaction data do (a few heavy users, a few blockbusters, long tails). Pairs are drawn with probability
``w_u w_i`` and duplicates dropped, so the result holds close to ``nnz`` interactions (exactly ``nnz`` is not
promised).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def power_law_matrix(n_users: int, n_items: int, nnz: int, exponent: float = 0.8, seed: int = 0) -> sp.csr_matrix:
    """``(n_users, n_items)`` binary float32 CSR with about ``nnz`` stored ones (module docstring)."""
    if min(n_users, n_items, nnz) < 1 or nnz > n_users * n_items // 2:
        raise ValueError(f"power_law_matrix: need positive sizes and nnz <= half the matrix, got {n_users} x "
                         f"{n_items} with nnz={nnz}")
    rng = np.random.default_rng(seed)
    weights = [np.arange(1, n + 1, dtype=np.float64) ** -exponent for n in (n_users, n_items)]
    weights = [w / w.sum() for w in weights]
    keys = np.empty(0, dtype=np.int64)
    while len(keys) < nnz:  # top up until the distinct pairs reach nnz (duplicates of popular pairs are dropped)
        draw = int((nnz - len(keys)) * 1.2) + 16
        users = rng.choice(n_users, draw, p=weights[0])
        items = rng.choice(n_items, draw, p=weights[1])
        keys = np.unique(np.concatenate([keys, users.astype(np.int64) * n_items + items]))
    keys = rng.permutation(keys)[:nnz]
    return sp.csr_matrix((np.ones(nnz, np.float32), (keys // n_items, keys % n_items)), shape=(n_users, n_items))

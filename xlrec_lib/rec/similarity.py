"""Scores of user-item pairs: inner products, cosines, and the seed's sigmoid(cos).

Every function here rejects a vector holding NaN or inf with a ``ValueError`` naming its row: a NaN would
otherwise rank first under ``torch.topk``, and a NaN row would score cosine 0 with everything.

Seed 000 scores a pair as ``p = sigmoid(cos(h_u, h_i))`` and sorts. Since ``cos`` lies in [-1, 1], ``sigmoid(cos)``
lies in [0.269, 0.731]: a monotone rescaling of the cosine, not a probability (see ``rec.calibration``).
"""

from __future__ import annotations

import math

import torch

from xlrec_lib.vectors import normalize_rows

SIGMOID_COS_RANGE = (1 / (1 + math.e), 1 / (1 + math.exp(-1)))  # sigmoid(-1), sigmoid(1) = 0.2689..., 0.7310...


def as_matrix(x, name: str) -> torch.Tensor:
    t = torch.as_tensor(x)
    if t.ndim != 2:
        raise ValueError(f"{name} must be a (n, dim) matrix, got shape {tuple(t.shape)}")
    return t if t.is_floating_point() else t.float()


def nonfinite_rows(x: torch.Tensor) -> torch.Tensor:
    """Indices of the rows of a ``(n, dim)`` matrix that hold a NaN or an infinity, ``(n_bad,)``."""
    return (~torch.isfinite(x)).any(dim=1).nonzero()[:, 0]


def finite_matrix(x, name: str, remedy: str = "repair or drop that row") -> torch.Tensor:
    """``x`` as a float ``(n, dim)`` matrix (see :func:`as_matrix`); ``ValueError`` naming the first row that holds
    a NaN or an infinity, how many rows do, and ``remedy``."""
    t = as_matrix(x, name)
    if t.numel() == 0 or all(v.isfinite() for v in torch.aminmax(t)):  # one pass: NaN and inf reach min or max
        return t
    bad = nonfinite_rows(t)
    if len(bad):
        row = int(bad[0])
        col = int((~torch.isfinite(t[row])).nonzero()[0, 0])
        raise ValueError(f"{name} row {row} is not finite ({t[row, col].item()} at column {col}; {len(bad)} of "
                         f"{t.shape[0]} rows hold NaN or inf): {remedy}")
    return t


def check_products_finite(users: torch.Tensor, items: torch.Tensor,
                          dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """``ValueError`` unless every inner product of a user row and an item row, and every partial sum on the way,
    fits ``dtype``: all are at most ``|u| |i|`` in size (Cauchy-Schwarz), so the largest norms decide. Returns the
    float64 row norms it measured, ``((n_users,), (n_items,))``, for a caller that needs them too."""
    norms_u = torch.linalg.vector_norm(users, dim=1, dtype=torch.float64)
    norms_i = torch.linalg.vector_norm(items, dim=1, dtype=torch.float64)
    if users.shape[0] == 0 or items.shape[0] == 0:
        return norms_u, norms_i
    (nu, ru), (ni, ri) = norms_u.max(0), norms_i.max(0)
    if not float(nu) * float(ni) < torch.finfo(dtype).max / 2:
        raise ValueError(f"inner products may overflow {dtype}: users row {int(ru)} has norm {float(nu):.3g} and "
                         f"items row {int(ri)} norm {float(ni):.3g}; rescale the vectors (or use metric='cosine')")
    return norms_u, norms_i


def dot(users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """All pairs' inner products ``U I^T``: ``(n_users, dim), (n_items, dim) -> (n_users, n_items)``."""
    u, i = finite_matrix(users, "users"), finite_matrix(items, "items")
    check_products_finite(u, i, torch.promote_types(u.dtype, i.dtype))
    return u @ i.T


def cosine(users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """All pairs' cosines ``u.i / (|u| |i|)``, ``(n_users, n_items)``; 0 for a pair with a zero vector."""
    return normalize_rows(finite_matrix(users, "users")) @ normalize_rows(finite_matrix(items, "items")).T


def dot_pairs(users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """Row-wise inner products of aligned pairs: ``(n, dim), (n, dim) -> (n,)``."""
    u, i = _aligned(users, items)
    check_products_finite(u, i, torch.promote_types(u.dtype, i.dtype))
    return (u * i).sum(dim=1)


def cosine_pairs(users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """Row-wise cosines of aligned pairs ``(n, dim), (n, dim) -> (n,)``; 0 where either vector is zero."""
    u, i = _aligned(users, items)
    return (normalize_rows(u) * normalize_rows(i)).sum(dim=1)


def _aligned(users, items) -> tuple[torch.Tensor, torch.Tensor]:
    u, i = finite_matrix(users, "users"), finite_matrix(items, "items")
    if u.shape != i.shape:
        raise ValueError(f"aligned pairs need equal shapes, got users {tuple(u.shape)} and items {tuple(i.shape)}")
    return u, i


def sigmoid_cos(cos: torch.Tensor) -> torch.Tensor:
    """Seed 000's score ``p = 1 / (1 + exp(-cos))``: always within ``SIGMOID_COS_RANGE`` = [0.269, 0.731]."""
    return torch.sigmoid(torch.as_tensor(cos))

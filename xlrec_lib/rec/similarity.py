"""Scores of user-item pairs: inner products, cosines, and the seed's sigmoid(cos).

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


def dot(users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """All pairs' inner products ``U I^T``: ``(n_users, dim), (n_items, dim) -> (n_users, n_items)``."""
    return as_matrix(users, "users") @ as_matrix(items, "items").T


def cosine(users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """All pairs' cosines ``u.i / (|u| |i|)``, ``(n_users, n_items)``; 0 for a pair with a zero vector."""
    return normalize_rows(as_matrix(users, "users")) @ normalize_rows(as_matrix(items, "items")).T


def dot_pairs(users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """Row-wise inner products of aligned pairs: ``(n, dim), (n, dim) -> (n,)``."""
    u, i = as_matrix(users, "users"), as_matrix(items, "items")
    if u.shape != i.shape:
        raise ValueError(f"aligned pairs need equal shapes, got users {tuple(u.shape)} and items {tuple(i.shape)}")
    return (u * i).sum(dim=1)


def cosine_pairs(users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """Row-wise cosines of aligned pairs ``(n, dim), (n, dim) -> (n,)``; 0 where either vector is zero."""
    return dot_pairs(normalize_rows(as_matrix(users, "users")), normalize_rows(as_matrix(items, "items")))


def sigmoid_cos(cos: torch.Tensor) -> torch.Tensor:
    """Seed 000's score ``p = 1 / (1 + exp(-cos))``: always within ``SIGMOID_COS_RANGE`` = [0.269, 0.731]."""
    return torch.sigmoid(torch.as_tensor(cos))

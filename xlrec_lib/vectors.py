"""Unit rows and cosines: the one implementation every floor uses (numpy arrays or torch tensors).

A zero row stays zero after normalising, so its cosine with anything is 0: ``x / |x|`` would give NaN, and
``F.normalize``'s epsilon gives the same 0 without saying so. Ground floor: imports nothing of ours.
"""

from __future__ import annotations

import numpy as np


def _matrix(x, name: str):
    if x.ndim != 2:
        raise ValueError(f"{name} must be a (n, dim) matrix, got shape {tuple(x.shape)}")
    return x


def normalize_rows(x):
    """Rows scaled to unit L2 norm, ``(n, dim) -> (n, dim)``, same type as ``x``; zero rows stay zero.

    numpy input comes back as float64 (unless it is float32); integer torch input as float32.
    """
    if isinstance(x, np.ndarray) or not hasattr(x, "is_floating_point"):
        x = _matrix(np.asarray(x), "x")
        if x.dtype != np.float32:
            x = x.astype(np.float64)
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    import torch

    x = _matrix(x, "x")
    x = x if x.is_floating_point() else x.float()
    norms = torch.linalg.vector_norm(x, dim=1, keepdim=True)
    return torch.where(norms > 0, x / torch.where(norms > 0, norms, torch.ones_like(norms)), torch.zeros_like(x))


def cosine_matrix(a, b):
    """All pairs' cosines ``(n_a, dim), (n_b, dim) -> (n_a, n_b)``; 0 for a pair with a zero vector."""
    return normalize_rows(a) @ normalize_rows(b).T

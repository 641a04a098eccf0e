"""Unit rows, cosines and the ranks of targets among scores: the one implementation every floor uses
(numpy arrays or torch tensors).

A zero row stays zero after normalising, so its cosine with anything is 0: ``x / |x|`` would give NaN, and
``F.normalize``'s epsilon gives the same 0 without saying so. :func:`target_ranks` holds the one tie rule of P@k
and MRR; it lives on the ground floor because ``crosslingual`` and ``rec`` both rank by scores and neither may
import the other. Ground floor: imports nothing of ours.
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


UNIT_ATOL = 1e-3  # one tolerance for every check; rows normalised in float32 are within about 1e-6 of norm 1


def first_non_unit_row(x, allow_zero: bool = True, atol: float = UNIT_ATOL) -> tuple[int, float] | None:
    """``(row, norm)`` of the first row of ``x (n, dim)`` (numpy or torch) whose L2 norm is not 1 within ``atol``
    (nor 0, with ``allow_zero``: a text without tokens encodes to a zero row), or None when every row is a unit
    row. The one test behind every "unit rows" contract: the dot product is the cosine only there, and a longer
    row would win every ranking. A NaN row is never a unit row."""
    x = _matrix(x, "x")
    if isinstance(x, np.ndarray):
        norms = np.sqrt(np.einsum("ij,ij->i", x, x).astype(np.float64))  # no (n, dim) temporary, as x * x would hold
    else:
        norms = x.detach().float().norm(dim=1).cpu().double().numpy()
    ok = np.abs(norms - 1) <= atol
    if allow_zero:
        ok |= norms == 0
    if ok.all():
        return None
    i = int(np.flatnonzero(~ok)[0])
    return i, float(norms[i])


def positive_int(value, name: str) -> int:
    """``value`` as an int, or a ValueError naming ``name``: a positive integer (not a bool, not a float)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def finite_number(value, name: str) -> float:
    """``value`` as a float, or a ValueError naming ``name``: a finite real number (not a bool, not a string)."""
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if not number or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def check_k(k) -> int:
    """``k`` of a top-k metric as an int, or ValueError: a positive integer (not a bool, not a float)."""
    return positive_int(k, "k")


def check_ks(ks) -> tuple[int, ...]:
    """``ks`` as a non-empty tuple of positive integers (a bare int is one k)."""
    if isinstance(ks, (int, np.integer)) and not isinstance(ks, bool):
        ks = (ks,)
    if isinstance(ks, (str, bytes)) or not hasattr(ks, "__iter__") or not len(ks := tuple(ks)):
        raise ValueError(f"ks must be positive integers, e.g. (1, 5), got {ks!r}")
    return tuple(check_k(k) for k in ks)


def target_ranks(scores, targets) -> np.ndarray:
    """The rank (1 = best) of each row's target among all its candidates, ties counted against the target.

    The one tie rule of every P@k and MRR computed from scores (sentence retrieval, word translation, scored
    frames in ``rec.ranking_metrics``): for row ``i`` with target set ``T_i``,

        ``rank_i = 1 + #{j not in T_i : s_ij >= max_{t in T_i} s_it}``

    so with one target, ``rank = 1 + #(candidates scoring strictly higher) + #(candidates scoring equal, except
    the target itself)``; a constant scorer gets the worst rank, never the best. With several targets (any of
    them counts, as in MUSE) the best-scoring target is ranked and the other targets never count against it.

    ``scores``: ``(n, m)`` numpy array or torch tensor, all finite. ``targets``: ``(n,)`` integer column of the
    target in each row, or an ``(n, m)`` boolean mask with at least one target per row. Returns int64 ``(n,)``.
    """
    s = scores.detach().cpu().numpy() if hasattr(scores, "detach") else np.asarray(scores)
    s = _matrix(s, "scores")
    if not np.issubdtype(s.dtype, np.number) or np.issubdtype(s.dtype, np.complexfloating):
        raise ValueError(f"scores must be real numbers, got dtype {s.dtype}")
    finite = np.isfinite(s)
    if not finite.all():
        i, j = np.argwhere(~finite)[0]
        raise ValueError(f"scores must be finite, got {s[i, j]} at row {i}, column {j}")
    t = targets.detach().cpu().numpy() if hasattr(targets, "detach") else np.asarray(targets)
    if t.dtype == bool:
        if t.shape != s.shape:
            raise ValueError(f"a target mask must have the shape of scores {s.shape}, got {t.shape}")
        empty = ~t.any(axis=1)
        if empty.any():
            raise ValueError(f"row {int(np.flatnonzero(empty)[0])} has no target")
        best = np.where(t, s, -np.inf).max(axis=1, keepdims=True)
        return 1 + ((s >= best) & ~t).sum(axis=1).astype(np.int64)
    if t.shape != (len(s),) or not np.issubdtype(t.dtype, np.integer):
        raise ValueError(f"targets must be ({len(s)},) integer columns or a {s.shape} boolean mask, "
                         f"got shape {t.shape} dtype {t.dtype}")
    outside = (t < 0) | (t >= s.shape[1])
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise ValueError(f"target {int(t[i])} of row {i} is outside 0..{s.shape[1] - 1}")
    best = s[np.arange(len(s)), t][:, None]
    return (s >= best).sum(axis=1).astype(np.int64)  # counts the target itself: 1 + the others at >= its score

"""Seed 000's fusion ``P = P + alpha T`` of a collaborative score and a text score, made meaningful.

Written as in the seed, ``P_ui = P_cf(u, i) + alpha T(u, i)`` adds numbers on different scales: an EASE or ALS
score is a sum over the user's history (larger for heavy users, different per model), a cosine lies in [-1, 1].
One ``alpha`` then weighs the text a lot for some users and nothing for others. Both scores are first put on one
scale *per user*, over that user's candidate items ``C_u`` (the items not excluded):

- z-score:  ``z(s)_ui = (s_ui - mean_{j in C_u} s_uj) / std_{j in C_u} s_uj``  (0 when the std is 0: no information);
- rank:     ``rank(s)_ui = (position of i among C_u sorted ascending) / (|C_u| - 1)`` in [0, 1], ties
  sharing their mean position;

and ``P_ui = N(P_cf)_ui + alpha N(T)_ui``. Excluded entries come back as 0 (with ``how="none"`` too); the caller
excludes them again in top-k. Dense ``(n_users, n_items)`` matrices, computed on the CPU: meant for
MovieLens-sized catalogues.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata

from xlrec_lib import intervals
from xlrec_lib.rec import ranking_metrics
from xlrec_lib.rec.similarity import as_matrix
from xlrec_lib.rec.topk import seen_csr, topk_dense, topk_to_ranked
from xlrec_lib.vectors import finite_number

NORMALIZERS = ("zscore", "rank", "none")
# rows squared at a time by standardize_per_user: one (1,168, 31,029) float64 temporary costs more to allocate (its
# pages are fresh memory) than the squaring itself (0.25 s against 0.04 s in blocks of 32 rows, 8 MB at that width)
SQUARE_ROWS = 32


def candidate_mask(shape: tuple[int, int], exclude=None) -> torch.Tensor:
    """``(n_users, n_items)`` bool, True where an item is a candidate (not in ``exclude``, see ``topk.seen_csr``)."""
    mask = torch.ones(shape, dtype=torch.bool)
    mask[_excluded_positions(shape, exclude)] = False
    return mask


def _refuse_nonfinite(s: torch.Tensor, bad: torch.Tensor, name: str) -> None:
    """A ValueError naming ``name`` and the first entry where ``bad`` (a bool mask of ``s``) is True, if any: a NaN
    or an infinite candidate score would turn the user's whole row of z-scores into NaN."""
    if bad.any():
        u, i = bad.nonzero()[0].tolist()
        raise ValueError(f"{name}[{u}, {i}] is {float(s[u, i])}: the scores of candidate items must be finite")


def _candidates(scores, exclude, name: str = "scores") -> tuple[torch.Tensor, torch.Tensor]:
    """``(scores as float64 on the CPU, candidate mask)``; a NaN or infinite score at a candidate is a ValueError
    naming ``name``."""
    s = as_matrix(scores, name).double().cpu()
    mask = candidate_mask(tuple(s.shape), exclude)
    _refuse_nonfinite(s, mask & ~torch.isfinite(s), name)
    return s, mask


def _excluded_positions(shape: tuple[int, int], exclude) -> tuple[torch.Tensor, torch.Tensor]:
    """``(rows, cols)`` of the excluded entries, each once (``exclude`` as in ``topk.seen_csr``)."""
    if exclude is None:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    indptr, seen = seen_csr(exclude, *shape)
    keys = np.unique(np.repeat(np.arange(shape[0], dtype=np.int64), np.diff(indptr)) * shape[1] + seen)
    return torch.from_numpy(keys // shape[1]), torch.from_numpy(keys % shape[1])


def standardize_per_user(scores, exclude=None, name: str = "scores") -> torch.Tensor:
    """Per-user z-score over the candidates (module docstring): ``(n_users, n_items) -> (n_users, n_items)`` float64,
    0 at excluded items and for users whose candidate scores are all equal; a new row-major CPU tensor, detached
    from any autograd graph (the input is never changed)."""
    # one float64 copy, worked on in place, and the excluded entries (few per user) set by index rather than a
    # dense mask: the same numbers as the masked formula, in a third of its passes over the matrix (row-major, so
    # that each row is summed in the same order as there, whatever the input's layout)
    s = as_matrix(scores, name).detach().to("cpu", torch.float64, copy=True, memory_format=torch.contiguous_format)
    rows, cols = _excluded_positions(tuple(s.shape), exclude)
    s[rows, cols] = 0
    total = s.sum(1, keepdim=True)
    if not torch.isfinite(total).all():  # a NaN or an infinity at a candidate (or a sum past float64's range)
        _refuse_nonfinite(s, ~torch.isfinite(s), name)
    n = (s.shape[1] - torch.bincount(rows, minlength=s.shape[0])).clamp_min(1).unsqueeze(1).double()
    mean = total / n
    s -= mean
    s[rows, cols] = 0
    squares = torch.empty_like(total)
    # blocks of at most SQUARE_ROWS rows and never of one (unless s has one row): torch splits a one-row sum between
    # threads, where a many-row sum gives each row to one thread, as the whole matrix did
    blocks = max(1, -(-len(s) // SQUARE_ROWS))
    for block, out in zip(s.tensor_split(blocks), squares.tensor_split(blocks), strict=True):
        torch.sum(block.pow(2), 1, keepdim=True, out=out)
    std = (squares / n).sqrt()
    s /= std.clamp_min(1e-300)
    return s.masked_fill_(~(std > 1e-12 * (1 + mean.abs())), 0)


def rank_normalize(scores, exclude=None, name: str = "scores") -> torch.Tensor:
    """Per-user rank of each candidate scaled to [0, 1] (module docstring), float64, 0 at excluded items. Tied
    scores share their mean rank (a user whose candidates all tie gets 0.5 everywhere): breaking ties by item index
    would slip the catalogue's numbering into the fused score."""
    s, mask = _candidates(scores, exclude, name)
    # 0-based mean ranks; the excluded entries (-inf) rank first, then the candidates in ascending order
    ranks = torch.from_numpy(rankdata(torch.where(mask, s, -torch.inf).numpy(), method="average", axis=1)) - 1
    n_out = (~mask).sum(1, keepdim=True)
    span = (mask.sum(1, keepdim=True) - 1).clamp_min(1)
    return torch.where(mask, (ranks - n_out) / span, 0)


def normalize(scores, how: str, exclude=None, name: str = "scores") -> torch.Tensor:
    """``how`` in ``NORMALIZERS``: :func:`standardize_per_user`, :func:`rank_normalize`, or the raw scores (float64,
    0 at excluded items, as the other two). ``name`` names the scores in errors."""
    if how == "zscore":
        return standardize_per_user(scores, exclude, name)
    if how == "rank":
        return rank_normalize(scores, exclude, name)
    if how == "none":
        s, mask = _candidates(scores, exclude, name)
        return torch.where(mask, s, 0)
    raise ValueError(f"normalize: how must be one of {NORMALIZERS}, got {how!r}")


def fuse(cf, text, alpha: float, exclude=None, how: str = "zscore") -> torch.Tensor:
    """``P = N(cf) + alpha N(text)``, both ``(n_users, n_items)``; ``how="none"`` is the seed's formula as written."""
    cf, text = as_matrix(cf, "cf"), as_matrix(text, "text")
    if cf.shape != text.shape:
        raise ValueError(f"fuse: cf has shape {tuple(cf.shape)} but text has {tuple(text.shape)}")
    alpha = finite_number(alpha, "alpha")
    # normalize returns new float64 tensors, so both can be worked in place (two fewer passes over the matrix)
    return normalize(cf, how, exclude, "cf").add_(normalize(text, how, exclude, "text").mul_(alpha))


def ranked_lists(scores, k: int, exclude, user_ids, item_ids) -> dict:
    """``{user id: [k item ids]}`` of a dense score matrix, ``exclude`` skipped (for the ranking metrics)."""
    # float64 kept: rounding to float32 could tie two distinct fused scores (ties go to the lower index)
    return topk_to_ranked(topk_dense(torch.as_tensor(scores), k, exclude).ids, user_ids, item_ids)


def alpha_sweep(cf, text, alphas, exclude, relevant, user_ids, item_ids, k: int = 10,
                how: str = "zscore") -> pd.Series:
    """nDCG@k of ``fuse(cf, text, alpha)`` for each ``alpha`` (finite and distinct; a Series indexed by alpha).
    Normalises once."""
    alphas = [finite_number(a, "alpha") for a in alphas]
    if len(set(alphas)) != len(alphas):
        raise ValueError(f"alpha_sweep: alphas must be distinct (one result per alpha), got {alphas}")
    n_cf, n_text = normalize(cf, how, exclude, "cf"), normalize(text, how, exclude, "text")
    out = {a: ranking_metrics.ndcg_at_k(ranked_lists(n_cf + a * n_text, k, exclude, user_ids, item_ids),
                                        relevant, k) for a in alphas}
    return pd.Series(out, name=f"ndcg@{k}").rename_axis("alpha")


def history_buckets(counts, edges) -> np.ndarray:
    """Label per user of the bucket its history length falls in, ``edges`` finite and strictly increasing:
    ``"[a, b)"``; the last bucket is ``">= edge"``. A count below ``edges[0]`` or not finite is a ValueError."""
    counts = np.asarray(counts)
    edges = list(edges)
    if not edges or not np.isfinite(edges).all() or any(b <= a for a, b in zip(edges[:-1], edges[1:], strict=True)):
        raise ValueError(f"history_buckets: edges must be a non-empty list of finite, strictly increasing numbers, "
                         f"got {edges}")
    if not np.isfinite(counts).all():
        raise ValueError(f"history_buckets: count {counts[~np.isfinite(counts)][0]} is not finite")
    if (counts < edges[0]).any():
        raise ValueError(f"history_buckets: a count {counts.min()} lies below the first edge {edges[0]}")
    labels = [f"[{a}, {b})" for a, b in zip(edges[:-1], edges[1:], strict=True)] + [f">= {edges[-1]}"]
    return np.array(labels)[np.searchsorted(edges, counts, side="right") - 1]


def metric_by_group(ranked: dict, relevant: dict, groups: dict, k: int, metric=ranking_metrics.ndcg_at_k,
                    order=None) -> pd.Series:
    """``metric(ranked, relevant restricted to the group's users, k)`` per group label (``groups``: user -> label),
    labels in ``order`` (default: sorted); a group whose users have no relevant item is left out."""
    out = {}
    for label in order if order is not None else sorted(set(groups.values()), key=str):
        sub = {u: rel for u, rel in relevant.items() if groups.get(u) == label and rel}
        if sub:
            out[label] = metric(ranked, sub, k)
    return pd.Series(out, name=metric.__name__)


def gain_by_group(base: dict, new: dict, relevant: dict, groups: dict, k: int, metric=ranking_metrics.ndcg_at_k,
                  order=None, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """How much the lists ``new`` gain over ``base`` (both ``{user: ranked ids}``) per group label (``groups``:
    user -> label, labels in ``order``, default sorted), then over all users (row ``"all"``): the evaluated
    ``users``, both metrics, ``gain = new - base`` and its paired bootstrap interval ``[low, high]`` at ``level``
    over the group's users (:func:`xlrec_lib.intervals.paired_difference`). A gain whose interval holds 0 is not
    shown by these users."""
    a = metric(base, relevant, k, per_user=True)
    b = metric(new, relevant, k, per_user=True)
    labels = list(order) if order is not None else sorted({groups[u] for u in a if u in groups}, key=str)
    rows = {}
    for label in labels + ["all"]:
        users = [u for u in a if label == "all" or groups.get(u) == label]
        if not users:
            continue
        gain, low, high = intervals.paired_difference([b[u] for u in users], [a[u] for u in users], level=level,
                                                      seed=seed)
        rows[label] = {"users": len(users), "base": float(np.mean([a[u] for u in users])),
                       "new": float(np.mean([b[u] for u in users])), "gain": gain, "low": low, "high": high}
    return pd.DataFrame(rows).T.astype({"users": int})

"""Scoring user-item pairs: cosine and dot scores, the seed's sigmoid(cos), calibration, thresholds, fast top-k.

Seed 000 scores a pair as ``p = sigmoid(cos(h_u, h_i))`` and sorts; seed 004 keeps items whose cosine passes a
threshold. Since ``cos`` lies in [-1, 1], ``sigmoid(cos)`` lies in [0.269, 0.731]: it is a monotone rescaling
of the cosine, not a probability. :func:`fit_platt` learns ``p = sigmoid(a * s + b)`` on validation pairs so
that the probabilities match observed frequencies (checked with :func:`expected_calibration_error`), and
:func:`choose_threshold` picks a cut-off on validation to apply unchanged on test.

:func:`topk` ranks every item for every user in memory-bounded chunks, skipping the items a user has seen.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

SIGMOID_COS_RANGE = (1 / (1 + math.e), 1 / (1 + math.exp(-1)))  # sigmoid(-1), sigmoid(1) = 0.2689..., 0.7310...

# --------------------------------------------------------------------------------------------- scores


def _matrix(x, name: str) -> torch.Tensor:
    t = torch.as_tensor(x)
    if t.ndim != 2:
        raise ValueError(f"{name} must be a (n, dim) matrix, got shape {tuple(t.shape)}")
    return t if t.is_floating_point() else t.float()


def normalize(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit L2 norm, ``(n, dim) -> (n, dim)``. A zero row stays zero (its cosine with anything is
    then 0, where ``x / |x|`` would give NaN and ``F.normalize``'s eps silently gives the same 0)."""
    x = _matrix(x, "x")
    norms = torch.linalg.vector_norm(x, dim=1, keepdim=True)
    return torch.where(norms > 0, x / torch.where(norms > 0, norms, torch.ones_like(norms)), torch.zeros_like(x))


def dot(users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """All pairs' inner products ``U I^T``: ``(n_users, dim), (n_items, dim) -> (n_users, n_items)``."""
    return _matrix(users, "users") @ _matrix(items, "items").T


def cosine(users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """All pairs' cosines ``u.i / (|u| |i|)``, ``(n_users, n_items)``; 0 for a pair with a zero vector."""
    return normalize(users) @ normalize(items).T


def dot_pairs(users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """Row-wise inner products of aligned pairs: ``(n, dim), (n, dim) -> (n,)``."""
    u, i = _matrix(users, "users"), _matrix(items, "items")
    if u.shape != i.shape:
        raise ValueError(f"aligned pairs need equal shapes, got users {tuple(u.shape)} and items {tuple(i.shape)}")
    return (u * i).sum(dim=1)


def cosine_pairs(users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """Row-wise cosines of aligned pairs ``(n, dim), (n, dim) -> (n,)``; 0 where either vector is zero."""
    return dot_pairs(normalize(users), normalize(items))


def sigmoid_cos(cos: torch.Tensor) -> torch.Tensor:
    """Seed 000's score ``p = 1 / (1 + exp(-cos))``: always within ``SIGMOID_COS_RANGE`` = [0.269, 0.731]."""
    return torch.sigmoid(torch.as_tensor(cos))


# --------------------------------------------------------------------------------------------- calibration


def _vector(x, name: str, dtype=torch.float64) -> torch.Tensor:
    t = (x if isinstance(x, torch.Tensor) else torch.from_numpy(np.array(x, dtype=np.float64))).to(dtype).flatten()
    if t.numel() == 0:
        raise ValueError(f"{name} is empty")
    if torch.isnan(t).any():
        raise ValueError(f"{name} has NaN at position {int(torch.isnan(t).nonzero()[0])}")
    return t


def _scores_labels(scores, labels) -> tuple[torch.Tensor, torch.Tensor]:
    s, y = _vector(scores, "scores"), _vector(labels, "labels")
    if s.shape != y.shape:
        raise ValueError(f"scores ({s.numel()}) and labels ({y.numel()}) differ in length")
    bad = ~((y == 0) | (y == 1))
    if bad.any():
        j = int(bad.nonzero()[0])
        raise ValueError(f"labels must be 0/1, got {float(y[j])} at position {j}")
    return s, y


@dataclass(frozen=True)
class Platt:
    """Calibration map ``p = sigmoid(a * s + b)`` (Platt scaling; ``a = 1 / temperature``)."""

    a: float
    b: float

    def __call__(self, scores) -> torch.Tensor:
        s = torch.as_tensor(scores)
        p = torch.sigmoid(self.a * s.to(torch.float64) + self.b)
        return p.to(s.dtype) if s.is_floating_point() else p


def fit_platt(scores, labels, l2: float = 0.0, max_iter: int = 100, tol: float = 1e-12) -> Platt:
    """Maximum-likelihood ``(a, b)`` for ``P(y=1 | s) = sigmoid(a s + b)`` by Newton's method (float64).

    Minimises the mean log loss ``-mean(y log p + (1 - y) log(1 - p)) + l2 a^2 / 2`` (b is not penalised).
    Newton steps with backtracking: deterministic, converges in a handful of iterations. Labels that a
    threshold on ``s`` separates perfectly have no finite optimum (``a`` grows without end): with ``l2=0`` that
    raises, and a small ``l2`` (e.g. 1e-4) gives a finite answer.
    """
    s, y = _scores_labels(scores, labels)
    if y.min() == y.max():
        raise ValueError(f"fit_platt needs both labels, got only {int(y[0])}")
    pos, neg = s[y == 1], s[y == 0]
    if l2 == 0 and (pos.min() >= neg.max() or pos.max() <= neg.min()):  # (quasi-)separable
        raise ValueError("fit_platt: a threshold on the scores separates the labels perfectly, so the maximum "
                         "likelihood slope is infinite; pass l2 > 0")
    x = torch.stack([s, torch.ones_like(s)], dim=1)  # (n, 2)
    reg = torch.tensor([l2, 0.0], dtype=torch.float64)

    def loss(w):
        z = x @ w
        return (torch.nn.functional.softplus(z) - y * z).mean() + 0.5 * (reg * w * w).sum()

    # start at the base rate: a = 0, b = logit(mean y)
    w = torch.tensor([0.0, math.log(y.mean() / (1 - y.mean()))], dtype=torch.float64)
    current = loss(w)
    for _ in range(max_iter):
        p = torch.sigmoid(x @ w)
        grad = x.T @ (p - y) / len(y) + reg * w
        hess = (x.T * (p * (1 - p))) @ x / len(y) + torch.diag(reg)
        step = torch.linalg.solve(hess + 1e-12 * torch.eye(2, dtype=torch.float64), grad)
        t = 1.0
        while t > 1e-10:
            candidate = w - t * step
            new = loss(candidate)
            if new <= current:
                break
            t /= 2
        w, previous, current = candidate, current, new
        if float(grad.abs().max()) < tol or float(previous - current) < tol * 1e-3:
            break
    a, b = float(w[0]), float(w[1])
    p = torch.sigmoid(x @ w)
    if float((x.T @ (p - y) / len(y) + reg * w).abs().max()) > 1e-6 or not math.isfinite(a) or abs(a) > 1e6:
        raise RuntimeError(f"fit_platt did not converge in {max_iter} steps (a={a:.4g}, b={b:.4g})")
    return Platt(a, b)


def reliability_table(probs, labels, n_bins: int = 10, strategy: str = "uniform") -> pd.DataFrame:
    """Reliability-diagram data: per bin of predicted probability, the ``count``, the mean prediction
    ``confidence`` and the observed positive rate ``accuracy`` (NaN for an empty bin).

    ``strategy='uniform'``: ``n_bins`` equal-width bins of [0, 1], ``[j/n, (j+1)/n)``, the last one closed.
    ``strategy='quantile'``: edges at the quantiles of ``probs`` (about equal counts; useful when the
    predictions crowd into a corner of [0, 1]); repeated edges are merged, so there may be fewer bins.
    """
    p, y = _scores_labels(probs, labels)
    if float(p.min()) < 0 or float(p.max()) > 1:
        raise ValueError(f"probabilities must lie in [0, 1], got range [{float(p.min())}, {float(p.max())}]")
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    if strategy == "uniform":
        edges = torch.linspace(0.0, 1.0, n_bins + 1, dtype=torch.float64)
    elif strategy == "quantile":
        inner = np.unique(np.quantile(p.numpy(), np.linspace(0.0, 1.0, n_bins + 1)))[1:-1]  # drop min and max
        edges = torch.from_numpy(np.concatenate([[0.0], inner, [1.0]]))
    else:
        raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")
    n = len(edges) - 1
    bins = torch.clamp(torch.searchsorted(edges, p, right=True) - 1, 0, n - 1)
    count = torch.bincount(bins, minlength=n).double()
    conf = torch.bincount(bins, weights=p, minlength=n) / count
    acc = torch.bincount(bins, weights=y, minlength=n) / count
    return pd.DataFrame(
        {
            "lower": edges[:-1].numpy(),
            "upper": edges[1:].numpy(),
            "count": count.long().numpy(),
            "confidence": conf.numpy(),
            "accuracy": acc.numpy(),
        }
    )


def expected_calibration_error(probs, labels, n_bins: int = 10, strategy: str = "uniform") -> float:
    """``ECE = sum_b (n_b / N) |accuracy_b - confidence_b|`` over the bins of :func:`reliability_table`."""
    table = reliability_table(probs, labels, n_bins, strategy).query("count > 0")
    weights = table["count"] / table["count"].sum()
    return float((weights * (table["accuracy"] - table["confidence"]).abs()).sum())


def unseen_pairs(scores: torch.Tensor, seen, positives) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores and 0/1 labels of every (user, item) pair of a ``(n_users, n_items)`` score matrix that is not
    ``seen``; a pair is labelled 1 when it is in ``positives``. Both are ``(user index, item index)`` arrays.
    Returns two float64 vectors in row-major order, ready for :func:`fit_platt` or :func:`choose_threshold`."""
    s = _matrix(scores, "scores")
    keep = torch.ones(s.shape, dtype=torch.bool)
    keep[torch.as_tensor(seen[0], dtype=torch.long), torch.as_tensor(seen[1], dtype=torch.long)] = False
    label = torch.zeros(s.shape, dtype=torch.bool)
    label[torch.as_tensor(positives[0], dtype=torch.long), torch.as_tensor(positives[1], dtype=torch.long)] = True
    if (label & ~keep).any():
        r, c = (label & ~keep).nonzero()[0].tolist()
        raise ValueError(f"unseen_pairs: pair ({r}, {c}) is both seen and positive")
    return s[keep].double(), label[keep].double()


# --------------------------------------------------------------------------------------------- thresholds


def choose_threshold(scores, labels, objective: str = "f1") -> float:
    """The cut-off ``t`` (predict 1 when ``score >= t``) that maximises ``objective`` (``'f1'`` or ``'accuracy'``)
    on these (validation) pairs; apply it unchanged with :func:`apply_threshold` on test.

    Candidates are the cuts between consecutive distinct scores; the returned ``t`` is the midpoint between
    the lowest score kept and the next lower score (the lowest score itself if everything is kept), so that
    new scores falling in the gap are split evenly. Ties between cuts go to the highest threshold.
    """
    s, y = _scores_labels(scores, labels)
    if objective not in ("f1", "accuracy"):
        raise ValueError(f"objective must be 'f1' or 'accuracy', got {objective!r}")
    order = torch.argsort(s, descending=True, stable=True)
    s, y = s[order], y[order]
    tp, fp = torch.cumsum(y, 0), torch.cumsum(1 - y, 0)
    last = torch.ones_like(s, dtype=torch.bool)
    last[:-1] = s[1:] < s[:-1]  # last position of each run of equal scores: a valid cut
    n_pos, n = y.sum(), len(y)
    if objective == "f1":
        value = 2 * tp / (2 * tp + fp + (n_pos - tp))
    else:
        value = (tp + (n - n_pos - fp)) / n
    value = torch.where(last, value, torch.full_like(value, -1.0))
    j = int(torch.argmax(value))  # first maximum = highest threshold
    return float(s[j]) if j == n - 1 else float((s[j] + s[j + 1]) / 2)


def apply_threshold(scores, threshold: float) -> torch.Tensor:
    """``scores >= threshold`` as a bool tensor."""
    return torch.as_tensor(scores) >= threshold


# --------------------------------------------------------------------------------------------- top-k


PLAIN_BELOW = 8192  # below this many items, topk over the whole block beats the group maxima (benchmarks/topk.py)


class TopK(NamedTuple):
    """Top-k result: ``ids`` (n_users, k) item row indices, best first, and their ``scores`` (n_users, k).
    A user with fewer than k unseen items gets id -1 and score -inf in the empty slots."""

    ids: torch.Tensor
    scores: torch.Tensor


def seen_csr(exclude, n_users: int, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Items to exclude per user as CSR arrays ``(indptr (n_users + 1,), indices)`` of item row indices.

    ``exclude`` is a sequence of per-user collections of item indices (length n_users), or a pair of equal-length
    arrays ``(user_index, item_index)`` of seen pairs. Duplicates are harmless; out-of-range indices raise.
    """
    if isinstance(exclude, tuple) and len(exclude) == 2 and np.ndim(exclude[0]) == 1 and np.ndim(exclude[1]) == 1:
        rows = np.asarray(exclude[0], dtype=np.int64)
        cols = np.asarray(exclude[1], dtype=np.int64)
        if rows.shape != cols.shape:
            raise ValueError(f"exclude: {len(rows)} user indices but {len(cols)} item indices")
    else:
        if len(exclude) != n_users:
            raise ValueError(f"exclude has {len(exclude)} per-user entries for {n_users} users")
        lengths = [len(items) for items in exclude]
        rows = np.repeat(np.arange(n_users, dtype=np.int64), lengths)
        cols = np.fromiter((i for items in exclude for i in items), dtype=np.int64, count=sum(lengths))
    for name, idx, n in (("user", rows, n_users), ("item", cols, n_items)):
        if len(idx) and (idx.min() < 0 or idx.max() >= n):
            bad = idx[(idx < 0) | (idx >= n)][0]
            raise ValueError(f"exclude: {name} index {bad} outside 0..{n - 1}")
    order = np.lexsort((cols, rows))
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_users), out=indptr[1:])
    return indptr, cols[order]


def chunk_rows(n_items: int, memory_budget: int, k: int = 0, group: int = 1) -> int:
    """Users per chunk so that a chunk's working set fits ``memory_budget`` bytes: per user, one float32 score
    row over ``n_items``, its ``n_items / group`` group maxima (float32) and k candidate ids and scores."""
    per_row = 4 * n_items + 4 * (n_items // group if group > 1 else 0) + 12 * k
    rows = memory_budget // per_row
    if rows < 1:
        raise ValueError(f"memory_budget={memory_budget} bytes cannot hold one row of {n_items} float32 scores")
    return int(rows)


def _chunk_topk(users, items_t, n_items, k, group, width, block, group_max, seen_rows, seen_cols):
    """Top-k of one chunk of users, ``(c, dim) -> ((c, k) scores, (c, k) ids)``; see :func:`topk`.

    ``block`` holds the chunk's scores tile after tile (tile at columns ``[t0, t0 + w)`` is a contiguous
    ``(c, w)`` view starting at ``c * t0``); ``seen_*`` are the chunk's excluded (row, item) pairs sorted by item.
    """
    c, n_pad = users.shape[0], items_t.shape[1]
    for t0 in range(0, n_pad, width):
        w = min(width, n_pad - t0)
        tile = block[c * t0 : c * (t0 + w)].view(c, w)
        torch.mm(users, items_t[:, t0 : t0 + w], out=tile)
        if t0 + w > n_items:
            tile[:, n_items - t0 :] = -math.inf  # padding columns
        if seen_cols is not None:
            a, b = np.searchsorted(seen_cols, [t0, t0 + w])
            if b > a:
                tile[torch.from_numpy(seen_rows[a:b]), torch.from_numpy(seen_cols[a:b] - t0)] = -math.inf
        if group > 1:  # reduce while the tile is still in cache
            torch.amax(tile.view(c, w // group, group), dim=2, out=group_max[:c, t0 // group : (t0 + w) // group])
    if group == 1:
        return torch.topk(block[: c * n_pad].view(c, n_pad), k, dim=1)
    _, best_groups = torch.topk(group_max[:c], k, dim=1, sorted=False)
    cand = (best_groups.unsqueeze(2) * group + torch.arange(group, device=users.device)).view(c, k * group)
    tile_start = cand // width * width  # where each candidate sits in the tiled block
    row = torch.arange(c, device=users.device).unsqueeze(1)
    flat = c * tile_start + row * torch.clamp(n_pad - tile_start, max=width) + (cand - tile_start)
    scores, j = torch.topk(block[flat], k, dim=1)
    return scores, torch.gather(cand, 1, j)


def topk(
    users: torch.Tensor,
    items: torch.Tensor,
    k: int,
    exclude=None,
    *,
    metric: str = "dot",
    memory_budget: int = 64 * 2**20,
    tile_bytes: int = 2**20,
    group: int = 32,
    workers: int | None = None,
) -> TopK:
    """The ``k`` best items for every user, ``(n_users, dim), (n_items, dim) -> TopK((n_users, k), (n_users, k))``.

    ``metric``: ``'dot'`` (``u.i``) or ``'cosine'`` (rows normalised first, zero rows score 0).
    ``exclude``: items each user has seen (see :func:`seen_csr`); they get score -inf and are never returned.

    How: users go in chunks, each chunk's ``(chunk, n_items)`` float32 score block being computed tile by tile
    (``tile_bytes``: about a core's L2 cache). While a tile is in cache we take the max of each ``group`` of
    consecutive items. The k groups with the best maxima hold a whole top k (an item of any other group is <=
    its group's max <= the k-th best group max, and those k groups already hold k items that large), so
    ``torch.topk`` runs over ``k * group`` candidates instead of every item: exact, and the block is read back
    at the candidates only. ``group=1``, or a catalogue under ``PLAIN_BELOW`` items (where a row's scores fit
    in L1/L2 anyway and the plain way measured faster), runs ``torch.topk`` over the whole block.

    Memory: beyond the inputs and the output, at most ``memory_budget`` bytes (:func:`chunk_rows` per worker).
    Threads: on CPU, ``workers`` threads (default ``torch.get_num_threads()``) each take whole chunks while
    torch runs single-threaded inside them (restored afterwards): coarse-grained parallelism, as faiss does,
    which avoids a barrier per operation and keeps each worker's tile in its own core's cache. Do not call this
    from several threads at once (it changes torch's global thread count for its duration).
    """
    u, it = _matrix(users, "users"), _matrix(items, "items")
    if u.shape[1] != it.shape[1]:
        raise ValueError(f"users have dim {u.shape[1]} but items have dim {it.shape[1]}")
    if metric == "cosine":
        u, it = normalize(u), normalize(it)
    elif metric != "dot":
        raise ValueError(f"metric must be 'dot' or 'cosine', got {metric!r}")
    u, it = u.float().contiguous(), it.float()
    n_users, n_items = u.shape[0], it.shape[0]
    if not 1 <= k <= n_items:
        raise ValueError(f"k must lie in 1..{n_items} (the number of items), got {k}")
    indptr, seen = seen_csr(exclude, n_users, n_items) if exclude is not None else (None, None)

    g = 1 if group <= 1 or n_items < max(PLAIN_BELOW, 4 * k * group) else group
    n_pad = -(-n_items // g) * g
    items_t = torch.zeros(it.shape[1], n_pad, dtype=torch.float32, device=u.device)
    items_t[:, :n_items] = it.T  # (dim, n_pad); padding columns are set to -inf per tile
    workers = max(1, workers or (1 if u.device.type != "cpu" else torch.get_num_threads()))
    rows = chunk_rows(n_pad, memory_budget // workers, k, g)
    rows = max(1, min(rows, -(-n_users // (4 * workers))))  # at least ~4 chunks per worker, for balance
    width = n_pad if g == 1 else max(g, min(n_pad, tile_bytes // (4 * rows) // g * g))
    out_ids = torch.empty(n_users, k, dtype=torch.long, device=u.device)
    out_scores = torch.empty(n_users, k, dtype=torch.float32, device=u.device)
    starts = iter(range(0, n_users, rows))
    lock = threading.Lock()

    def work() -> None:
        block = torch.empty(rows * n_pad, dtype=torch.float32, device=u.device)
        group_max = torch.empty(rows, n_pad // g, dtype=torch.float32, device=u.device) if g > 1 else None
        while True:
            with lock:
                start = next(starts, None)
            if start is None:
                return
            stop = min(n_users, start + rows)
            seen_rows = seen_cols = None
            if seen is not None:  # this chunk's seen pairs, sorted by item so that each tile takes a slice
                seen_cols = seen[indptr[start] : indptr[stop]]
                seen_rows = np.repeat(np.arange(stop - start), np.diff(indptr[start : stop + 1]))
                order = np.argsort(seen_cols, kind="stable")
                seen_cols, seen_rows = seen_cols[order], seen_rows[order]
            scores, ids = _chunk_topk(u[start:stop], items_t, n_items, k, g, width, block, group_max,
                                      seen_rows, seen_cols)
            out_scores[start:stop] = scores
            out_ids[start:stop] = torch.where(scores == -math.inf, torch.full_like(ids, -1), ids)

    if workers == 1:
        work()
        return TopK(out_ids, out_scores)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers) as pool:
            for future in [pool.submit(work) for _ in range(workers)]:
                future.result()
    finally:
        torch.set_num_threads(previous)
    return TopK(out_ids, out_scores)


def topk_dense(scores: torch.Tensor, k: int, exclude=None) -> TopK:
    """Top-k of a precomputed ``(n_users, n_items)`` score matrix (e.g. random scores for a baseline), with the
    same ``exclude`` and -1 padding as :func:`topk`. Holds a copy of the whole matrix: for small catalogues."""
    s = _matrix(scores, "scores").clone()
    n_users, n_items = s.shape
    if not 1 <= k <= n_items:
        raise ValueError(f"k must lie in 1..{n_items} (the number of items), got {k}")
    if exclude is not None:
        indptr, seen = seen_csr(exclude, n_users, n_items)
        rows = np.repeat(np.arange(n_users), np.diff(indptr))
        s[torch.from_numpy(rows), torch.from_numpy(seen)] = -math.inf
    values, ids = torch.topk(s, k, dim=1)
    return TopK(torch.where(values == -math.inf, torch.full_like(ids, -1), ids), values)


def with_item_bias(users: torch.Tensor, items: torch.Tensor, bias, alpha: float):
    """Vectors whose inner product is ``u.i + alpha * bias_i``: ``[u, alpha]`` and ``[i, bias_i]``.

    Folds an item prior (popularity, a KG score, ...) into the inner product, so that :func:`topk` or any
    inner-product index ranks by the fused score: seed 000's ``P = P + alpha T`` with one extra dimension.
    """
    u, it = _matrix(users, "users"), _matrix(items, "items")
    b = torch.as_tensor(bias, dtype=it.dtype).reshape(-1, 1)
    if b.shape[0] != it.shape[0]:
        raise ValueError(f"bias has {b.shape[0]} values for {it.shape[0]} items")
    return torch.cat([u, torch.full((u.shape[0], 1), float(alpha), dtype=u.dtype)], 1), torch.cat([it, b], 1)


def topk_to_ranked(
    ids: torch.Tensor,
    user_ids: Sequence[Hashable] | None = None,
    item_ids: Sequence[Hashable] | None = None,
    scores: torch.Tensor | None = None,
    min_score: float | None = None,
) -> dict:
    """``(n_users, k)`` item row indices -> ``{user id: [item ids]}`` for :mod:`xlrec_lib.metrics` (-1 dropped).

    With ``scores`` and ``min_score``, only items scoring ``>= min_score`` are kept (seed 004's threshold rule:
    lists then have different lengths).
    """
    ids = torch.as_tensor(ids).cpu().numpy()
    users = list(range(len(ids))) if user_ids is None else np.asarray(user_ids).tolist()
    if len(users) != len(ids):
        raise ValueError(f"{len(users)} user_ids for {len(ids)} rows of ids")
    if (scores is None) != (min_score is None):
        raise ValueError("topk_to_ranked: give both scores and min_score, or neither")
    keep = ids >= 0
    if scores is not None:
        keep &= torch.as_tensor(scores).cpu().numpy() >= min_score
    lookup = None if item_ids is None else np.asarray(item_ids)
    out = {}
    for user, row, ok in zip(users, ids, keep, strict=True):
        row = row[ok]
        out[user] = (lookup[row] if lookup is not None else row).tolist()
    return out


def seed_topk_loop(users: Sequence[Sequence[float]], items: Sequence[Sequence[float]], k: int) -> list[list[int]]:
    """Seed 000's way, kept as a slow reference: for every (user, item) pair in pure Python,
    ``p = sigmoid(cos(h_u, h_i))``, then sort each user's list and keep the first ``k`` item indices.
    (A zero vector gets cosine 0 here too.)"""
    item_norms = [math.sqrt(sum(x * x for x in v)) for v in items]
    out = []
    for u in users:
        u_norm = math.sqrt(sum(x * x for x in u))
        scored = []
        for j, v in enumerate(items):
            denom = u_norm * item_norms[j]
            cos = sum(a * b for a, b in zip(u, v, strict=True)) / denom if denom > 0 else 0.0
            scored.append((1 / (1 + math.exp(-cos)), -j))  # ties: lower index first, as a stable sort would
        scored.sort(reverse=True)
        out.append([-j for _, j in scored[:k]])
    return out

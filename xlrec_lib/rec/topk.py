"""Exact top-k for every user over a whole catalogue, in memory-bounded chunks, seen items excluded.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import torch

from xlrec_lib.rec.similarity import as_matrix
from xlrec_lib.vectors import normalize_rows

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
    u, it = as_matrix(users, "users"), as_matrix(items, "items")
    if u.shape[1] != it.shape[1]:
        raise ValueError(f"users have dim {u.shape[1]} but items have dim {it.shape[1]}")
    if metric == "cosine":
        u, it = normalize_rows(u), normalize_rows(it)
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
    s = as_matrix(scores, "scores").clone()
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
    u, it = as_matrix(users, "users"), as_matrix(items, "items")
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

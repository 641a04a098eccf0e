"""Exact top-k for every user over a whole catalogue, in cache-sized tiles, seen items excluded.

Scores are float32 inner products (or cosines). Order: higher score first, and on equal scores the lower item
index first, as a stable sort of the scores would give. NaN and infinity are never ranked: a non-finite vector
raises ``ValueError`` naming its row, unless ``nonfinite="mask"`` asks to skip it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import torch

from xlrec_lib.rec.similarity import as_matrix, check_products_finite, finite_matrix, nonfinite_rows
from xlrec_lib.vectors import normalize_rows

TILE_ITEMS = 1024  # about this many items per tile (a little more when a group does not divide it), so that a tile
# of many users still fits a core's L2 cache
PLAIN_BELOW = 8192  # below this many items, one product and torch.topk per chunk: fewer calls, measured faster
MIN_ROWS = 64  # users per chunk at least: the matrix product reads each tile's item vectors once per chunk


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


def chunk_rows(n_pad: int, n_groups: int, k: int, group: int, memory_budget: int) -> int:
    """Users per chunk so that one worker's working set fits ``memory_budget`` bytes. Per user: ``n_pad`` float32
    scores, ``n_groups`` float32 group maxima, and ``k * group`` candidates (float32 score, two int64 indices).
    On the plain way (``n_groups == 0``) the candidates are the whole row: the top k + 1 scores and columns with
    their k-wide copies, and for a row with a tie the stable sort's copies of its scores and int64 order."""
    if n_groups == 0:
        per_row = 4 * n_pad + 12 * (k + 1) + 12 * k + 16 * n_pad
    else:
        per_row = 4 * n_pad + 4 * n_groups + 20 * k * group
    rows = memory_budget // per_row
    if rows < 1:
        raise ValueError(f"{memory_budget} bytes (memory_budget per worker) cannot hold one user's {per_row}-byte "
                         "working set; raise memory_budget")
    return int(rows)


def _ranked(scores: torch.Tensor, k: int, ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The k best of each row, ``(r, m) -> ((r, k) scores, (r, k) columns)``: higher score first, equal scores
    by lower ``ids`` (default: lower column). ``torch.topk`` orders ties arbitrarily, so the rows where a tie
    could matter (two equal finite scores among the k, or one equal to the k-th outside them) are redone with a
    stable sort."""
    # one more than k: the (k+1)-th best equals the k-th exactly when an item outside the k ties it
    values, cols = torch.topk(scores, min(k + 1, scores.shape[1]), dim=1)
    finite = values > -math.inf
    tied = ((values[:, 1:] == values[:, :-1]) & finite[:, 1:]).any(1)
    values, cols = values[:, :k].contiguous(), cols[:, :k].contiguous()
    if tied.any():
        rows = tied.nonzero()[:, 0]
        sub = scores[rows]
        by_id = torch.argsort(ids[rows], dim=1) if ids is not None else None
        if by_id is not None:
            sub = sub.gather(1, by_id)
        v, c = torch.sort(sub, dim=1, descending=True, stable=True)
        values[rows], cols[rows] = v[:, :k], (c if by_id is None else by_id.gather(1, c))[:, :k]
    return values, cols


class _Plan(NamedTuple):
    """How the catalogue is cut: ``tiles`` tiles of ``width`` items (the last padded with -inf columns up to
    ``n_pad``), each tile's items cut into ``per_tile`` groups of ``group`` items taken at stride ``per_tile``
    (group ``i`` of tile ``t``: items ``t * width + i + m * per_tile``, ``m < group``); ``rows`` users per chunk."""

    group: int
    per_tile: int
    tiles: int
    rows: int

    @property
    def width(self) -> int:
        return self.group * self.per_tile

    @property
    def n_pad(self) -> int:
        return self.tiles * self.width


def _plain(n_items: int, k: int, group: int) -> bool:
    """Whether one product and ``torch.topk`` per chunk run (no groups): small catalogues, ``group`` 1, or a k so
    large that a group would hold one item."""
    return n_items < PLAIN_BELOW or min(group, n_items // (4 * k)) <= 1


def _plan(n_users, n_items, k, group, tile_bytes, memory_budget, workers) -> _Plan:
    if _plain(n_items, k, group):  # one tile of every item, no groups
        rows = chunk_rows(n_items, 0, k, 1, memory_budget // workers)
        if workers > 1:
            rows = min(max(MIN_ROWS, tile_bytes // (4 * n_items)), rows, -(-n_users // (2 * workers)))
        return _Plan(1, n_items, 1, max(1, min(rows, n_users)))
    tiles = -(-n_items // TILE_ITEMS)
    per_tile_items = -(-n_items // tiles)
    g = min(group, n_items // (4 * k))  # k * g candidates: at most a quarter of the catalogue
    # groups per tile: a multiple of 32, the row lengths torch's max across rows vectorises (others ran 3-8x slower)
    per_tile = -(-per_tile_items // (32 * g)) * 32
    g = -(-per_tile_items // per_tile)
    plan = _Plan(g, per_tile, tiles, 0)
    rows = max(MIN_ROWS, tile_bytes // (4 * plan.width))
    rows = min(rows, chunk_rows(plan.n_pad, tiles * per_tile, k, g, memory_budget // workers))
    rows = max(1, min(rows, -(-n_users // (2 * workers))))  # at least ~2 chunks per worker, for balance
    return plan._replace(rows=rows)


def _chunk_topk(u, items_t, group_ids, n_items, k, plan, block, group_max, seen_rows, seen_cols):
    """Top-k of one chunk of users, ``(c, dim) -> ((c, k) scores, (c, k) ids, (c,) ambiguous)``; see :func:`topk`.

    ``block`` holds the chunk's scores tile after tile (tile ``t`` is a contiguous ``(c, width)`` view starting at
    ``t * c * width``); ``seen_*`` are the chunk's excluded (row, item) pairs sorted by item. ``ambiguous`` marks
    rows where a group left out holds a score equal to the k-th best: there the lower index among equals may lie
    outside the candidates, so :func:`topk` recomputes those rows in full.
    """
    c, w, s, g = u.shape[0], plan.width, plan.per_tile, plan.group
    for t in range(plan.tiles):
        tile = block[t * c * w : (t + 1) * c * w].view(c, w)
        torch.mm(u, items_t[t], out=tile)
        if (t + 1) * w > n_items:
            tile[:, n_items - t * w :] = -math.inf  # padding columns
        if seen_cols is not None:
            a, b = np.searchsorted(seen_cols, [t * w, (t + 1) * w])
            if b > a:
                tile[torch.from_numpy(seen_rows[a:b]), torch.from_numpy(seen_cols[a:b] - t * w)] = -math.inf
        if g == 1:  # the plain way: the whole catalogue is this one tile
            values, cols = _ranked(tile, k)
            return values, cols, torch.zeros(c, dtype=torch.bool, device=u.device)
        # while the tile is in cache: group i = columns i, i + s, i + 2s, ..., a max across g rows of s columns
        torch.amax(tile.view(c, g, s), dim=1, out=group_max[t, :c])
    maxima = group_max[:, :c].transpose(0, 1).reshape(c, plan.tiles * s)
    best_max, best = torch.topk(maxima, k, dim=1, sorted=False)
    cand = group_ids.index_select(0, best.view(-1)).view(c, k * g)
    tile_of = cand // w
    flat = tile_of * (c * w) + torch.arange(c, device=u.device).unsqueeze(1) * w + (cand - tile_of * w)
    values, cols = _ranked(block[flat], k, cand)
    kth = values[:, -1:]
    ambiguous = (kth[:, 0] > -math.inf) & ((maxima >= kth).sum(1) > (best_max >= kth).sum(1))
    return values, torch.gather(cand, 1, cols), ambiguous


def chunk_starts(n: int, rows: int):
    """A thread-safe ``take()`` that hands out the chunk starts ``0, rows, 2 rows, ... < n``, each once, then None."""
    starts, lock = iter(range(0, n, rows)), threading.Lock()

    def take() -> int | None:
        with lock:
            return next(starts, None)

    return take


def run_workers(work, workers: int) -> None:
    """Run ``work()`` in ``workers`` threads at once (each takes chunks from a ``chunk_starts`` until none are
    left) with torch single-threaded inside them, restored afterwards; ``workers == 1`` runs it here with torch's
    own threads."""
    if workers == 1:
        work()
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers) as pool:
            for future in [pool.submit(work) for _ in range(workers)]:
                future.result()
    finally:
        torch.set_num_threads(previous)


def _exact_rows(u, items, k, rows, indptr, seen):
    """Top-k of the given user rows from their full score rows (the slow, plainly exact way)."""
    scores = u[rows] @ items.T
    if seen is not None:
        r = rows.cpu().numpy()
        lengths = indptr[r + 1] - indptr[r]
        cols = np.concatenate([seen[indptr[i] : indptr[i + 1]] for i in r])
        scores[torch.from_numpy(np.repeat(np.arange(len(r)), lengths)), torch.from_numpy(cols)] = -math.inf
    return _ranked(scores, k)


def topk(
    users: torch.Tensor,
    items: torch.Tensor,
    k: int,
    exclude=None,
    *,
    metric: str = "dot",
    nonfinite: str = "raise",
    memory_budget: int = 64 * 2**20,
    tile_bytes: int = 2**19,
    group: int = 32,
    workers: int | None = None,
) -> TopK:
    """The ``k`` best items for every user, ``(n_users, dim), (n_items, dim) -> TopK((n_users, k), (n_users, k))``.

    ``metric``: ``'dot'`` (``u.i``) or ``'cosine'`` (rows normalised first, zero rows score 0).
    ``exclude``: items each user has seen (see :func:`seen_csr`); they get score -inf and are never returned.
    ``nonfinite``: a user or item vector holding NaN or inf raises ``ValueError`` (``'raise'``), or with
    ``'mask'`` that item is never returned and that user gets an empty list (ids -1, scores -inf).

    How: users go in chunks; a chunk's scores are computed one tile of about ``TILE_ITEMS`` items at a time (a
    tile of the chunk's users, about ``tile_bytes``, fits a core's L2 cache). While a tile is in cache we take the
    max of each group of ``group`` items (strided, so the max runs across contiguous columns and vectorises). The k
    groups with the best maxima hold a whole top k (an item of any other group is <= its group's max <= the k-th
    best group max, and those k groups already hold k items that large), so the final ``torch.topk`` runs over
    ``k * group`` candidates, read back from the chunk's scores at those positions only. A row where an item
    outside the candidates ties the k-th score is recomputed in full, so that the lower index wins ties exactly.
    ``group=1``, a catalogue under ``PLAIN_BELOW`` items (where per-call overhead dominates), or a k so large that
    a group would hold one item, runs one product and ``torch.topk`` over whole rows instead.

    Memory: beyond the inputs and the output, a float32 copy of the items and at most ``memory_budget`` bytes of
    working sets (:func:`chunk_rows`, split between workers).
    Threads: on CPU, ``workers`` threads (default ``torch.get_num_threads()``; 1 on the plain way, whose few
    large products and topk calls use torch's own threads) each take whole chunks while torch runs
    single-threaded inside them (restored afterwards): coarse-grained parallelism, as faiss does, which avoids a
    barrier per operation and keeps each worker's tile in its own core's cache. Do not call this
    from several threads at once (it changes torch's global thread count for its duration).
    """
    if nonfinite not in ("raise", "mask"):
        raise ValueError(f"nonfinite must be 'raise' or 'mask', got {nonfinite!r}")
    remedy = "repair or drop that row, or pass nonfinite='mask' to skip non-finite rows"
    if nonfinite == "raise":
        u, it = finite_matrix(users, "users", remedy), finite_matrix(items, "items", remedy)
    else:
        u, it = as_matrix(users, "users"), as_matrix(items, "items")
    if u.shape[1] != it.shape[1]:
        raise ValueError(f"users have dim {u.shape[1]} but items have dim {it.shape[1]}")
    if metric not in ("dot", "cosine"):
        raise ValueError(f"metric must be 'dot' or 'cosine', got {metric!r}")
    n_users, n_items = u.shape[0], it.shape[0]
    if not 1 <= k <= n_items:
        raise ValueError(f"k must lie in 1..{n_items} (the number of items), got {k}")
    if nonfinite == "mask":
        bad_users, bad_items = nonfinite_rows(u), nonfinite_rows(it)
        if len(bad_users) or len(bad_items):
            return _topk_masked(u, it, k, exclude, bad_users, bad_items, metric=metric, memory_budget=memory_budget,
                                tile_bytes=tile_bytes, group=group, workers=workers)
    if metric == "cosine":
        u, it = normalize_rows(u), normalize_rows(it)
    else:
        check_products_finite(u, it)
    u, it = u.float().contiguous(), it.float().contiguous()
    indptr, seen = seen_csr(exclude, n_users, n_items) if exclude is not None else (None, None)

    if workers is None:  # the plain way's product and topk already use torch's threads, with fewer calls
        workers = 1 if u.device.type != "cpu" or _plain(n_items, k, group) else torch.get_num_threads()
    if workers < 1:
        raise ValueError(f"workers must be >= 1 (or None for the default), got {workers}")
    plan = _plan(n_users, n_items, k, group, tile_bytes, memory_budget, workers)
    s, w, dev = plan.per_tile, plan.width, u.device
    items_t = torch.zeros(plan.n_pad, it.shape[1], dtype=torch.float32, device=dev)
    items_t[:n_items] = it
    items_t = [items_t[t * w : (t + 1) * w].T.contiguous() for t in range(plan.tiles)]  # (dim, width) each
    group_ids = (torch.arange(plan.tiles, device=dev).view(-1, 1, 1) * w + torch.arange(s, device=dev).view(1, s, 1)
                 + torch.arange(plan.group, device=dev).view(1, 1, -1) * s).view(-1, plan.group)  # (n_groups, g)
    out_ids = torch.empty(n_users, k, dtype=torch.long, device=dev)
    out_scores = torch.empty(n_users, k, dtype=torch.float32, device=dev)
    ambiguous = torch.zeros(n_users, dtype=torch.bool, device=dev)
    take = chunk_starts(n_users, plan.rows)

    def work() -> None:
        block = torch.empty(plan.rows * plan.n_pad, dtype=torch.float32, device=dev)
        group_max = torch.empty(plan.tiles, plan.rows, s, dtype=torch.float32, device=dev) if plan.group > 1 else None
        while (start := take()) is not None:
            stop = min(n_users, start + plan.rows)
            seen_rows = seen_cols = None
            if seen is not None:  # this chunk's seen pairs, sorted by item so that each tile takes a slice
                seen_cols = seen[indptr[start] : indptr[stop]]
                seen_rows = np.repeat(np.arange(stop - start), np.diff(indptr[start : stop + 1]))
                order = np.argsort(seen_cols, kind="stable")
                seen_cols, seen_rows = seen_cols[order], seen_rows[order]
            scores, ids, amb = _chunk_topk(u[start:stop], items_t, group_ids, n_items, k, plan, block, group_max,
                                           seen_rows, seen_cols)
            out_scores[start:stop], out_ids[start:stop], ambiguous[start:stop] = scores, ids, amb

    run_workers(work, workers)
    if ambiguous.any():
        rows = ambiguous.nonzero()[:, 0]
        out_scores[rows], out_ids[rows] = _exact_rows(u, it, k, rows, indptr, seen)
    out_ids[out_scores == -math.inf] = -1
    return TopK(out_ids, out_scores)


def _topk_masked(u, it, k, exclude, bad_users, bad_items, **options) -> TopK:
    """:func:`topk` over the finite rows only: masked items never appear, masked users get empty lists."""
    n_users, n_items = u.shape[0], it.shape[0]
    keep_u = torch.ones(n_users, dtype=torch.bool)
    keep_u[bad_users.cpu()] = False
    keep_i = torch.ones(n_items, dtype=torch.bool)
    keep_i[bad_items.cpu()] = False
    user_rows, item_rows = keep_u.nonzero()[:, 0], keep_i.nonzero()[:, 0]
    out_ids = torch.full((n_users, k), -1, dtype=torch.long, device=u.device)
    out_scores = torch.full((n_users, k), -math.inf, dtype=torch.float32, device=u.device)
    kk = min(k, len(item_rows))
    if len(user_rows) == 0 or kk == 0:
        return TopK(out_ids, out_scores)
    sub_exclude = None
    if exclude is not None:
        indptr, seen = seen_csr(exclude, n_users, n_items)
        rows = np.repeat(np.arange(n_users), np.diff(indptr))
        keep = keep_u.numpy()[rows] & keep_i.numpy()[seen]
        new_user = np.cumsum(keep_u.numpy()) - 1
        new_item = np.cumsum(keep_i.numpy()) - 1
        sub_exclude = (new_user[rows[keep]], new_item[seen[keep]])
    found = topk(u[user_rows.to(u.device)], it[item_rows.to(it.device)], kk, sub_exclude, nonfinite="raise",
                 **options)
    ids = torch.where(found.ids >= 0, item_rows.to(u.device)[found.ids.clamp(min=0)], found.ids)
    out_ids[user_rows, :kk], out_scores[user_rows, :kk] = ids, found.scores
    return TopK(out_ids, out_scores)


def topk_dense(scores: torch.Tensor, k: int, exclude=None, *, nonfinite: str = "raise") -> TopK:
    """Top-k of a precomputed ``(n_users, n_items)`` score matrix (e.g. random scores for a baseline), with the
    same order, ``exclude`` and -1 padding as :func:`topk`. A NaN or infinite score raises ``ValueError``, or with
    ``nonfinite='mask'`` that (user, item) pair is skipped. Holds a copy of the whole matrix: for small catalogues.
    """
    if nonfinite not in ("raise", "mask"):
        raise ValueError(f"nonfinite must be 'raise' or 'mask', got {nonfinite!r}")
    s = as_matrix(scores, "scores").clone()
    n_users, n_items = s.shape
    if not 1 <= k <= n_items:
        raise ValueError(f"k must lie in 1..{n_items} (the number of items), got {k}")
    bad = ~torch.isfinite(s)
    if bad.any():
        if nonfinite == "raise":
            r, c = bad.nonzero()[0].tolist()
            raise ValueError(f"scores row {r} (user) is not finite: {s[r, c].item()} at column {c} (item); repair "
                             "it, or pass nonfinite='mask' to skip non-finite scores")
        s[bad] = -math.inf
    if exclude is not None:
        indptr, seen = seen_csr(exclude, n_users, n_items)
        rows = np.repeat(np.arange(n_users), np.diff(indptr))
        s[torch.from_numpy(rows), torch.from_numpy(seen)] = -math.inf
    values, ids = _ranked(s, k)
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
    """``(n_users, k)`` item row indices -> ``{user id: [item ids]}`` for ``rec.ranking_metrics`` (-1 dropped).

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

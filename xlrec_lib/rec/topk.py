"""Exact top-k for every user over a whole catalogue, in cache-sized tiles, seen items excluded.

Scores are float32 inner products (or cosines). Order: higher score first, and on equal float32 scores the lower
item index first, as a stable sort of the scores would give. Exact means exact for the float32 scores: two items
whose scores tie in real arithmetic (even two identical vectors: a matrix kernel may round its columns
differently) can differ by a rounding step, and then the larger one comes first. NaN and infinity are never ranked:
a non-finite vector raises ``ValueError`` naming its row, unless ``nonfinite="mask"`` asks to skip it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import torch

from xlrec_lib.rec.similarity import as_matrix, check_products_finite, finite_matrix, nonfinite_rows
from xlrec_lib.vectors import check_k, finite_number, normalize_rows

TILE_ITEMS = 1024  # about this many items per tile (group size x groups per tile: a little more or less)
PLAIN_BELOW = 8192  # below this many items, one product and torch.topk per chunk: fewer calls, measured faster
MIN_ROWS = 64  # users per chunk at least: the matrix product reads each tile's item vectors once per chunk
RESCORE_ROWS = 64  # users whose candidates are rescored at once: their gathered item vectors stay in cache
GROUP = 16  # items per group of the grouped way, float32 tiles
SCREEN_GROUP = 8  # the same, bfloat16 tiles: twice as many groups are rescored, so smaller ones
SCREEN_GROUPS = 2  # screening in bfloat16 rescores this many times k groups: its rounding bound is wider than float32's
BF16_ROUNDING = 2.0**-8  # bfloat16's unit roundoff (8 significant bits)


class TopK(NamedTuple):
    """Top-k result: ``ids`` (n_users, k) item row indices, best first, and their ``scores`` (n_users, k).
    A user with fewer than k unseen items gets id -1 and score -inf in the empty slots."""

    ids: torch.Tensor
    scores: torch.Tensor


def _indices(values, name: str) -> np.ndarray:
    """``values`` as an int64 array, or a ValueError naming ``name`` and the first value that is no integer."""
    idx = np.asarray(values)
    if idx.size and idx.dtype.kind not in "iu":
        flat = idx.ravel()
        bad = next((v for v in flat if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer))),
                   flat[0])
        raise ValueError(f"{name}: indices must be integers, got {bad!r} (dtype {idx.dtype})")
    return idx.astype(np.int64).ravel()


def seen_csr(exclude, n_users: int, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Items to exclude per user as CSR arrays ``(indptr (n_users + 1,), indices)`` of item row indices.

    ``exclude`` is a sequence of per-user collections of item indices (length n_users), or a pair of equal-length
    arrays ``(user_index, item_index)`` of seen pairs. A tuple of two 1-D arrays is always read as pairs: pass
    per-user collections as a list. Indices must be integers (a float is refused, not truncated); duplicates are
    harmless; out-of-range indices raise.
    """
    if isinstance(exclude, tuple) and len(exclude) == 2 and np.ndim(exclude[0]) == 1 and np.ndim(exclude[1]) == 1:
        rows = _indices(exclude[0], "exclude[0] (user index)")
        cols = _indices(exclude[1], "exclude[1] (item index)")
        if rows.shape != cols.shape:
            raise ValueError(f"exclude: {len(rows)} user indices but {len(cols)} item indices (a tuple of two 1-D "
                             "arrays is read as (user, item) pairs; pass per-user collections as a list)")
    else:
        if isinstance(exclude, Mapping):  # iterating it would read its keys as each user's items
            raise ValueError(f"exclude is a {type(exclude).__name__}; pass a list of per-user collections in user "
                             "order, or (user_index, item_index) arrays")
        if len(exclude) != n_users:
            raise ValueError(f"exclude has {len(exclude)} per-user entries for {n_users} users")
        parts = []
        for u, items in enumerate(exclude):  # one user at a time: no user's integers are promoted by another's
            if isinstance(items, (int, float, np.number)) or getattr(items, "ndim", 1) == 0:
                raise ValueError(f"exclude[{u}] is {items!r}, a single value: each user's entry must be a "
                                 "collection of item indices (wrap one item as [item])")
            parts.append(_indices(list(items) if isinstance(items, (set, frozenset)) else items, f"exclude[{u}]"))
        rows = np.repeat(np.arange(n_users, dtype=np.int64), [len(p) for p in parts])
        cols = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    for name, idx, n in (("user", rows, n_users), ("item", cols, n_items)):
        if len(idx) and (idx.min() < 0 or idx.max() >= n):
            bad = idx[(idx < 0) | (idx >= n)][0]
            raise ValueError(f"exclude: {name} index {bad} outside 0..{n - 1}")
    keys = np.sort(rows * n_items + cols, kind="stable")  # by user, then item (stable: fast on runs of users)
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_users), out=indptr[1:])
    return indptr, keys % n_items


def chunk_rows(width: int, n_groups: int, per_tile: int, k: int, group: int, dim: int, memory_budget: int) -> int:
    """Users per chunk so that one worker's working set fits ``memory_budget`` bytes.

    Grouped way, per user: one row of the reused tile (``4 * width``), its group maxima over every tile
    (``4 * n_groups``), the best tiles' group maxima (``4 * (k + 1) * per_tile``) and ``k * group`` candidates
    (48 bytes each: an int64 id, a float32 score, the exclusion test's int64 keys and masks, a tied row's sort
    copies); and for each of at most ``RESCORE_ROWS`` users rescored at once, their candidates' item vectors and
    products (``8 * k * group * dim``).
    Plain way (``n_groups == 0``): the whole row of ``width`` scores, the top k + 1 scores and columns with their
    k-wide copies, and for a row with a tie the stable sort's copies of its scores and int64 order."""
    rescore = 0
    if n_groups == 0:
        per_row = 4 * width + 12 * (k + 1) + 12 * k + 16 * width
    else:
        per_row = 4 * width + 4 * n_groups + 4 * (k + 1) * per_tile + 48 * k * group
        rescore = 8 * k * group * dim
    if (per_row + rescore) * RESCORE_ROWS <= memory_budget:  # more rows than one rescoring block
        rows = (memory_budget - rescore * RESCORE_ROWS) // per_row
    else:
        rows = memory_budget // (per_row + rescore)
    if rows < 1:
        raise ValueError(f"{memory_budget} bytes (memory_budget per worker) cannot hold one user's "
                         f"{per_row + rescore}-byte working set; raise memory_budget")
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
    (group ``j`` of tile ``t``: items ``t * width + j + m * per_tile``, ``m < group``; its index is
    ``t * per_tile + j``); ``rows`` users per chunk; ``chosen`` groups rescored per user (k, or more when
    screening); ``screen`` whether the tiles are computed in bfloat16."""

    group: int
    per_tile: int
    tiles: int
    rows: int
    chosen: int = 0
    screen: bool = False

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


def _screen_fits(n_items: int, k: int, group: int) -> bool:
    """Whether the grouped way can screen: ``SCREEN_GROUPS * k`` groups of two items or more."""
    return not _plain(n_items, k, group) and min(group, n_items // (4 * SCREEN_GROUPS * k)) > 1


def _plan(n_users, n_items, dim, k, group, tile_bytes, memory_budget, workers, screen=False) -> _Plan:
    if _plain(n_items, k, group):  # one tile of every item, no groups, never screened
        rows = chunk_rows(n_items, 0, 0, k, 1, dim, memory_budget // workers)
        if workers > 1:
            rows = min(max(MIN_ROWS, tile_bytes // (4 * n_items)), rows, -(-n_users // (2 * workers)))
        return _Plan(1, n_items, 1, max(1, min(rows, n_users)), k)
    screen = screen and _screen_fits(n_items, k, group)
    m = SCREEN_GROUPS * k if screen else k  # groups chosen per user
    tiles = -(-n_items // TILE_ITEMS)
    per_tile_items = -(-n_items // tiles)
    g = min(group, n_items // (4 * m))  # m * g candidates: at most a quarter of the catalogue
    # groups per tile: a multiple of 32, the row lengths torch's max across rows vectorises (others ran 3-8x slower)
    per_tile = -(-per_tile_items // (32 * g)) * 32
    g = -(-per_tile_items // per_tile)
    tiles = -(-n_items // (g * per_tile))  # the rounded-up width may need fewer tiles: none is only padding
    plan = _Plan(g, per_tile, tiles, 0, m, screen)
    rows = max(MIN_ROWS, tile_bytes // ((2 if screen else 4) * plan.width))
    rows = min(rows, chunk_rows(plan.width, tiles * per_tile, per_tile, m, g, dim, memory_budget // workers))
    # at least 2 chunks per worker, and as many per worker, of equal size, so that no worker idles at the end
    per_worker = max(2, -(-n_users // (workers * max(1, rows))))
    rows = max(1, -(-n_users // (per_worker * workers)))
    return plan._replace(rows=rows)


def _tile_scores(u, tile_items, t, n_items, tile, seen_rows, seen_cols) -> None:
    """Scores of a chunk's users against tile ``t`` into ``tile`` ``(c, width)``: padding columns and the chunk's
    excluded (row, item) pairs (sorted by item) set to -inf."""
    w = tile.shape[1]
    torch.mm(u, tile_items[t].T, out=tile)
    if (t + 1) * w > n_items:
        tile[:, max(0, n_items - t * w) :] = -math.inf  # padding columns
    if seen_cols is not None:
        a, b = np.searchsorted(seen_cols, [t * w, (t + 1) * w])
        if b > a:
            tile[torch.from_numpy(seen_rows[a:b]), torch.from_numpy(seen_cols[a:b] - t * w)] = -math.inf


def _rescore(u, items_grouped, chosen, out) -> None:
    """Inner products of each user with the items of its chosen groups, ``(c, dim), (c, k) -> out (c, k * g)``,
    ``RESCORE_ROWS`` users at a time so that their gathered item vectors stay in cache."""
    for r in range(0, u.shape[0], RESCORE_ROWS):
        ub, groups = u[r : r + RESCORE_ROWS], chosen[r : r + RESCORE_ROWS]
        vectors = items_grouped.index_select(0, groups.reshape(-1)).view(len(ub), -1, u.shape[1])
        torch.sum(vectors * ub.unsqueeze(1), dim=2, out=out[r : r + RESCORE_ROWS])


def _chunk_topk(u, u_tile, tile_items, items_grouped, group_ids, n_items, k, plan, tile, group_max, seen, tol):
    """Top-k of one chunk of users, ``(c, dim) -> ((c, k) scores, (c, k) ids, (c,) ambiguous)``; see :func:`topk`.

    ``u`` is float32, for the rescoring; ``u_tile`` and ``tile_items`` go into the tiles' products: float32 too, or
    bfloat16 copies when screening. ``tile`` is a reused ``(rows, width)`` buffer of their dtype and ``group_max`` a
    ``(tiles, rows, per_tile)`` one (int16 when screening: the maxima of the tile's bfloat16 bits, see below);
    ``seen`` is None or the chunk's excluded pairs as ``(rows sorted by item, items sorted, sorted keys row * n_pad +
    item)``. ``ambiguous`` marks rows where a group left out may
    hold an item within ``tol`` (per row: the rounding bound between the tile's product and the rescoring) of the
    k-th best: there an item outside the candidates could tie or beat the k-th, so :func:`topk` recomputes those
    rows in full.
    """
    c, s, g, m = u.shape[0], plan.per_tile, plan.group, plan.chosen
    seen_rows, seen_cols, seen_keys = seen if seen is not None else (None, None, None)
    tile = tile[:c]
    for t in range(plan.tiles):
        _tile_scores(u_tile, tile_items, t, n_items, tile, seen_rows, seen_cols)
        if g == 1:  # the plain way: the whole catalogue is this one tile
            values, cols = _ranked(tile, k)
            return values, cols, torch.zeros(c, dtype=torch.bool, device=u.device)
        # while the tile is in cache: group j = columns j, j + s, j + 2s, ..., a max across g rows of s columns.
        # Screening: the max of the bfloat16 bits read as int16, 5x faster than a bfloat16 max here. It orders
        # scores >= +0 correctly and puts every negative one (and -0, -inf) below them, so a group's int16 max >= 0
        # is its true max, and one < 0 says only that the whole group is <= 0 (no NaN: topk screens only vectors
        # whose components bfloat16 holds)
        scores = tile.view(torch.int16) if plan.screen else tile
        torch.amax(scores.view(c, g, s), dim=1, out=group_max[t, :c])
    gm = group_max[:, :c]  # (tiles, c, s)
    # the m + 1 best groups lie in the m + 1 best tiles (by the same argument as the items in the k best groups)
    kt = min(m + 1, plan.tiles)
    best_tiles = torch.topk(gm.amax(2).T, kt, dim=1, sorted=False).indices  # (c, kt)
    their_max = gm[best_tiles, torch.arange(c, device=u.device).unsqueeze(1)].view(c, kt * s)
    top_max, pos = torch.topk(their_max, m + 1, dim=1)  # the m + 1 best group maxima, best first
    chosen = (best_tiles.gather(1, pos // s) * s + pos % s)[:, :m]  # (c, m) group indices
    cand = group_ids[chosen].view(c, m * g)
    scores = torch.empty(c, m * g, dtype=torch.float32, device=u.device)
    _rescore(u, items_grouped, chosen, scores)
    scores.masked_fill_(cand >= n_items, -math.inf)  # padding
    if seen_keys is not None and len(seen_keys):
        keys = torch.arange(c, device=u.device).unsqueeze(1) * plan.n_pad + cand
        at = torch.searchsorted(seen_keys, keys).clamp_(max=len(seen_keys) - 1)
        scores.masked_fill_(seen_keys[at] == keys, -math.inf)
    values, cols = _ranked(scores, k, cand)
    # every item left out scores at most the (m + 1)-th best group max: compared in float64 with the k-th score
    # (within tol), or a finite max beside a short list
    next_max = top_max[:, m]
    if plan.screen:  # an int16 max below 0: every item left out is <= 0 (above); / (1 - r): the sum's rounding
        next_max = torch.where(next_max >= 0, next_max.view(torch.bfloat16).double() / (1 - BF16_ROUNDING), 0.0)
    else:
        next_max = next_max.double()
    ambiguous = (next_max > -math.inf) & (next_max >= values[:, -1].double() - tol)
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


def _exact_rows(u, items, k, rows, indptr, seen, memory_budget):
    """Top-k of the given user rows from their full score rows (the slow, plainly exact way), as many rows at a
    time as the plain way's working set allows in ``memory_budget`` bytes."""
    step = chunk_rows(items.shape[0], 0, 0, k, 1, u.shape[1], memory_budget)
    values, cols = [], []
    for part in rows.split(step):
        scores = u[part] @ items.T
        if seen is not None:
            r = part.cpu().numpy()
            lengths = indptr[r + 1] - indptr[r]
            excluded = np.concatenate([seen[indptr[i] : indptr[i + 1]] for i in r])
            scores[torch.from_numpy(np.repeat(np.arange(len(r)), lengths)), torch.from_numpy(excluded)] = -math.inf
        v, c = _ranked(scores, k)
        values.append(v)
        cols.append(c)
    return torch.cat(values), torch.cat(cols)


def fast_bfloat16(device: torch.device) -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (AVX512-BF16 or AMX), where screening pays:
    there a (1,000 x 64) x (64 x 1,024) product ran 4x faster than in float32. False on GPUs (one float32 product
    there is already fast) and where torch cannot tell."""
    if device.type != "cpu":
        return False
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # a torch without these checks
        return False


def screen_bound(user_norms: torch.Tensor, item_norm_max, dim: int) -> torch.Tensor:
    """How far a bfloat16 tile's score, before its own rounding to bfloat16, can lie from the exact inner product,
    per user: ``(n_users,) -> (n_users,)``.

    Both vectors are rounded to bfloat16 (relative error at most ``r = 2**-8`` per component), multiplied exactly
    and summed in float32 (``gamma_d``): within ``(2 r + r**2 + (1 + r)**2 gamma_d) |u| |i|`` of exact, which
    ``(2 r + r**2 + 2 gamma_d) |u| max|i|`` covers. Below ``2**-126`` hardware bfloat16 kernels flush inputs,
    products, partial sums and the result to zero (measured here: a product of ``2**-130`` came out 0), which
    ``(d + 1) 2**-126 (|u| + max|i| + 2)`` covers. The sum's own rounding to bfloat16 is relative to the score
    (at most ``r |score|``): :func:`_chunk_topk` divides the screened score by ``1 - r``."""
    gamma = dim * 2.0**-24 / (1 - dim * 2.0**-24)
    return ((2 * BF16_ROUNDING + BF16_ROUNDING**2 + 2 * gamma) * user_norms * item_norm_max
            + (dim + 1) * 2.0**-126 * (user_norms + item_norm_max + 2))


def _bfloat16_holds(u: torch.Tensor, it: torch.Tensor) -> bool:
    """Whether every component rounds to a finite bfloat16: from ``2**127`` up some round to inf, and inf times 0
    in a tile is NaN, which the int16 maxima would misread."""
    return max(u.abs().max().item() if u.numel() else 0.0, it.abs().max().item()) < 2.0**127


def screens(users: torch.Tensor, items: torch.Tensor, k: int, screen: str = "auto", group: int | None = None) -> bool:
    """Whether :func:`topk` with these arguments computes its tiles in bfloat16 (see its ``screen``): asked for
    (``'bfloat16'``, or ``'auto'`` on a CPU with bfloat16 hardware), on the grouped way with groups of two items or
    more for ``SCREEN_GROUPS * k`` groups, and every component finite in bfloat16."""
    if screen not in ("auto", "bfloat16", "float32"):
        raise ValueError(f"screen must be 'auto', 'bfloat16' or 'float32', got {screen!r}")
    if screen == "bfloat16" and users.device.type != "cpu":
        raise ValueError(f"screen='bfloat16' runs on the CPU only, got tensors on {users.device}: a GPU may add "
                         "bfloat16 products in reduced precision, which screen_bound does not cover")
    asked = screen == "bfloat16" or (screen == "auto" and fast_bfloat16(users.device))
    return (asked and _screen_fits(items.shape[0], k, SCREEN_GROUP if group is None else group)
            and _bfloat16_holds(users, items))


def topk(
    users: torch.Tensor,
    items: torch.Tensor,
    k: int,
    exclude=None,
    *,
    metric: str = "dot",
    nonfinite: str = "raise",
    memory_budget: int = 64 * 2**20,
    tile_bytes: int = 2**22,
    group: int | None = None,
    workers: int | None = None,
    screen: str = "auto",
) -> TopK:
    """The ``k`` best items for every user, ``(n_users, dim), (n_items, dim) -> TopK((n_users, k), (n_users, k))``.

    ``metric``: ``'dot'`` (``u.i``) or ``'cosine'`` (rows normalised first, zero rows score 0).
    ``exclude``: items each user has seen (see :func:`seen_csr`); they get score -inf and are never returned.
    ``nonfinite``: a user or item vector holding NaN or inf raises ``ValueError`` (``'raise'``), or with
    ``'mask'`` that item is never returned and that user gets an empty list (ids -1, scores -inf).

    How: users go in chunks; a chunk's scores are computed one tile of about ``TILE_ITEMS`` items at a time into one
    reused buffer of about ``tile_bytes`` (so it stays in the last-level cache; 4 MiB, about 1,024 users, ran
    fastest among 1, 2, 4 and 8 MiB on 2 cores), and only the max of each group of ``group`` items is kept (strided
    groups: a tile's group maxima are one element-wise max over ``group`` contiguous runs of columns, which
    vectorises). The k groups with the best maxima hold a whole top k (an item of any other group is <= its group's
    max <= the k-th best group max, and those k groups already hold k items that large). By the same argument one
    level up the k + 1 best groups lie in the k + 1 tiles with the best maxima, so those tiles give the k best
    groups and the (k + 1)-th best group max (its value; which of several equal groups is kept is arbitrary). The k
    groups' ``k * group`` items are scored again from the vectors (the tile is gone by then) and ranked. The two
    products may differ by rounding, so a row where the (k + 1)-th best group max comes within ``4 gamma_d |u| max
    |i|`` of the k-th score (Euclidean norms; ``gamma_d = d r / (1 - d r)`` with float32's unit roundoff ``r =
    2**-24``: each product's bound, added, then doubled to spare the rounding of the norms) is recomputed in full,
    and there equal float32 scores go to the lower index. The bound holds for full-precision float32 products
    (torch's default matmul precision ``'highest'``; TF32 or bfloat16 matmul settings would break it; the
    screening below multiplies bfloat16 copies on purpose, with its own bound).
    ``group`` defaults to ``GROUP`` items, or ``SCREEN_GROUP`` when screening.
    ``screen``: ``'auto'`` (the default) screens on a CPU that multiplies bfloat16 in hardware (see
    :func:`fast_bfloat16`), ``'bfloat16'`` screens on any CPU, ``'float32'`` never screens. Screening: the tiles are
    computed from bfloat16 copies of the vectors (4x the float32 rate there) and each group keeps the max of its
    bfloat16 scores. Those are within :func:`screen_bound` of exact, much wider than float32's bound, so
    ``SCREEN_GROUPS * k`` groups are rescored in float32 instead of k, and the row's check adds that bound (the
    (``SCREEN_GROUPS * k + 1``)-th group max, divided by ``1 - 2**-8`` for its own rounding, is compared): the
    scores returned and their order are float32's either way. It is skipped (float32 tiles) on the plain way,
    where groups of ``SCREEN_GROUPS * k`` would hold one item, and where a component is too large for bfloat16.
    When the next group holds no score above 0, every row whose k-th score lies within the bound of 0 is
    recomputed: on catalogues where most top scores are negative or near 0, ``'float32'`` is faster.
    ``group=1``, a catalogue under ``PLAIN_BELOW`` items (where per-call overhead dominates), or a k so large that
    a group would hold one item, runs one product and ``torch.topk`` over whole rows instead.

    Memory: beyond the inputs and the output, a float32 copy of the items (two on the grouped way: by tile and by
    group, and an int64 id per item; when screening, bfloat16 copies of the users and items too), at most
    ``memory_budget`` bytes of working sets (:func:`chunk_rows`, split between workers; the rows recomputed in
    full go in chunks of that size too), and about 48 bytes per excluded (user, item) pair of the chunks in work.
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
    if not 1 <= check_k(k) <= n_items:
        raise ValueError(f"k must lie in 1..{n_items} (the number of items), got {k}")
    if nonfinite == "mask":
        bad_users, bad_items = nonfinite_rows(u), nonfinite_rows(it)
        if len(bad_users) or len(bad_items):
            return _topk_masked(u, it, k, exclude, bad_users, bad_items, metric=metric, memory_budget=memory_budget,
                                tile_bytes=tile_bytes, group=group, workers=workers, screen=screen)
    if metric == "cosine":
        u, it = normalize_rows(u), normalize_rows(it)
        norms = None
    else:
        norms = check_products_finite(u, it)  # float64 row norms, reused by the rounding bound below
    u, it = u.float().contiguous(), it.float().contiguous()
    indptr, seen = seen_csr(exclude, n_users, n_items) if exclude is not None else (None, None)

    screened = screens(u, it, k, screen, group)
    if group is None:
        group = SCREEN_GROUP if screened else GROUP
    if workers is None:  # the plain way's product and topk already use torch's threads, with fewer calls
        workers = 1 if u.device.type != "cpu" or _plain(n_items, k, group) else torch.get_num_threads()
    if workers < 1:
        raise ValueError(f"workers must be >= 1 (or None for the default), got {workers}")
    dim, dev = u.shape[1], u.device
    plan = _plan(n_users, n_items, dim, k, group, tile_bytes, memory_budget, workers, screened)
    s, w, g = plan.per_tile, plan.width, plan.group
    padded = torch.zeros(plan.n_pad, dim, dtype=torch.float32, device=dev)
    padded[:n_items] = it
    tile_items = padded.view(plan.tiles, w, dim)  # tile t: (width, dim)
    u_tile = u
    if plan.screen:
        u_tile, tile_items = u.bfloat16(), tile_items.bfloat16()
    # group j of tile t holds items t * w + j + m * s (m < g): by group, (n_groups, g, dim) for the rescoring
    items_grouped = padded.view(plan.tiles, g, s, dim).transpose(1, 2).reshape(-1, g, dim) if g > 1 else None
    group_ids = (torch.arange(plan.tiles, device=dev).view(-1, 1, 1) * w + torch.arange(s, device=dev).view(1, s, 1)
                 + torch.arange(g, device=dev).view(1, 1, -1) * s).view(-1, g)  # (n_groups, g)
    # rounding: each of two float32 dot products of length dim is within gamma |u| |i| of the exact one (plus
    # dim steps of 2^-149 where products are subnormal); norms in float64, which neither underflow nor overflow here
    # (those of the vectors before the float32 copy, for 'dot': within a rounding step of the copies', which the
    # bound's factor of 2 spares)
    gamma = dim * 2.0**-24 / (1 - dim * 2.0**-24)
    if norms is None:
        norms = (torch.linalg.vector_norm(u, dim=1, dtype=torch.float64),
                 torch.linalg.vector_norm(it, dim=1, dtype=torch.float64))
    tol = 4 * gamma * norms[0] * norms[1].max() + 4 * dim * 2.0**-149
    if plan.screen:
        tol = tol + screen_bound(norms[0], norms[1].max(), dim)
    out_ids = torch.empty(n_users, k, dtype=torch.long, device=dev)
    out_scores = torch.empty(n_users, k, dtype=torch.float32, device=dev)
    ambiguous = torch.zeros(n_users, dtype=torch.bool, device=dev)
    take = chunk_starts(n_users, plan.rows)

    def work() -> None:
        tile = torch.empty(plan.rows, w, dtype=u_tile.dtype, device=dev)
        max_dtype = torch.int16 if plan.screen else torch.float32
        group_max = torch.empty(plan.tiles, plan.rows, s, dtype=max_dtype, device=dev) if g > 1 else None
        while (start := take()) is not None:
            stop = min(n_users, start + plan.rows)
            chunk_seen = None
            if seen is not None:  # this chunk's seen pairs, sorted by item so that each tile takes a slice
                c, cols = stop - start, seen[indptr[start] : indptr[stop]]
                rows = np.repeat(np.arange(c), np.diff(indptr[start : stop + 1]))
                keys = torch.from_numpy(rows * plan.n_pad + cols).to(dev)  # sorted: seen_csr sorts by (user, item)
                by_item = np.sort(cols * c + rows, kind="stable")
                chunk_seen = (by_item % c, by_item // c, keys)
            scores, ids, amb = _chunk_topk(u[start:stop], u_tile[start:stop], tile_items, items_grouped, group_ids,
                                           n_items, k, plan, tile, group_max, chunk_seen, tol[start:stop])
            out_scores[start:stop], out_ids[start:stop], ambiguous[start:stop] = scores, ids, amb

    run_workers(work, workers)
    if ambiguous.any():
        rows = ambiguous.nonzero()[:, 0]
        out_scores[rows], out_ids[rows] = _exact_rows(u, it, k, rows, indptr, seen, memory_budget)
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
    if not 1 <= check_k(k) <= n_items:
        raise ValueError(f"k must lie in 1..{n_items} (the number of items), got {k}")
    # a finite row sum proves every score of the row finite; a NaN, an infinity or an overflow falls back to the
    # exact mask, whose fresh (n_users, n_items) allocation costs 0.66 s against the sums' 0.03 s at 1,168 x 31,029
    bad = ~torch.isfinite(s) if not torch.isfinite(s.sum(1)).all() else None
    if bad is not None and bad.any():
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
    b = torch.as_tensor(bias, dtype=it.dtype, device=it.device).reshape(-1, 1)
    if b.shape[0] != it.shape[0]:
        raise ValueError(f"bias has {b.shape[0]} values for {it.shape[0]} items")
    if not torch.isfinite(b).all():
        i = int((~torch.isfinite(b[:, 0])).nonzero()[0])
        raise ValueError(f"bias[{i}] is {b[i, 0].item()}: an item prior must be finite")
    column = torch.full((u.shape[0], 1), finite_number(alpha, "alpha"), dtype=u.dtype, device=u.device)
    return torch.cat([u, column], 1), torch.cat([it, b], 1)


def topk_to_ranked(
    ids: torch.Tensor,
    user_ids: Sequence[Hashable] | None = None,
    item_ids: Sequence[Hashable] | None = None,
    scores: torch.Tensor | None = None,
    min_score: float | None = None,
) -> dict:
    """``(n_users, k)`` item row indices -> ``{user id: [item ids]}`` for ``rec.ranking_metrics`` (-1 dropped).
    A user id given twice is a ValueError: one row would silently replace the other.

    With ``scores`` and ``min_score``, only items scoring ``>= min_score`` are kept (seed 004's threshold rule:
    lists then have different lengths).
    """
    ids = torch.as_tensor(ids).cpu().numpy()
    users = list(range(len(ids))) if user_ids is None else np.asarray(user_ids).tolist()
    if len(users) != len(ids):
        raise ValueError(f"{len(users)} user_ids for {len(ids)} rows of ids")
    if len(set(users)) != len(users):
        seen = set()
        twice = next(u for u in users if u in seen or seen.add(u))
        raise ValueError(f"user id {twice!r} appears more than once in user_ids: one list per user (its rows would "
                         "replace each other)")
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

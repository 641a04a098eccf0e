"""Beyond accuracy: catalogue coverage, intra-list diversity and novelty of top-k lists (numpy and pandas only).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from xlrec_lib.rec.ranking_metrics import Ranked, check_k, first_k, per_user_mapping, require_columns
from xlrec_lib.vectors import normalize_rows


def item_popularity(
    frame: pd.DataFrame,
    col_user: str = "user_id",
    col_item: str = "item_id",
    items: Iterable[Hashable] | None = None,
    smoothing: float = 0.0,
) -> dict:
    """``p(i) = (n_i + smoothing) / (n_users + smoothing)``: the share of ``frame``'s distinct users who interacted
    with item ``i`` (``n_i`` of them), for :func:`novelty`.

    ``items`` lists the whole catalogue (items absent from ``frame`` get ``n_i = 0``); with ``smoothing=0`` they get
    ``p = 0`` and an infinite novelty, ``smoothing=1`` keeps it finite. (recommenders' ``historical_item_novelty``
    divides ``n_i`` by the number of training interactions instead, without smoothing.)
    """
    require_columns(frame, [col_user, col_item], "item_popularity")
    if isinstance(smoothing, bool) or not isinstance(smoothing, (int, float, np.number)) or not smoothing >= 0 \
            or not np.isfinite(smoothing):
        raise ValueError(f"item_popularity: smoothing must be >= 0, got {smoothing}")
    n_users = frame[col_user].nunique()
    if n_users == 0:
        raise ValueError("item_popularity: the frame has no rows")
    counts = frame.drop_duplicates([col_user, col_item]).groupby(col_item).size()
    if items is not None:
        if isinstance(items, (str, bytes)):
            raise ValueError(f"item_popularity: items must be a collection of item ids, got the string {items!r:.40}")
        catalogue = pd.Index(list(items))
        outside = counts.index.difference(catalogue)
        if len(outside):
            raise ValueError(f"item_popularity: item {outside.tolist()[0]!r} of the frame is not in items")
        counts = counts.reindex(catalogue, fill_value=0)
    return ((counts + smoothing) / (n_users + smoothing)).to_dict()


def _all_top_k(ranked: Ranked, k: int) -> dict:
    return {user: first_k(user, items, k) for user, items in per_user_mapping(ranked, "ranked").items()}


def catalog_coverage(ranked: Ranked, catalog: int | Collection[Hashable], k: int) -> float:
    """Share of the catalogue that appears in at least one user's top k: ``|union of top-k lists| / |catalog|``.

    ``catalog`` is the collection of item ids (checked: a recommended id outside it is an error) or its size.
    """
    k = check_k(k)
    shown = set().union(*_all_top_k(ranked, k).values())
    if isinstance(catalog, (int, np.integer)) and not isinstance(catalog, bool):
        n = int(catalog)
    elif isinstance(catalog, (str, bytes, bool)) or not hasattr(catalog, "__iter__"):
        raise ValueError(f"catalog_coverage: catalog must be the item ids or their number, got {catalog!r:.40}")
    else:
        catalog = set(catalog)
        outside = shown - catalog
        if outside:
            raise ValueError(f"catalog_coverage: recommended item {next(iter(outside))!r} is not in the catalog")
        n = len(catalog)
    if n < 1:
        raise ValueError(f"catalog_coverage: the catalog is empty ({catalog!r})")
    if len(shown) > n:
        raise ValueError(f"catalog_coverage: {len(shown)} distinct items recommended but catalog size is {n}")
    return len(shown) / n


def intra_list_diversity(
    ranked: Ranked, item_vectors: np.ndarray, k: int, item_ids: Sequence[Hashable] | None = None
) -> float:
    """Mean over users of the average pairwise cosine distance within the top k:

    ``ILD(L) = 2 / (n (n - 1)) * sum_{i<j} (1 - cos(v_i, v_j))`` with ``n = |L| <= k``.

    ``item_vectors`` is ``(n_items, dim)``; row ``j`` belongs to ``item_ids[j]`` (default: the id is ``j``).
    A zero vector has cosine 0 with everything (distance 1). Users whose list has fewer than two items have no
    pair and are skipped; if no user has a pair, the result is NaN.
    """
    k = check_k(k)
    vectors = np.asarray(item_vectors, dtype=np.float64)
    if vectors.ndim != 2:
        raise ValueError(f"intra_list_diversity: item_vectors must be (n_items, dim), got shape {vectors.shape}")
    if not np.isfinite(vectors).all():
        row = int(np.flatnonzero(~np.isfinite(vectors).all(axis=1))[0])
        raise ValueError(f"intra_list_diversity: item_vectors row {row} is not finite")
    if isinstance(item_ids, (str, bytes)):
        raise ValueError(f"intra_list_diversity: item_ids must be a list of ids, got the string {item_ids!r:.40}")
    unit = normalize_rows(vectors)
    row_of = {item: j for j, item in enumerate(item_ids)} if item_ids is not None else None
    if row_of is not None and len(row_of) != len(vectors):
        raise ValueError(f"intra_list_diversity: {len(row_of)} distinct item_ids for {len(vectors)} vector rows")
    values = []
    for user, top in _all_top_k(ranked, k).items():
        n = len(top)
        if n < 2:
            continue
        try:
            rows = [row_of[i] for i in top] if row_of is not None else [int(i) for i in top]
        except KeyError as err:
            raise ValueError(f"intra_list_diversity: item {err.args[0]!r} of user {user!r} has no vector") from None
        if row_of is None and (min(rows) < 0 or max(rows) >= len(unit)):
            raise ValueError(f"intra_list_diversity: user {user!r} has an item id outside 0..{len(unit) - 1}")
        v = unit[rows]
        sim = v @ v.T
        mean_sim = (sim.sum() - np.trace(sim)) / (n * (n - 1))
        values.append(1.0 - mean_sim)
    return float(np.mean(values)) if values else float("nan")


def novelty(ranked: Ranked, popularity: Mapping[Hashable, float], k: int) -> float:
    """Mean self-information of the recommended items, ``-log2 p(i)``, over every (user, slot) of the top-k lists.

    ``p(i)`` is the share of users who interacted with ``i`` in training (:func:`item_popularity`). recommenders'
    ``novelty`` takes the same mean (it weights each item by how often it is recommended) of ``-log2 p(i)`` with
    ``p(i) = n_i / (training interactions)``: with one row per (user, item) its value is ours at ``smoothing=0``
    plus the constant ``log2(interactions per user)``, and it counts an item never seen in training as 0 bits.
    An item with no popularity (never seen in training) has infinite novelty and is an error.
    """
    k = check_k(k)
    info = []
    for user, top in _all_top_k(ranked, k).items():
        for item in top:
            p = popularity.get(item, 0.0)
            if not 0.0 < p <= 1.0:
                raise ValueError(f"novelty: item {item!r} (user {user!r}) has popularity {p!r}, need 0 < p <= 1")
            info.append(-math.log2(p))
    if not info:
        raise ValueError("novelty: every ranked list is empty")
    return float(np.mean(info))

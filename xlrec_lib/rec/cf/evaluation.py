"""Choosing hyperparameters on validation and measuring a fitted model: chapter 08's protocol.

``grid_search`` fits one model per setting on the *fit* matrix and scores its top-k against the *validation*
interactions (never the test set); ``evaluate`` reports the ranking metrics of
:mod:`xlrec_lib.rec.ranking_metrics` and the beyond-accuracy ones of :mod:`xlrec_lib.rec.beyond_accuracy` for
one model's lists.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from xlrec_lib.rec import beyond_accuracy, ranking_metrics
from xlrec_lib.rec.topk import topk_to_ranked


def ranked_lists(model, k: int, user_ids, item_ids, exclude="train") -> dict:
    """``{user id: [k item ids]}`` of a fitted model's top-k (training items excluded by default)."""
    return topk_to_ranked(model.recommend(k, exclude).ids, user_ids, item_ids)


def grid_search(factory: Callable[..., object], grid: Sequence[Mapping], train, relevant: Mapping, user_ids,
                item_ids, k: int = 10, progress: bool = True, desc: str = "grid") -> pd.DataFrame:
    """One row per setting of ``grid``: its parameters, ``ndcg@k`` of ``factory(**setting).fit(train)`` against
    ``relevant`` (user id -> set of ids) and the fit seconds; best first (ties keep the grid's order)."""
    if not grid:
        raise ValueError("grid_search: the grid is empty")
    rows = []
    for setting in tqdm(grid, desc=desc, disable=not progress):
        start = time.perf_counter()
        model = factory(**setting).fit(train)
        seconds = time.perf_counter() - start
        ndcg = ranking_metrics.ndcg_at_k(ranked_lists(model, k, user_ids, item_ids), relevant, k)
        rows.append({**setting, f"ndcg@{k}": ndcg, "fit seconds": seconds})
    table = pd.DataFrame(rows)
    return table.iloc[np.argsort(-table[f"ndcg@{k}"].to_numpy(), kind="stable")].reset_index(drop=True)


def best_setting(table: pd.DataFrame, grid: Sequence[Mapping]) -> dict:
    """The parameters of the first row of a :func:`grid_search` table, with the grid's Python types."""
    keys = list(grid[0])
    top = table.iloc[0]
    return next(dict(s) for s in grid if all(s[key] == top[key] for key in keys))


def evaluate(ranked: Mapping, relevant: Mapping, k: int, item_ids, item_vectors: np.ndarray,
             popularity: Mapping) -> dict[str, float]:
    """Every ranking metric at ``k`` plus catalogue coverage, intra-list diversity over ``item_vectors`` (rows in
    ``item_ids`` order) and novelty (``popularity``: item id -> share of training users, see
    ``beyond_accuracy.item_popularity``)."""
    return {**ranking_metrics.ranking_report(ranked, relevant, k),
            **beyond_report(ranked, k, item_ids, item_vectors, popularity)}


def beyond_report(ranked: Mapping, k: int, item_ids, item_vectors: np.ndarray, popularity: Mapping) -> dict[str, float]:
    """The beyond-accuracy part of :func:`evaluate` alone (it needs no relevance)."""
    return {f"coverage@{k}": beyond_accuracy.catalog_coverage(ranked, item_ids, k),
            f"diversity@{k}": beyond_accuracy.intra_list_diversity(ranked, item_vectors, k, item_ids=item_ids),
            f"novelty@{k}": beyond_accuracy.novelty(ranked, popularity, k)}

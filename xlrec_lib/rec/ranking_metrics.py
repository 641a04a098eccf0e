"""Ranking metrics of top-k lists: precision, recall, F1, nDCG, MAP, MRR, hit rate.

Pure functions of ids and scores (numpy and pandas only, no model, no torch).

Ranking metrics share one signature, ``metric(ranked, relevant, k)``:

- ``ranked``: per user, item ids in rank order (best first): a dict ``user -> list`` or a list of lists
  (then the user is the position in the list). Only the first ``k`` ids count; a list may be shorter than ``k``.
- ``relevant``: per user, the collection of relevant ids (the ground truth), keyed the same way.

They return the mean over the *evaluated users*: every user of ``relevant`` with at least one relevant item.
Users with no relevant item are skipped (nothing to find, the metric is undefined for them), exactly as in
Microsoft recommenders' ``python_evaluation``, where such users are absent from ``rating_true``. One deliberate
difference: recommenders also drops users that have no prediction; here a user of ``relevant`` missing from
``ranked`` counts as an empty list and scores 0, so a recommender cannot gain by staying silent.

The formulas follow ``recommenders.evaluation.python_evaluation`` (binary relevance). For one user with top-k
list ``L`` (at most k ids), relevant set ``R`` and ``rel_r = 1`` if the item at rank ``r`` is in ``R`` else 0:

- precision@k = sum_{r<=k} rel_r / k              (divided by k even when |L| < k)
- recall@k    = sum_{r<=k} rel_r / |R|
- nDCG@k      = DCG / IDCG,  DCG = sum_{r<=k} rel_r / log(1 + r),  IDCG = sum_{r <= min(|R|, k)} 1 / log(1 + r)
- MAP@k       = (1 / min(|R|, k)) * sum_{r<=k} rel_r * precision@r
- MRR         = 1 / (rank of the first relevant item), 0 if none in the top k
- hit rate@k  = 1 if any rel_r = 1 for r <= k else 0"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

Ranked = Mapping[Hashable, Sequence[Hashable]] | Sequence[Sequence[Hashable]]


Relevant = Mapping[Hashable, Collection[Hashable]] | Sequence[Collection[Hashable]]


def check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def per_user_mapping(per_user, name: str) -> Mapping:
    if isinstance(per_user, Mapping):
        return per_user
    if isinstance(per_user, (str, bytes)) or not isinstance(per_user, (Sequence, np.ndarray)):
        raise TypeError(f"{name} must be a dict user -> ids or a list of lists, got {type(per_user).__name__}")
    return dict(enumerate(per_user))


def first_k(user, items, k: int) -> list:
    top = list(items[:k]) if k is not None else list(items)
    if len(set(top)) != len(top):
        seen: set = set()
        dup = next(item for item in top if item in seen or seen.add(item))
        raise ValueError(f"ranked list of user {user!r} repeats item {dup!r} in its top {k}")
    return top


def _pairs(ranked: Ranked, relevant: Relevant, k: int | None):
    """Yield ``(user, top-k list, relevant set)`` for every evaluated user (see the module docstring)."""
    ranked_map = per_user_mapping(ranked, "ranked")
    relevant_map = per_user_mapping(relevant, "relevant")
    if isinstance(ranked, Mapping) != isinstance(relevant, Mapping):
        raise TypeError("ranked and relevant must both be dicts or both be lists (users matched by position)")
    n = 0
    for user, rel in relevant_map.items():
        rel = set(rel)
        if not rel:
            continue
        n += 1
        yield user, first_k(user, ranked_map.get(user, []), k), rel
    if n == 0:
        raise ValueError("no user has a relevant item: ranking metrics are undefined")


def _mean_over_users(ranked: Ranked, relevant: Relevant, k: int | None, per_user: Callable) -> float:
    return float(np.mean([per_user(top, rel) for _, top, rel in _pairs(ranked, relevant, k)]))


def _hits(top: Sequence, rel: Collection) -> np.ndarray:
    return np.fromiter((item in rel for item in top), dtype=bool, count=len(top))


def precision_at_k(ranked: Ranked, relevant: Relevant, k: int) -> float:
    """Mean over users of ``hits@k / k``. Lists shorter than k are still divided by k (as in Spark/recommenders)."""
    k = check_k(k)
    return _mean_over_users(ranked, relevant, k, lambda top, rel: _hits(top, rel).sum() / k)


def recall_at_k(ranked: Ranked, relevant: Relevant, k: int) -> float:
    """Mean over users of ``hits@k / |R|``: the share of the user's relevant items found in the top k."""
    k = check_k(k)
    return _mean_over_users(ranked, relevant, k, lambda top, rel: _hits(top, rel).sum() / len(rel))


def f1_at_k(ranked: Ranked, relevant: Relevant, k: int) -> float:
    """Mean over users of ``2 P R / (P + R)`` with the user's precision@k and recall@k (0 when both are 0).

    Per-user F1, then averaged (recommenders has no F1@k; the harmonic mean of the *averaged* P and R differs).
    """
    k = check_k(k)

    def f1(top, rel):
        h = _hits(top, rel).sum()
        p, r = h / k, h / len(rel)
        return 0.0 if h == 0 else 2 * p * r / (p + r)

    return _mean_over_users(ranked, relevant, k, f1)


def _log_discounts(n: int) -> np.ndarray:
    return 1.0 / np.log1p(np.arange(1, n + 1))  # 1 / log(1 + r) for r = 1..n; the log base cancels in DCG / IDCG


def ndcg_at_k(ranked: Ranked, relevant: Relevant, k: int) -> float:
    """Mean over users of ``DCG@k / IDCG@k`` with binary gains.

    ``DCG = sum_{r<=k} rel_r / log(1 + r)`` and ``IDCG = sum_{r <= min(|R|, k)} 1 / log(1 + r)`` (the best list
    puts every relevant item first). recommenders' default ``discfun_type='loge'``; any base gives the same ratio.
    """
    k = check_k(k)
    disc = _log_discounts(k)

    def ndcg(top, rel):
        dcg = disc[: len(top)][_hits(top, rel)].sum()
        return dcg / disc[: min(len(rel), k)].sum()

    return _mean_over_users(ranked, relevant, k, ndcg)


def map_at_k(ranked: Ranked, relevant: Relevant, k: int) -> float:
    """Mean average precision: mean over users of ``AP@k = (1 / min(|R|, k)) sum_{r<=k} rel_r * hits@r / r``.

    Normalised by ``min(|R|, k)``, as recommenders' current ``map_at_k`` does (after Spark's
    ``RankingMetrics.meanAveragePrecisionAt``); its older ``map_at_k``, and its ``map`` today, divide by ``|R|``,
    which caps AP@k below 1 whenever a user has more than k relevant items.
    """
    k = check_k(k)

    def ap(top, rel):
        hits = _hits(top, rel)
        ranks = np.arange(1, len(top) + 1)
        return (np.cumsum(hits)[hits] / ranks[hits]).sum() / min(len(rel), k)

    return _mean_over_users(ranked, relevant, k, ap)


def mrr(ranked: Ranked, relevant: Relevant, k: int | None = None) -> float:
    """Mean reciprocal rank: mean over users of ``1 / rank`` of the first relevant item in the top k (0 if none).

    ``k=None`` looks at the whole list. (recommenders' ``_get_reciprocal_rank`` is the MAP helper, not MRR.)
    """
    if k is not None:
        k = check_k(k)

    def rr(top, rel):
        hits = np.flatnonzero(_hits(top, rel))
        return 0.0 if len(hits) == 0 else 1.0 / (hits[0] + 1)

    return _mean_over_users(ranked, relevant, k, rr)


def hit_rate_at_k(ranked: Ranked, relevant: Relevant, k: int) -> float:
    """Share of users with at least one relevant item in their top k."""
    k = check_k(k)
    return _mean_over_users(ranked, relevant, k, lambda top, rel: float(_hits(top, rel).any()))


RANKING_METRICS: dict[str, Callable[..., float]] = {
    "precision": precision_at_k,
    "recall": recall_at_k,
    "f1": f1_at_k,
    "ndcg": ndcg_at_k,
    "map": map_at_k,
    "mrr": mrr,
    "hit_rate": hit_rate_at_k,
}


def ranking_report(ranked: Ranked, relevant: Relevant, k: int) -> dict[str, float]:
    """Every ranking metric at ``k`` in one dict (``{"precision@10": ..., ...}``); mrr is cut at k too."""
    return {f"{name}@{k}": fn(ranked, relevant, k) for name, fn in RANKING_METRICS.items()}


def require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(f"{what}: missing column(s) {missing}; has {list(frame.columns)}")


def ranked_from_frame(
    frame: pd.DataFrame,
    user_col: str = "user_id",
    item_col: str = "item_id",
    score_col: str = "score",
    k: int | None = None,
) -> dict[Hashable, list]:
    """Frame of ``(user, item, score)`` rows -> ``{user: [items by descending score]}``, cut at ``k`` if given.

    Ties are broken by item id (ascending) so that the lists are deterministic. A repeated (user, item) pair
    or a NaN score is an error.
    """
    require_columns(frame, [user_col, item_col, score_col], "ranked_from_frame")
    if frame[score_col].isna().any():
        row = frame.index[frame[score_col].isna()][0]
        raise ValueError(f"ranked_from_frame: NaN in column {score_col!r} at row {row!r}")
    dup = frame.duplicated([user_col, item_col])
    if dup.any():
        user, item = frame.loc[dup, user_col].tolist()[0], frame.loc[dup, item_col].tolist()[0]
        raise ValueError(f"ranked_from_frame: pair ({user!r}, {item!r}) appears more than once")
    ordered = frame.sort_values([user_col, score_col, item_col], ascending=[True, False, True], kind="mergesort")
    if k is not None:
        ordered = ordered.groupby(user_col, sort=False).head(check_k(k))
    return {user: group.tolist() for user, group in ordered.groupby(user_col, sort=False)[item_col]}


def relevant_from_frame(
    frame: pd.DataFrame,
    user_col: str = "user_id",
    item_col: str = "item_id",
    rating_col: str | None = None,
    threshold: float | None = None,
) -> dict[Hashable, set]:
    """Frame of interactions -> ``{user: set of relevant items}``.

    With ``rating_col`` and ``threshold`` an item is relevant when ``rating >= threshold``; a user whose ratings
    all fall below keeps an empty set (and is then skipped by the ranking metrics, see the module docstring).
    """
    cols = [user_col, item_col] + ([rating_col] if rating_col else [])
    require_columns(frame, cols, "relevant_from_frame")
    if (rating_col is None) != (threshold is None):
        raise ValueError("relevant_from_frame: give both rating_col and threshold, or neither")
    keep = frame[rating_col] >= threshold if rating_col else pd.Series(True, index=frame.index)
    out: dict[Hashable, set] = {user: set() for user in frame[user_col].unique()}
    for user, items in frame.loc[keep].groupby(user_col, sort=False)[item_col]:
        out[user] = set(items)
    return out

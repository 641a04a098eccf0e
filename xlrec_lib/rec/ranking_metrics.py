"""Ranking metrics of top-k lists: precision, recall, F1, nDCG, MAP, MRR, hit rate.

Pure functions of ids and scores (numpy and pandas only, no model, no torch).

Ranking metrics share one signature, ``metric(ranked, relevant, k)``:

- ``ranked``: per user, item ids in rank order (best first): a dict ``user -> list`` or a list of lists
  (then the user is the position in the list). Only the first ``k`` ids count; a list may be shorter than ``k``.
- ``relevant``: per user, the collection of relevant ids (the ground truth), keyed the same way.

They return the mean over the *evaluated users*: every user of ``relevant`` with at least one relevant item
(with ``per_user=True``, the dict user -> value whose mean that is, for intervals over users).
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
- hit rate@k  = 1 if any rel_r = 1 for r <= k else 0

Inputs are checked once, here at the boundary: a user's list must be a list (a string is never read as a list of
one-letter ids, a flat ``[2]`` is not a list of lists); user ids across ``ranked`` and ``relevant``, and item ids
across both, must each be of one kind (``1`` and ``'1'`` are different ids, so mixing them is an error rather
than a silent score of 0). A ranked list has no ties: its order is the ranking. Where scores become lists
(:func:`ranked_from_frame`) equal scores are ordered by the one tie rule of :func:`xlrec_lib.vectors.target_ranks`.

Result keys (:func:`ranking_report`) follow the library's one style, ``<metric>@<k>`` with the metric's usual
abbreviation: ``P@10``, ``R@10``, ``F1@10``, ``NDCG@10``, ``MAP@10``, ``MRR@10``, ``HR@10`` (``MRR`` alone when
not cut at k, as in ``crosslingual.retrieval``)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from xlrec_lib.vectors import check_k

Ranked = Mapping[Hashable, Sequence[Hashable]] | Sequence[Sequence[Hashable]]


Relevant = Mapping[Hashable, Collection[Hashable]] | Sequence[Collection[Hashable]]


def per_user_mapping(per_user, name: str) -> Mapping:
    """``per_user`` as a dict user -> value: a dict as it is, a list (or tuple) keyed by position."""
    if isinstance(per_user, Mapping):
        return per_user
    if isinstance(per_user, (str, bytes)) or not isinstance(per_user, (Sequence, np.ndarray)):
        raise ValueError(f"{name} must be a dict user -> ids or a list of lists, got {type(per_user).__name__} "
                         f"{per_user!r:.60}")
    return dict(enumerate(per_user))


def _id_list(user, items, name: str) -> list:
    """One user's ids as a list; a string, a mapping or a lone id is an error (never iterated item by item)."""
    if isinstance(items, pd.Series):
        items = items.tolist()
    ordered = name == "ranked"
    allowed = (list, tuple, np.ndarray, range) if ordered else (list, tuple, np.ndarray, range, set, frozenset)
    if not isinstance(items, allowed):
        what = "an ordered list of item ids" if ordered else "a collection (set or list) of item ids"
        raise ValueError(f"{name}[{user!r}] must be {what}, got {type(items).__name__} {items!r:.60}"
                         + (" (a list of lists is expected: did you pass one flat list?)" if
                            not isinstance(items, (str, bytes, Mapping)) else ""))
    return list(items)


def first_k(user, items, k: int | None) -> list:
    """The first ``k`` ids of one user's ranked list (all of them for ``k=None``); a repeated id is an error."""
    top = _id_list(user, items, "ranked")
    top = top[:k] if k is not None else top
    if len(set(top)) != len(top):
        seen: set = set()
        dup = next(item for item in top if item in seen or seen.add(item))
        raise ValueError(f"ranked list of user {user!r} repeats item {dup!r} in its top {k}")
    return top


def _kind(x) -> str:
    if isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)):
        return "int"
    return "str" if isinstance(x, str) else type(x).__name__


def check_id_kinds(what: str, **named: Iterable) -> None:
    """Ids are compared as they are (``1 != '1'``), so every id of ``what`` across the named collections must be
    of one kind (int, str, ...); otherwise ValueError naming an example of each kind and where it was found."""
    seen: dict[str, tuple[str, object]] = {}
    for name, ids in named.items():
        for x in ids:
            kind = _kind(x)
            if kind not in seen:
                seen[kind] = (name, x)
                if len(seen) > 1:
                    examples = ", ".join(f"{k} in {n} (e.g. {v!r})" for k, (n, v) in seen.items())
                    raise ValueError(f"{what} are of different kinds: {examples}. Ids are compared as they are "
                                     f"(1 != '1'): convert them to one kind first")


def _pairs(ranked: Ranked, relevant: Relevant, k: int | None):
    """Yield ``(user, top-k list, relevant set)`` for every evaluated user (see the module docstring)."""
    if isinstance(ranked, Mapping) != isinstance(relevant, Mapping):
        raise ValueError("ranked and relevant must both be dicts or both be lists (users matched by position)")
    ranked_map = {u: first_k(u, items, k) for u, items in per_user_mapping(ranked, "ranked").items()}
    relevant_map = {u: _id_list(u, items, "relevant") for u, items in per_user_mapping(relevant, "relevant").items()}
    check_id_kinds("user ids", ranked=ranked_map, relevant=relevant_map)
    check_id_kinds("item ids", ranked=(i for top in ranked_map.values() for i in top),
                   relevant=(i for rel in relevant_map.values() for i in rel))
    n = 0
    for user, rel in relevant_map.items():
        rel = set(rel)
        if not rel:
            continue
        n += 1
        yield user, ranked_map.get(user, []), rel
    if n == 0:
        raise ValueError("no user has a relevant item: ranking metrics are undefined")


def _mean_over_users(ranked: Ranked, relevant: Relevant, k: int | None, score: Callable,
                     per_user: bool = False) -> float | dict:
    """The mean of ``score(top, rel)`` over the evaluated users, or with ``per_user`` the dict user -> score (for
    intervals over users, e.g. ``xlrec_lib.intervals.paired_difference`` of two models' values)."""
    values = {user: float(score(top, rel)) for user, top, rel in _pairs(ranked, relevant, k)}
    return values if per_user else float(np.mean(list(values.values())))


def _hits(top: Sequence, rel: Collection) -> np.ndarray:
    return np.fromiter((item in rel for item in top), dtype=bool, count=len(top))


def precision_at_k(ranked: Ranked, relevant: Relevant, k: int, per_user: bool = False) -> float | dict:
    """Mean over users of ``hits@k / k``. Lists shorter than k are still divided by k (as in Spark/recommenders)."""
    k = check_k(k)
    return _mean_over_users(ranked, relevant, k, lambda top, rel: _hits(top, rel).sum() / k, per_user)


def recall_at_k(ranked: Ranked, relevant: Relevant, k: int, per_user: bool = False) -> float | dict:
    """Mean over users of ``hits@k / |R|``: the share of the user's relevant items found in the top k."""
    k = check_k(k)
    return _mean_over_users(ranked, relevant, k, lambda top, rel: _hits(top, rel).sum() / len(rel), per_user)


def f1_at_k(ranked: Ranked, relevant: Relevant, k: int, per_user: bool = False) -> float | dict:
    """Mean over users of ``2 P R / (P + R)`` with the user's precision@k and recall@k (0 when both are 0).

    Per-user F1, then averaged (recommenders has no F1@k; the harmonic mean of the *averaged* P and R differs).
    """
    k = check_k(k)

    def f1(top, rel):
        h = _hits(top, rel).sum()
        p, r = h / k, h / len(rel)
        return 0.0 if h == 0 else 2 * p * r / (p + r)

    return _mean_over_users(ranked, relevant, k, f1, per_user)


def _log_discounts(n: int) -> np.ndarray:
    return 1.0 / np.log1p(np.arange(1, n + 1))  # 1 / log(1 + r) for r = 1..n; the log base cancels in DCG / IDCG


def ndcg_at_k(ranked: Ranked, relevant: Relevant, k: int, per_user: bool = False) -> float | dict:
    """Mean over users of ``DCG@k / IDCG@k`` with binary gains.

    ``DCG = sum_{r<=k} rel_r / log(1 + r)`` and ``IDCG = sum_{r <= min(|R|, k)} 1 / log(1 + r)`` (the best list
    puts every relevant item first). recommenders' default ``discfun_type='loge'``; any base gives the same ratio.
    """
    k = check_k(k)
    disc = _log_discounts(k)

    def ndcg(top, rel):
        dcg = disc[: len(top)][_hits(top, rel)].sum()
        return dcg / disc[: min(len(rel), k)].sum()

    return _mean_over_users(ranked, relevant, k, ndcg, per_user)


def map_at_k(ranked: Ranked, relevant: Relevant, k: int, per_user: bool = False) -> float | dict:
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

    return _mean_over_users(ranked, relevant, k, ap, per_user)


def mrr(ranked: Ranked, relevant: Relevant, k: int | None = None, per_user: bool = False) -> float | dict:
    """Mean reciprocal rank: mean over users of ``1 / rank`` of the first relevant item in the top k (0 if none).

    ``k=None`` looks at the whole list. (recommenders' ``_get_reciprocal_rank`` is the MAP helper, not MRR.)
    """
    if k is not None:
        k = check_k(k)

    def rr(top, rel):
        hits = np.flatnonzero(_hits(top, rel))
        return 0.0 if len(hits) == 0 else 1.0 / (hits[0] + 1)

    return _mean_over_users(ranked, relevant, k, rr, per_user)


def hit_rate_at_k(ranked: Ranked, relevant: Relevant, k: int, per_user: bool = False) -> float | dict:
    """Share of users with at least one relevant item in their top k."""
    k = check_k(k)
    return _mean_over_users(ranked, relevant, k, lambda top, rel: float(_hits(top, rel).any()), per_user)


RANKING_METRICS: dict[str, Callable[..., float]] = {
    "P": precision_at_k,
    "R": recall_at_k,
    "F1": f1_at_k,
    "NDCG": ndcg_at_k,
    "MAP": map_at_k,
    "MRR": mrr,
    "HR": hit_rate_at_k,
}


def ranking_report(ranked: Ranked, relevant: Relevant, k: int) -> dict[str, float]:
    """Every ranking metric at ``k`` in one dict, keyed ``<metric>@<k>`` (``{"P@10": ..., "R@10": ..., "F1@10",
    "NDCG@10", "MAP@10", "MRR@10", "HR@10"}``); MRR is cut at k too."""
    return {f"{name}@{k}": fn(ranked, relevant, k) for name, fn in RANKING_METRICS.items()}


def perfect_list_report(relevant: Relevant, k: int) -> dict[str, float]:
    """:func:`ranking_report` of the best lists there are: each user's relevant items first (any order, at most
    ``k``). Its P@k and R@k are the ceilings a model's are read against: below 1 where users have fewer than ``k``
    relevant items (they cannot fill the list) or more (the list cannot hold them all)."""
    relevant = per_user_mapping(relevant, "relevant")
    return ranking_report({user: list(rel)[:k] for user, rel in relevant.items()}, relevant, k)


def require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{what}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}; has {list(frame.columns)}")
    if len(set(columns)) != len(list(columns)):
        raise ValueError(f"{what}: the column arguments must name different columns, got {list(columns)}")


def ranked_from_frame(
    frame: pd.DataFrame,
    col_user: str = "user_id",
    col_item: str = "item_id",
    col_score: str = "score",
    k: int | None = None,
    relevant: Relevant | None = None,
) -> dict[Hashable, list]:
    """Frame of ``(user, item, score)`` rows -> ``{user: [items by descending score]}``, cut at ``k`` if given.

    Equal scores are ordered by the one tie rule (:func:`xlrec_lib.vectors.target_ranks`) when ``relevant`` is
    given: the user's relevant items come after the other items of the same score (ties count against the
    recommender), so that the metrics of these lists equal those computed from the scores. Without ``relevant``
    equal scores are ordered by item id, which is deterministic but may favour the recommender. A repeated
    (user, item) pair or a non-finite score is an error.
    """
    columns = [col_user, col_item, col_score]
    require_columns(frame, columns, "ranked_from_frame")
    scores = pd.to_numeric(frame[col_score], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(scores)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        row, value = frame.index[[pos]].tolist()[0], frame[col_score].iloc[[pos]].tolist()[0]
        raise ValueError(f"ranked_from_frame: column {col_score!r} is {value!r} at row {row!r}; "
                         "scores must be finite numbers")
    dup = frame.duplicated([col_user, col_item])
    if dup.any():
        user, item = frame.loc[dup, col_user].tolist()[0], frame.loc[dup, col_item].tolist()[0]
        raise ValueError(f"ranked_from_frame: pair ({user!r}, {item!r}) appears more than once")
    ordered = frame[columns].assign(**{col_score: scores, "__relevant": False})
    if relevant is not None:
        rel_map = {u: set(_id_list(u, items, "relevant"))
                   for u, items in per_user_mapping(relevant, "relevant").items()}
        check_id_kinds("user ids", frame=ordered[col_user].tolist(), relevant=rel_map)
        check_id_kinds("item ids", frame=ordered[col_item].tolist(), relevant=(i for r in rel_map.values() for i in r))
        ordered["__relevant"] = [i in rel_map.get(u, ()) for u, i in zip(ordered[col_user], ordered[col_item],
                                                                           strict=True)]
    ordered = ordered.sort_values([col_user, col_score, "__relevant", col_item], ascending=[True, False, True, True],
                                  kind="mergesort")
    if k is not None:
        ordered = ordered.groupby(col_user, sort=False).head(check_k(k))
    return {user: group.tolist() for user, group in ordered.groupby(col_user, sort=False)[col_item]}


def relevant_from_frame(
    frame: pd.DataFrame,
    col_user: str = "user_id",
    col_item: str = "item_id",
    col_rating: str | None = None,
    threshold: float | None = None,
) -> dict[Hashable, set]:
    """Frame of interactions -> ``{user: set of relevant items}``.

    With ``col_rating`` and ``threshold`` an item is relevant when ``rating >= threshold``; a user whose ratings
    all fall below keeps an empty set (and is then skipped by the ranking metrics, see the module docstring).
    A NaN rating or threshold is an error (it would silently make an item irrelevant).
    """
    cols = [col_user, col_item] + ([col_rating] if col_rating else [])
    require_columns(frame, cols, "relevant_from_frame")
    if (col_rating is None) != (threshold is None):
        raise ValueError("relevant_from_frame: give both col_rating and threshold, or neither")
    if col_rating:
        ratings = pd.to_numeric(frame[col_rating], errors="coerce")
        if ratings.isna().any():
            pos = int(np.flatnonzero(ratings.isna().to_numpy())[0])
            row, value = frame.index[[pos]].tolist()[0], frame[col_rating].iloc[[pos]].tolist()[0]
            raise ValueError(f"relevant_from_frame: column {col_rating!r} is {value!r} at row "
                             f"{row!r}, not a number")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)) or np.isnan(threshold):
            raise ValueError(f"relevant_from_frame: threshold must be a number, got {threshold!r}")
        keep = ratings >= threshold
    else:
        keep = pd.Series(True, index=frame.index)
    out: dict[Hashable, set] = {user: set() for user in frame[col_user].unique()}
    for user, items in frame.loc[keep].groupby(col_user, sort=False)[col_item]:
        out[user] = set(items)
    return out

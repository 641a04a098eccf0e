"""Evaluation metrics: ranking (top-k lists), beyond-accuracy (coverage, diversity, novelty) and classification.

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
- hit rate@k  = 1 if any rel_r = 1 for r <= k else 0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

Ranked = Mapping[Hashable, Sequence[Hashable]] | Sequence[Sequence[Hashable]]
Relevant = Mapping[Hashable, Collection[Hashable]] | Sequence[Collection[Hashable]]

# --------------------------------------------------------------------------------------------- input handling


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _as_mapping(per_user, name: str) -> Mapping:
    if isinstance(per_user, Mapping):
        return per_user
    if isinstance(per_user, (str, bytes)) or not isinstance(per_user, (Sequence, np.ndarray)):
        raise TypeError(f"{name} must be a dict user -> ids or a list of lists, got {type(per_user).__name__}")
    return dict(enumerate(per_user))


def _top_k(user, items, k: int) -> list:
    top = list(items[:k]) if k is not None else list(items)
    if len(set(top)) != len(top):
        seen: set = set()
        dup = next(item for item in top if item in seen or seen.add(item))
        raise ValueError(f"ranked list of user {user!r} repeats item {dup!r} in its top {k}")
    return top


def _pairs(ranked: Ranked, relevant: Relevant, k: int | None):
    """Yield ``(user, top-k list, relevant set)`` for every evaluated user (see the module docstring)."""
    ranked_map = _as_mapping(ranked, "ranked")
    relevant_map = _as_mapping(relevant, "relevant")
    if isinstance(ranked, Mapping) != isinstance(relevant, Mapping):
        raise TypeError("ranked and relevant must both be dicts or both be lists (users matched by position)")
    n = 0
    for user, rel in relevant_map.items():
        rel = set(rel)
        if not rel:
            continue
        n += 1
        yield user, _top_k(user, ranked_map.get(user, []), k), rel
    if n == 0:
        raise ValueError("no user has a relevant item: ranking metrics are undefined")


def _mean_over_users(ranked: Ranked, relevant: Relevant, k: int | None, per_user: Callable) -> float:
    return float(np.mean([per_user(top, rel) for _, top, rel in _pairs(ranked, relevant, k)]))


def _hits(top: Sequence, rel: Collection) -> np.ndarray:
    return np.fromiter((item in rel for item in top), dtype=bool, count=len(top))


# --------------------------------------------------------------------------------------------- ranking metrics


def precision_at_k(ranked: Ranked, relevant: Relevant, k: int) -> float:
    """Mean over users of ``hits@k / k``. Lists shorter than k are still divided by k (as in Spark/recommenders)."""
    k = _check_k(k)
    return _mean_over_users(ranked, relevant, k, lambda top, rel: _hits(top, rel).sum() / k)


def recall_at_k(ranked: Ranked, relevant: Relevant, k: int) -> float:
    """Mean over users of ``hits@k / |R|``: the share of the user's relevant items found in the top k."""
    k = _check_k(k)
    return _mean_over_users(ranked, relevant, k, lambda top, rel: _hits(top, rel).sum() / len(rel))


def f1_at_k(ranked: Ranked, relevant: Relevant, k: int) -> float:
    """Mean over users of ``2 P R / (P + R)`` with the user's precision@k and recall@k (0 when both are 0).

    Per-user F1, then averaged (recommenders has no F1@k; the harmonic mean of the *averaged* P and R differs).
    """
    k = _check_k(k)

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
    k = _check_k(k)
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
    k = _check_k(k)

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
        k = _check_k(k)

    def rr(top, rel):
        hits = np.flatnonzero(_hits(top, rel))
        return 0.0 if len(hits) == 0 else 1.0 / (hits[0] + 1)

    return _mean_over_users(ranked, relevant, k, rr)


def hit_rate_at_k(ranked: Ranked, relevant: Relevant, k: int) -> float:
    """Share of users with at least one relevant item in their top k."""
    k = _check_k(k)
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


# --------------------------------------------------------------------------------------------- pandas adapters


def _require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
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
    _require_columns(frame, [user_col, item_col, score_col], "ranked_from_frame")
    if frame[score_col].isna().any():
        row = frame.index[frame[score_col].isna()][0]
        raise ValueError(f"ranked_from_frame: NaN in column {score_col!r} at row {row!r}")
    dup = frame.duplicated([user_col, item_col])
    if dup.any():
        user, item = frame.loc[dup, user_col].tolist()[0], frame.loc[dup, item_col].tolist()[0]
        raise ValueError(f"ranked_from_frame: pair ({user!r}, {item!r}) appears more than once")
    ordered = frame.sort_values([user_col, score_col, item_col], ascending=[True, False, True], kind="mergesort")
    if k is not None:
        ordered = ordered.groupby(user_col, sort=False).head(_check_k(k))
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
    _require_columns(frame, cols, "relevant_from_frame")
    if (rating_col is None) != (threshold is None):
        raise ValueError("relevant_from_frame: give both rating_col and threshold, or neither")
    keep = frame[rating_col] >= threshold if rating_col else pd.Series(True, index=frame.index)
    out: dict[Hashable, set] = {user: set() for user in frame[user_col].unique()}
    for user, items in frame.loc[keep].groupby(user_col, sort=False)[item_col]:
        out[user] = set(items)
    return out


def item_popularity(
    frame: pd.DataFrame,
    user_col: str = "user_id",
    item_col: str = "item_id",
    items: Iterable[Hashable] | None = None,
    smoothing: float = 0.0,
) -> dict:
    """``p(i) = (n_i + smoothing) / (n_users + smoothing)``: the share of ``frame``'s distinct users who interacted
    with item ``i`` (``n_i`` of them), for :func:`novelty`.

    ``items`` lists the whole catalogue (items absent from ``frame`` get ``n_i = 0``); with ``smoothing=0``
    (recommenders' definition) they get ``p = 0`` and an infinite novelty, ``smoothing=1`` keeps it finite.
    """
    _require_columns(frame, [user_col, item_col], "item_popularity")
    if smoothing < 0:
        raise ValueError(f"item_popularity: smoothing must be >= 0, got {smoothing}")
    n_users = frame[user_col].nunique()
    counts = frame.drop_duplicates([user_col, item_col]).groupby(item_col).size()
    if items is not None:
        catalogue = pd.Index(list(items))
        outside = counts.index.difference(catalogue)
        if len(outside):
            raise ValueError(f"item_popularity: item {outside.tolist()[0]!r} of the frame is not in items")
        counts = counts.reindex(catalogue, fill_value=0)
    return ((counts + smoothing) / (n_users + smoothing)).to_dict()


# --------------------------------------------------------------------------------------------- beyond accuracy


def _all_top_k(ranked: Ranked, k: int) -> dict:
    return {user: _top_k(user, items, k) for user, items in _as_mapping(ranked, "ranked").items()}


def catalog_coverage(ranked: Ranked, catalog: int | Collection[Hashable], k: int) -> float:
    """Share of the catalogue that appears in at least one user's top k: ``|union of top-k lists| / |catalog|``.

    ``catalog`` is the collection of item ids (checked: a recommended id outside it is an error) or its size.
    """
    k = _check_k(k)
    shown = set().union(*_all_top_k(ranked, k).values())
    if isinstance(catalog, (int, np.integer)):
        n = int(catalog)
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
    k = _check_k(k)
    vectors = np.asarray(item_vectors, dtype=np.float64)
    if vectors.ndim != 2:
        raise ValueError(f"intra_list_diversity: item_vectors must be (n_items, dim), got shape {vectors.shape}")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
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

    ``p(i)`` is the share of users who interacted with ``i`` in training (:func:`item_popularity`), as in
    recommenders' ``novelty`` (which weights each item's novelty by how often it is recommended: the same mean).
    An item with no popularity (never seen in training) has infinite novelty and is an error.
    """
    k = _check_k(k)
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


def auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve = P(score of a random positive > score of a random negative), ties counting 1/2.

    Computed from ranks (Mann-Whitney U): ``(sum of positive ranks - n_pos (n_pos + 1) / 2) / (n_pos n_neg)``,
    with average ranks for ties. Global over all pairs given, like recommenders' ``auc`` (not per user).
    """
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"auc: labels {y.shape} and scores {s.shape} must be 1-D of the same length")
    if not np.isin(y, [0, 1]).all():
        raise ValueError(f"auc: labels must be 0/1, got {np.unique(y)[:5]}")
    if np.isnan(s).any():
        raise ValueError(f"auc: NaN score at position {int(np.flatnonzero(np.isnan(s))[0])}")
    y = y.astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"auc: need both classes, got {n_pos} positives and {n_neg} negatives")
    ranks = pd.Series(s).rank(method="average").to_numpy()
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


# --------------------------------------------------------------------------------------------- classification


def _labels_pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.shape != p.shape or t.ndim != 1:
        raise ValueError(f"y_true {t.shape} and y_pred {p.shape} must be 1-D of the same length")
    if len(t) == 0:
        raise ValueError("no examples")
    return t, p


def accuracy(y_true: Sequence, y_pred: Sequence) -> float:
    """Share of examples whose predicted label equals the true label."""
    t, p = _labels_pair(y_true, y_pred)
    return float((t == p).mean())


def confusion_matrix(y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None) -> pd.DataFrame:
    """Counts ``C[t, p]`` of examples with true label ``t`` (rows) and predicted label ``p`` (columns)."""
    t, p = _labels_pair(y_true, y_pred)
    labels = list(labels) if labels is not None else sorted(set(np.unique(t).tolist()) | set(np.unique(p).tolist()))
    index = pd.Index(labels)
    if not index.is_unique:
        raise ValueError(f"confusion_matrix: labels repeat: {labels}")
    codes = []
    for values in (t, p):
        code = index.get_indexer(values).astype(np.int64)  # -1 for a label not in labels
        if (code < 0).any():
            raise ValueError(f"confusion_matrix: label {values[code < 0].tolist()[0]!r} is not in labels {labels}")
        codes.append(code)
    n = len(labels)
    counts = np.bincount(codes[0] * n + codes[1], minlength=n * n).reshape(n, n)
    return pd.DataFrame(counts, index=pd.Index(labels, name="true"), columns=pd.Index(labels, name="predicted"))


def classification_report(y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None) -> pd.DataFrame:
    """Per class: ``precision = TP / (TP + FP)``, ``recall = TP / (TP + FN)``, ``f1 = 2PR / (P + R)``, support;
    then a ``macro`` row (unweighted mean over classes) and a ``micro`` row (pooled counts; equals accuracy when
    every label is listed). A ratio with a zero denominator is 0 (sklearn's ``zero_division=0``)."""
    frame = confusion_matrix(y_true, y_pred, labels)
    cm = frame.to_numpy()
    tp = np.diag(cm).astype(np.float64)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)

    def ratio(a, b):
        return np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b > 0)

    prec, rec = ratio(tp, predicted), ratio(tp, support)
    f1 = ratio(2 * prec * rec, prec + rec)
    micro_p, micro_r = float(ratio(tp.sum(), predicted.sum())), float(ratio(tp.sum(), support.sum()))
    micro_f1 = 2 * micro_p * micro_r / (micro_p + micro_r) if micro_p + micro_r > 0 else 0.0
    n = support.sum()
    return pd.DataFrame(
        {
            "precision": [*prec, prec.mean(), micro_p],
            "recall": [*rec, rec.mean(), micro_r],
            "f1": [*f1, f1.mean(), micro_f1],
            "support": [*support.tolist(), int(n), int(n)],
        },
        index=pd.Index([*frame.index, "macro", "micro"], dtype=object),
    )


def _averaged(column: str, y_true, y_pred, average: str | None, labels, pos_label):
    report = classification_report(y_true, y_pred, labels)
    if average is None:
        return report[column].iloc[:-2]
    if average in ("macro", "micro"):
        return float(report.loc[average, column])
    if average == "binary":
        if pos_label not in report.index[:-2]:
            raise ValueError(f"pos_label {pos_label!r} is not among the labels {list(report.index[:-2])}")
        return float(report.loc[pos_label, column])
    raise ValueError(f"average must be 'macro', 'micro', 'binary' or None, got {average!r}")


def precision_score(y_true, y_pred, average: str | None = "macro", labels=None, pos_label=1):
    """Precision ``TP / (TP + FP)``: ``average`` is ``'macro'``, ``'micro'``, ``'binary'`` (class ``pos_label``)
    or ``None`` (a Series per class). See :func:`classification_report`."""
    return _averaged("precision", y_true, y_pred, average, labels, pos_label)


def recall_score(y_true, y_pred, average: str | None = "macro", labels=None, pos_label=1):
    """Recall ``TP / (TP + FN)``, averaged as in :func:`precision_score`."""
    return _averaged("recall", y_true, y_pred, average, labels, pos_label)


def f1_score(y_true, y_pred, average: str | None = "macro", labels=None, pos_label=1):
    """F1 ``2PR / (P + R)`` per class; macro-F1 is the mean of the per-class F1 (not F1 of the mean P and R)."""
    return _averaged("f1", y_true, y_pred, average, labels, pos_label)

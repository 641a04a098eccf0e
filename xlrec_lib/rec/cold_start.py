"""Chapter 10's settings where an ID cannot help: a new domain, cold items, items seen only a few times.

- ``genre_domain_split``: the items with any of the ``target`` genres form a new domain; every interaction with
  one of them leaves training (``source``) and becomes the test (``target``), ranked among target items only.
- ``staged_items`` and ``reveal_first``: items drawn for stages of 0, 1, 2, ... training interactions, and their
  earliest test interactions moved into training accordingly (the gate's curve).
- ``interaction_counts``: training interactions per item, in ``item_ids`` order.
- ``evaluate``: nDCG@k and recall@k of a score matrix over some candidate columns, ties broken at random.
- ``evaluate_many``: the same for several named score matrices, one row each; ``paired_gap``: the mean per-user
  nDCG@k of one ranking minus another's, with a paired bootstrap interval.
- ``random_ndcg``: the expected nDCG@k of a uniformly random ranking of the candidates, the chance line of
  every table. With ``R`` relevant items among ``N`` candidates each rank holds a relevant one with probability
  ``R / N``, so ``E[DCG@k] = (R / N) * sum_{r<=k} 1 / log(1 + r)``, divided by the ideal ``IDCG@k`` (the same
  binary-gain nDCG as :func:`xlrec_lib.rec.ranking_metrics.ndcg_at_k`); ``random_recall``, its recall@k.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import torch

from xlrec_lib.intervals import paired_difference
from xlrec_lib.rec import ranking_metrics


def _require(frame: pd.DataFrame, cols: Iterable[str], what: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} has no column(s) {missing}; columns are {list(frame.columns)}")


def domain_items(items: pd.DataFrame, target: Iterable[str]) -> np.ndarray:
    """Sorted ids of the items with at least one genre in ``target`` (``items.genres``: a list per row).

    A genre of ``target`` that no item has is a ``ValueError`` listing the genres that exist (a typo would
    otherwise give an empty domain)."""
    _require(items, ["item_id", "genres"], "items")
    if isinstance(target, str):
        raise ValueError(f"domain_items: target must be a collection of genres, got the string {target!r}")
    target = set(target)
    known = {g for genres in items["genres"] for g in genres}
    unknown = sorted(target - known)
    if not target or unknown:
        raise ValueError(f"domain_items: genres {unknown or '(none given)'} are not among the item genres "
                         f"{sorted(known)}")
    hit = items["genres"].map(lambda genres: bool(target.intersection(genres)))
    return np.sort(items.loc[hit, "item_id"].to_numpy())


def genre_domain_split(ratings: pd.DataFrame, items: pd.DataFrame, target: Iterable[str],
                       col_item: str = "item_id") -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """``(source, target_rows, target_items)``: the rows of items outside the target genres, the rows of items
    inside them, and the target items' ids. No row is lost: ``len(source) + len(target_rows) == len(ratings)``."""
    _require(ratings, [col_item], "ratings")
    target_items = domain_items(items, target)
    inside = ratings[col_item].isin(target_items)
    return ratings[~inside], ratings[inside], target_items


def reveal_first(train: pd.DataFrame, test: pd.DataFrame, counts: Mapping, col_item: str = "item_id",
                 col_timestamp: str = "timestamp") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Move the ``counts[item]`` earliest rows of each item of ``counts`` from ``test`` to ``train`` (all of them
    when an item has fewer; ties in time keep ``test``'s order). No row is lost or duplicated. ``test`` needs a
    unique index, and every item of ``counts`` must have a row in it."""
    _require(test, [col_item, col_timestamp], "test")
    if not test.index.is_unique:
        raise ValueError("reveal_first: test has repeated index labels; reset_index() it first")
    n = pd.Series(counts, dtype="int64")
    if (n < 0).any():
        item = n.index[[int(n.argmin())]].tolist()[0]  # a Python label: its repr reads as the id
        raise ValueError(f"reveal_first: counts must be >= 0, got {int(n.min())} for item {item!r}")
    missing = n.index[~n.index.isin(test[col_item])]
    if len(missing):
        raise ValueError(f"reveal_first: items {missing[:5].tolist()} have no row in test (ids are compared as "
                         "they are: 1 != '1')")
    chosen = test[test[col_item].isin(n.index)].sort_values(col_timestamp, kind="stable")
    rank = chosen.groupby(col_item).cumcount()
    moved = chosen.index[rank.to_numpy() < n.reindex(chosen[col_item]).to_numpy()]
    return pd.concat([train, test.loc[moved]]), test.drop(index=moved)


def staged_items(ratings: pd.DataFrame, stages, per_stage: int, min_rows: int, seed: int = 0,
                 col_item: str = "item_id") -> dict:
    """``{item: stage}``: ``per_stage`` items for each value of ``stages`` (a number of interactions to reveal),
    drawn without replacement with ``numpy.random.default_rng(seed)`` among the items with at least ``min_rows``
    rows, so that every item keeps rows to test after its stage's are revealed."""
    _require(ratings, [col_item], "ratings")
    stages = list(stages)
    if not stages or min(stages) < 0 or per_stage < 1:
        raise ValueError(f"staged_items needs at least one stage, stages >= 0 and per_stage >= 1; got {stages} "
                         f"and {per_stage}")
    rows = ratings[col_item].value_counts()
    pool = np.sort(rows.index[rows >= min_rows].to_numpy())
    if len(pool) < per_stage * len(stages):
        raise ValueError(f"staged_items: {len(pool)} items have >= {min_rows} rows, fewer than the "
                         f"{per_stage} x {len(stages)} asked for; lower per_stage or min_rows")
    if max(stages) >= min_rows:
        raise ValueError(f"staged_items: stage {max(stages)} would leave an item with {min_rows} rows nothing to test")
    drawn = np.random.default_rng(seed).choice(pool, size=per_stage * len(stages), replace=False)
    return {item: stages[i // per_stage] for i, item in enumerate(drawn.tolist())}


def interaction_counts(train: pd.DataFrame, item_ids, col_item: str = "item_id") -> np.ndarray:
    """``(len(item_ids),)`` int64: training rows per item, 0 for an item without any."""
    _require(train, [col_item], "train")
    counts = train[col_item].value_counts()
    return counts.reindex(np.asarray(item_ids)).fillna(0).to_numpy(np.int64)


def top_k_random_ties(scores: torch.Tensor, k: int, exclude: torch.Tensor | None = None,
                      seed: int = 0) -> np.ndarray:
    """``(n_users, k)`` column indices of each row's ``k`` highest scores; equal scores are ordered at random
    (``numpy.random.default_rng(seed)``), not by column, so a model that scores every candidate alike is at
    chance. ``exclude``: a bool ``(n_users, n_items)`` mask of a user's training items, ranked after every other
    column (a user with fewer than ``k`` other candidates gets some at the end of the list, where, being training
    items, they can never count as hits)."""
    s = scores.detach().cpu().double().numpy()
    if s.ndim != 2 or not 1 <= k <= s.shape[1]:
        raise ValueError(f"top_k_random_ties: scores must be (n_users, n_items) with 1 <= k <= n_items, got "
                         f"shape {s.shape} and k={k}")
    if exclude is not None and tuple(exclude.shape) != s.shape:
        raise ValueError(f"top_k_random_ties: exclude has shape {tuple(exclude.shape)}, the scores {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError("top_k_random_ties: the scores hold NaN or inf; fix the model before ranking")
    if exclude is not None:
        s = np.where(exclude.cpu().numpy(), -np.inf, s)
    tie = np.random.default_rng(seed).random(s.shape)
    return np.lexsort((tie, -s), axis=-1)[:, :k]


def evaluate(scores: torch.Tensor, relevant: Mapping, user_ids, candidate_ids, k: int = 10,
             exclude: torch.Tensor | None = None, seed: int = 0, per_user: bool = False) -> dict:
    """nDCG@k and recall@k of the ranking of ``candidate_ids`` (the columns of ``scores``, one row per entry of
    ``user_ids``) against ``relevant`` (user -> set of ids, all among the candidates), ties broken at random
    (``top_k_random_ties``). ``per_user=True`` gives ``{metric: {user: value}}`` instead of the means."""
    candidate_ids, user_ids = np.asarray(candidate_ids), np.asarray(user_ids)
    if tuple(scores.shape) != (len(user_ids), len(candidate_ids)):
        raise ValueError(f"evaluate: scores have shape {tuple(scores.shape)}, but there are {len(user_ids)} users "
                         f"and {len(candidate_ids)} candidates")
    known = set(candidate_ids.tolist())
    stray = next(((u, i) for u, r in relevant.items() for i in r if i not in known), None)
    if stray is not None:
        raise ValueError(f"evaluate: user {stray[0]!r}'s relevant item {stray[1]!r} is not a candidate, so no "
                         "ranking could find it; restrict relevant to the candidates")
    top = top_k_random_ties(scores, k, exclude, seed)
    ranked = {u: candidate_ids[row].tolist() for u, row in zip(user_ids.tolist(), top, strict=True)}
    return {f"nDCG@{k}": ranking_metrics.ndcg_at_k(ranked, relevant, k, per_user=per_user),
            f"recall@{k}": ranking_metrics.recall_at_k(ranked, relevant, k, per_user=per_user)}


def evaluate_many(scores: Mapping[str, torch.Tensor], relevant: Mapping, user_ids, candidate_ids, k: int = 10,
                  exclude: torch.Tensor | None = None, seed: int = 0) -> pd.DataFrame:
    """:func:`evaluate` for each named ``(n_users, n_candidates)`` score matrix: one row per name, the columns
    nDCG@k and recall@k."""
    return pd.DataFrame({name: evaluate(s, relevant, user_ids, candidate_ids, k, exclude, seed)
                         for name, s in scores.items()}).T


def paired_gap(scores_a: torch.Tensor, scores_b: torch.Tensor, relevant: Mapping, user_ids, candidate_ids,
               k: int = 10, exclude: torch.Tensor | None = None, seed: int = 0) -> tuple[float, float, float]:
    """Mean per-user nDCG@k of ranking ``a`` minus ranking ``b`` over the same users and candidates (each ranked by
    :func:`evaluate`, ties at its default seed), with a paired bootstrap 95% interval drawn with ``seed``:
    ``(mean, low, high)``, as :func:`xlrec_lib.intervals.paired_difference`."""
    metric = f"nDCG@{k}"
    a, b = (evaluate(s, relevant, user_ids, candidate_ids, k, exclude, per_user=True)[metric]
            for s in (scores_a, scores_b))
    users = sorted(a)
    return paired_difference([a[u] for u in users], [b[u] for u in users], seed=seed)


def _candidates_per_user(n_candidates, users) -> np.ndarray:
    if isinstance(n_candidates, Mapping):
        return np.array([n_candidates[u] for u in users], dtype=np.int64)
    return np.full(len(users), n_candidates, dtype=np.int64)


def random_ndcg(relevant: Mapping, n_candidates: int | Mapping, k: int) -> float:
    """Expected nDCG@k of a random ordering of the candidates, averaged over the users of ``relevant`` (user -> set
    of relevant candidate ids) who have at least one relevant item (as the metric functions do). ``n_candidates``:
    one number for everyone, or user -> number (e.g. the items a user has not met in training)."""
    users = [u for u, r in relevant.items() if len(set(r))]
    if not users:
        raise ValueError("random_ndcg: no user has a relevant item")
    sizes = np.array([len(set(relevant[u])) for u in users])
    n = _candidates_per_user(n_candidates, users)
    if k < 1 or (n < 1).any():
        raise ValueError(f"random_ndcg needs k >= 1 and at least one candidate per user, got k={k}")
    if (sizes > n).any():
        raise ValueError(f"random_ndcg: a user has {sizes[sizes > n][0]} relevant items but only "
                         f"{n[sizes > n][0]} candidates")
    cumulative = np.cumsum(1.0 / np.log1p(np.arange(1, k + 1)))
    shown = cumulative[np.minimum(k, n) - 1]
    ideal = cumulative[np.minimum(sizes, k) - 1]
    return float(np.mean(sizes / n * shown / ideal))


def random_recall(relevant: Mapping, n_candidates: int | Mapping, k: int) -> float:
    """Expected recall@k of a random ordering, averaged like :func:`random_ndcg`: each relevant item is in the top
    ``k`` with probability ``min(k, N) / N``, whatever the user's number of relevant items."""
    users = [u for u, r in relevant.items() if len(set(r))]
    if not users or k < 1:
        raise ValueError(f"random_recall needs a user with a relevant item and k >= 1, got k={k}")
    n = _candidates_per_user(n_candidates, users)
    if (n < 1).any():
        raise ValueError("random_recall: a user has no candidate")
    return float(np.mean(np.minimum(k, n) / n))


__all__ = ["domain_items", "genre_domain_split", "reveal_first", "staged_items", "interaction_counts",
           "top_k_random_ties", "evaluate", "random_ndcg", "random_recall"]

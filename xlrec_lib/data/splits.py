"""Train/test splits of an interaction table: stratified per user, leave-last-out, cold items.

``stratified_split`` follows Microsoft recommenders' ``python_stratified_split`` but for one rule: each row gets a
uniform random number from ``numpy.random.RandomState(seed)`` (same stream as ``np.random.seed(seed)`` then
``np.random.rand(n)``), rows are sorted by ``(user, random)``, each row's rank within its user becomes
``k / n_u`` (k = 1..n_u), and a row goes to train when ``k / n_u <= ratio``. So a user with ``n_u`` rows
puts ``floor(ratio * n_u)`` of them in train (up to float rounding of ``k / n_u``), e.g. 15 of 20 and 3 of 5
at 0.75. Recommenders keeps ``k <= round(ratio * n_u)`` instead (rounding half to even: 4 of 5), so with the same
seed the two order each user's rows alike but recommenders can keep one more row per user in train (on
MovieLens-100k at 0.75 its train part is larger). Recommenders also sets numpy's global seed and adds a column to
the caller's frame; we do neither.

All functions return new frames with the input's columns and index; no row is lost or duplicated:
``len(train) + len(test) == len(ratings)`` (after the optional ``min_rating`` filter).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd


def _require(frame: pd.DataFrame, *cols: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ValueError(f"ratings frame has no column(s) {missing}; columns are {list(frame.columns)}")


def _check_min_rating(min_rating) -> None:
    if isinstance(min_rating, bool) or not isinstance(min_rating, (int, np.integer)) or min_rating < 1:
        raise ValueError(f"min_rating must be an integer >= 1, got {min_rating!r}")


def _require_present(frame: pd.DataFrame, col: str, who: str) -> None:
    """``col`` exists and has no missing value (groupby would drop such rows silently), else a ValueError."""
    _require(frame, col)
    if frame[col].isna().any():
        row = frame.index[frame[col].isna()].tolist()[0]  # a Python label: its repr reads the same
        raise ValueError(f"{who}: column {col!r} is missing at row {row!r}; every row needs a {col}")


def min_rating_filter(ratings: pd.DataFrame, min_rating: int = 1, filter_by: str = "user",
                      col_user: str = "user_id", col_item: str = "item_id") -> pd.DataFrame:
    """Rows of users (or items) with at least ``min_rating`` rows (recommenders' ``min_rating_filter_pandas``)."""
    _check_min_rating(min_rating)
    if filter_by not in ("user", "item"):
        raise ValueError(f"filter_by must be 'user' or 'item', got {filter_by!r}")
    col = col_user if filter_by == "user" else col_item
    _require_present(ratings, col, "min_rating_filter")
    counts = ratings.groupby(col)[col].transform("size")
    return ratings[counts >= min_rating]


def stratified_split(ratings: pd.DataFrame, ratio: float | list[float] = 0.75, seed: int = 42,
                     col_user: str = "user_id", col_item: str = "item_id", min_rating: int = 1,
                     filter_by: str = "user") -> tuple[pd.DataFrame, ...]:
    """Per-user (or per-item) seeded random split; returns ``(train, test)`` for a float ``ratio``.

    A list ``ratio`` (normalised to sum 1) returns one frame per part, like recommenders. Rows come out sorted
    by user, then by their random number, as in recommenders; every row lands in exactly one part. A missing user
    (or item, with ``filter_by="item"``) is a ValueError.
    """
    _require(ratings, col_user, col_item)
    if col_user == col_item:
        raise ValueError(f"col_user and col_item both name column {col_user!r}; each must name a different column")
    if isinstance(ratio, float):
        if not 0 < ratio < 1:
            raise ValueError(f"ratio must lie strictly between 0 and 1, got {ratio}")
        ratios = [ratio, 1 - ratio]
    elif isinstance(ratio, list):
        if not ratio or any(isinstance(r, bool) or not isinstance(r, (int, float, np.number)) or not 0 < r < np.inf
                            for r in ratio):
            raise ValueError(f"every ratio must be a finite number > 0, got {ratio}")
        ratios = [r / float(np.sum(ratio)) for r in ratio]
    else:
        raise TypeError(f"ratio must be a float or a list of floats, got {type(ratio).__name__}")
    _check_min_rating(min_rating)
    if not ratings.index.is_unique:
        raise ValueError("stratified_split: the ratings' index has repeated labels (a row would be split twice); "
                         "call .reset_index(drop=True) first")
    by = col_user if filter_by == "user" else col_item
    _require_present(ratings, by, "stratified_split")
    data = min_rating_filter(ratings, min_rating, filter_by, col_user, col_item) if min_rating > 1 else ratings
    random = pd.Series(np.random.RandomState(seed).rand(len(data)), index=data.index, name="__random")
    order = pd.concat([data[by], random], axis=1).sort_values([by, "__random"]).index
    data = data.loc[order]
    groups = data.groupby(by, sort=False)
    rank = (groups.cumcount() + 1) / groups[by].transform("size")
    splits, prev = [], None
    bounds = np.cumsum(ratios)
    for part, threshold in enumerate(bounds):
        # the last part takes every rank above the one before it: the cumulative sum can end a rounding step below 1
        keep = rank <= threshold if part < len(bounds) - 1 else pd.Series(True, index=rank.index)
        if prev is not None:
            keep &= rank > prev
        splits.append(data[keep])
        prev = threshold
    if sum(map(len, splits)) != len(data):  # a broken bound would lose rows silently: never return that
        raise RuntimeError(f"stratified_split: the parts hold {sum(map(len, splits))} rows of {len(data)}")
    return tuple(splits)


def leave_last_out(ratings: pd.DataFrame, n: int = 1, col_user: str = "user_id",
                   col_timestamp: str = "timestamp") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each user's ``n`` latest rows go to test, the rest to train.

    Ties in time keep the input order (a stable sort), so the last-listed row counts as latest. A user with
    ``n`` rows or fewer stays whole in train (no test rows), so every test user also has training history.
    """
    _require(ratings, col_user, col_timestamp)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    if ratings[col_timestamp].isna().any():
        row = ratings.index[ratings[col_timestamp].isna()].tolist()[0]  # a Python label: its repr reads the same
        raise ValueError(f"leave_last_out: column {col_timestamp!r} is missing at row {row!r}; every row needs a time")
    data = ratings.sort_values([col_user, col_timestamp], kind="stable")
    groups = data.groupby(col_user, sort=False)
    from_end = groups.cumcount(ascending=False)  # 0 = latest
    size = groups[col_user].transform("size")
    test = (from_end < n) & (size > n)
    return data[~test], data[test]


def cold_item_split(ratings: pd.DataFrame, item_ratio: float | None = 0.1, items: Iterable | None = None,
                    seed: int = 42, col_item: str = "item_id") -> tuple[pd.DataFrame, pd.DataFrame]:
    """All rows of the held-out items go to test, so no test item is ever seen in training.

    Held-out items are ``items`` when given, else ``round(item_ratio * n_items)`` items drawn without
    replacement with ``numpy.random.default_rng(seed)`` from the sorted distinct item ids.
    """
    _require(ratings, col_item)
    distinct = np.sort(ratings[col_item].unique())
    if items is not None:
        if isinstance(items, (str, bytes)):
            raise ValueError(f"cold_item_split: items must be a collection of item ids, got the string {items!r:.40}")
        held = np.asarray(list(items))
        if len(held) == 0:
            raise ValueError("cold_item_split: items is empty; give at least one item to hold out")
        unknown = np.setdiff1d(held, distinct)
        if len(unknown):
            raise ValueError(f"cold_item_split: items {unknown[:5].tolist()} are not in column {col_item!r}")
    else:
        if item_ratio is None or not 0 < item_ratio < 1:
            raise ValueError(f"item_ratio must lie strictly between 0 and 1, got {item_ratio}")
        k = max(1, round(item_ratio * len(distinct)))
        held = np.random.default_rng(seed).choice(distinct, size=k, replace=False)
    test = ratings[col_item].isin(held)
    return ratings[~test], ratings[test]


__all__ = ["stratified_split", "leave_last_out", "cold_item_split", "min_rating_filter"]

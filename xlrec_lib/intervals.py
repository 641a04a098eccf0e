"""How sure is a measured number? Percentile bootstrap intervals for a mean over queries, and for the difference of
two systems measured on the same queries (paired: each resample draws the same queries for both), and the exact
(Clopper-Pearson) interval of a share of hits, which stays honest at 0 or 1 hits where a bootstrap collapses.

On 200 verses a P@1 of 0.30 is 60 hits; resampling the verses shows how much that number would move on another
200 verses like them. A difference whose interval contains 0 is not shown by the data. Ground floor: numpy (and
scipy's beta distribution for the exact interval).
"""

from __future__ import annotations

import numpy as np


def _as_values(values, name: str) -> np.ndarray:
    v = np.asarray(values, dtype=float).reshape(-1)
    if v.size == 0 or not np.isfinite(v).all():
        raise ValueError(f"{name}: give a non-empty array of finite per-query values")
    return v


def _is_count(x) -> bool:
    """Whether ``x`` is a Python or numpy integer (a bool is not a count)."""
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def bootstrap_mean(values, n_boot: int = 2000, level: float = 0.95, seed: int = 0,
                   clusters=None) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of ``values`` (one per query, e.g. 1 for a hit at rank 1, else 0) and the
    percentile bootstrap interval at ``level`` from ``n_boot`` resamples of the queries with replacement.

    ``clusters``: one label per value (the reader of each page view, say). Values of one cluster are correlated,
    and resampling them one by one would give too narrow an interval; with labels, each resample draws whole
    clusters with replacement and takes the mean of the values drawn (sum over count)."""
    v = _as_values(values, "bootstrap_mean")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if not _is_count(n_boot) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    rng = np.random.default_rng(seed)
    if clusters is None:
        means = v[rng.integers(len(v), size=(n_boot, len(v)))].mean(axis=1)
    else:
        means = _cluster_means(v, clusters, n_boot, rng)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(v.mean()), float(low), float(high)


def _cluster_means(v: np.ndarray, clusters, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    import pandas as pd  # only here: the rest of the module needs numpy alone

    labels = pd.Series(np.asarray(clusters, dtype=object).reshape(-1))  # objects: 1 and "1" stay two labels
    if len(labels) != len(v):
        raise ValueError(f"bootstrap_mean: {len(labels)} cluster labels for {len(v)} values; give one per value")
    if labels.isna().any():
        raise ValueError(f"bootstrap_mean: cluster label {int(np.flatnonzero(labels.isna())[0])} is missing")
    if len({isinstance(x, str) for x in labels}) > 1:
        raise ValueError("bootstrap_mean: cluster labels must be of one kind (all numbers or all strings)")
    codes, uniques = pd.factorize(labels, sort=True)
    if len(uniques) < 2:
        raise ValueError("bootstrap_mean: one cluster cannot be resampled into an interval; give two or more")
    sums, counts = np.bincount(codes, weights=v), np.bincount(codes)
    means = []
    for start in range(0, n_boot, 100):  # blocks of resamples: memory stays (100, clusters)
        draws = rng.integers(len(sums), size=(min(100, n_boot - start), len(sums)))
        means.append(sums[draws].sum(1) / counts[draws].sum(1))
    return np.concatenate(means)


def paired_difference(a, b, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """``(mean(a) - mean(b), low, high)`` for two systems scored on the same queries (``a[j]``, ``b[j]`` belong to
    query j), with a paired percentile bootstrap interval."""
    a, b = _as_values(a, "paired_difference a"), _as_values(b, "paired_difference b")
    if a.shape != b.shape:
        raise ValueError(f"paired_difference: a and b must score the same queries, got {a.shape} and {b.shape}")
    return bootstrap_mean(a - b, n_boot=n_boot, level=level, seed=seed)


def proportion_interval(hits: int, n: int, level: float = 0.95) -> tuple[float, float, float]:
    """``(hits / n, low, high)`` with the exact Clopper-Pearson interval at ``level``: the shares whose binomial
    tails still allow ``hits`` of ``n``. 0 of 878 gives ``[0, 0.42%]``, not the ``[0, 0]`` of a bootstrap, which
    can only resample the hits it saw."""
    from scipy.stats import beta

    if not (_is_count(hits) and _is_count(n) and 0 <= hits <= n and n > 0):
        raise ValueError(f"proportion_interval: need integers 0 <= hits <= n and n > 0, got hits={hits}, n={n}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    tail = (1 - level) / 2
    low = 0.0 if hits == 0 else float(beta.ppf(tail, hits, n - hits + 1))
    high = 1.0 if hits == n else float(beta.ppf(1 - tail, hits + 1, n - hits))
    return hits / n, low, high


def accuracy_standard_error(accuracy: float, n: int) -> float:
    """One standard error of an accuracy measured on ``n`` independent examples: ``sqrt(p (1 - p) / n)``, the
    binomial standard deviation of the share ``p``. 90% on 300 test reviews: 0.0173, about 1.7 points; a difference
    of two such accuracies, were their errors independent, has ``sqrt(2)`` times that."""
    if not _is_count(n) or n < 1:
        raise ValueError(f"accuracy_standard_error: n={n!r}, expected a positive number of examples")
    if not 0.0 <= float(accuracy) <= 1.0:  # also refuses NaN
        raise ValueError(f"accuracy_standard_error: accuracy={accuracy!r}, expected a share in [0, 1]")
    return float(np.sqrt(accuracy * (1.0 - accuracy) / n))


__all__ = ["bootstrap_mean", "paired_difference", "proportion_interval", "accuracy_standard_error"]

"""Grid search on validation, the evaluation report, and the synthetic power-law matrices."""

import numpy as np
import pytest
import scipy.sparse as sp

from xlrec_lib.rec import ranking_metrics
from xlrec_lib.rec.cf import EASE, Popularity
from xlrec_lib.rec.cf.evaluation import best_setting, evaluate, grid_search, ranked_lists
from xlrec_lib.rec.cf.synthetic import power_law_matrix


def _blocks():
    rng = np.random.default_rng(0)
    x = np.zeros((20, 10), dtype=np.float32)
    x[:10, :5] = rng.random((10, 5)) < 0.6
    x[10:, 5:] = rng.random((10, 5)) < 0.6
    return x


def test_grid_search_ranks_settings_by_validation_ndcg():
    x = _blocks()
    train = x.copy()
    relevant = {}
    for u in range(20):  # hold out one interaction per user with two or more
        seen = np.flatnonzero(x[u])
        if len(seen) >= 2:
            train[u, seen[0]] = 0
            relevant[u] = {int(seen[0])}
    grid = [{"lam": 1000.0}, {"lam": 0.5}]
    table = grid_search(EASE, grid, sp.csr_matrix(train), relevant, list(range(20)), list(range(10)), k=2,
                        progress=False)
    expected = {s["lam"]: ranking_metrics.ndcg_at_k(
        ranked_lists(EASE(**s).fit(sp.csr_matrix(train)), 2, list(range(20)), list(range(10))), relevant, 2)
        for s in grid}
    assert table["ndcg@2"].tolist() == sorted(expected.values(), reverse=True)
    assert best_setting(table, grid) == max(grid, key=lambda s: expected[s["lam"]])
    with pytest.raises(ValueError, match="empty"):
        grid_search(EASE, [], sp.csr_matrix(train), relevant, list(range(20)), list(range(10)))


def test_evaluate_reports_ranking_and_beyond_accuracy():
    x = sp.csr_matrix(_blocks())
    ids = [f"i{j}" for j in range(10)]
    ranked = ranked_lists(Popularity().fit(x), 3, list(range(20)), ids)
    relevant = {u: {"i9"} for u in range(20)}
    popularity = {i: (c + 1) / 21 for i, c in zip(ids, np.asarray(x.sum(0)).ravel(), strict=True)}
    report = evaluate(ranked, relevant, 3, ids, np.eye(10), popularity)
    assert report["NDCG@3"] == pytest.approx(ranking_metrics.ndcg_at_k(ranked, relevant, 3))
    assert set(ranking_metrics.ranking_report(ranked, relevant, 3)) < set(report)
    assert report["diversity@3"] == pytest.approx(1.0)  # orthogonal item vectors
    assert 0 < report["coverage@3"] <= 1 and report["novelty@3"] > 0


def test_power_law_matrix_size_and_skew():
    x = power_law_matrix(500, 300, 8000, exponent=1.0, seed=0)
    assert x.shape == (500, 300) and x.nnz == 8000 and set(np.unique(x.data)) == {1.0}
    per_item = np.asarray(x.sum(0)).ravel()
    assert per_item[:30].sum() > per_item[-30:].sum() * 5  # the first items are the popular ones
    assert (power_law_matrix(500, 300, 8000, seed=0) != power_law_matrix(500, 300, 8000, seed=0)).nnz == 0
    with pytest.raises(ValueError, match="nnz"):
        power_law_matrix(10, 10, 90)

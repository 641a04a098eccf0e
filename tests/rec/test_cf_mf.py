"""Explicit MF: the per-row ridge solve against least squares, and a rank-2-plus-biases matrix recovered."""

import numpy as np
import pytest
import scipy.sparse as sp

from xlrec_lib.rec.cf import ExplicitMF
from xlrec_lib.rec.cf.mf import ridge_rows


def test_ridge_rows_match_stacked_least_squares():
    rng = np.random.default_rng(0)
    r = sp.csr_matrix(np.where(rng.random((5, 7)) < 0.5, rng.integers(1, 6, (5, 7)), 0).astype(np.float32))
    design, offset, shift, reg = rng.normal(size=(7, 3)), rng.normal(size=7), 3.2, 0.7
    got = ridge_rows(r, design, offset, shift, reg)
    for u in range(5):
        cols = r.indices[r.indptr[u]:r.indptr[u + 1]]
        a = np.vstack([design[cols], np.sqrt(reg) * np.eye(3)])
        t = np.concatenate([r.data[r.indptr[u]:r.indptr[u + 1]] - shift - offset[cols], np.zeros(3)])
        np.testing.assert_allclose(got[u], np.linalg.lstsq(a, t, rcond=None)[0], rtol=1e-9, atol=1e-12)


def test_recovers_low_rank_ratings_and_vectors_give_predictions():
    rng = np.random.default_rng(1)
    truth = 3 + rng.normal(0, 0.3, (25, 1)) + rng.normal(0, 0.3, (1, 20)) + rng.normal(0, 0.5, (25, 2)) @ rng.normal(
        0, 0.5, (2, 20))
    observed = rng.random((25, 20)) < 0.8
    r = sp.csr_matrix(np.where(observed, truth, 0).astype(np.float32))
    model = ExplicitMF(factors=2, reg=0.01, iterations=30).fit(r)
    users, items = np.nonzero(~observed)
    rmse = np.sqrt(np.mean((model.predict(users, items) - truth[users, items]) ** 2))
    assert rmse < 0.1  # held-out entries: the spread of the ratings is about 0.6
    np.testing.assert_allclose(model.scores().numpy()[users, items], model.predict(users, items), rtol=1e-5)
    with pytest.raises(ValueError, match="reg"):
        ExplicitMF(reg=-1)

"""EASE's closed form against a gradient solve of its constrained objective and against per-column ridge."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from xlrec_lib.rec.cf import EASE
from xlrec_lib.rec.cf.ease import ease_weights


def _toy(seed=0, n_users=12, n_items=6):
    rng = np.random.default_rng(seed)
    return (rng.random((n_users, n_items)) < 0.4).astype(np.float64)


def test_closed_form_matches_gradient_solve():
    x, lam = _toy(), 3.0
    b_closed = ease_weights(x.T @ x, lam)
    xt = torch.from_numpy(x)
    off_diag = 1 - torch.eye(x.shape[1], dtype=torch.float64)
    b = torch.zeros(x.shape[1], x.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([b], lr=1, max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-15,
                            line_search_fn="strong_wolfe")

    def loss():
        opt.zero_grad()
        w = b * off_diag  # diag(B) = 0 enforced by construction
        value = ((xt - xt @ w) ** 2).sum() + lam * (w**2).sum()
        value.backward()
        return value

    for _ in range(5):
        opt.step(loss)
    np.testing.assert_allclose((b * off_diag).detach().numpy(), b_closed, atol=1e-7)


def test_closed_form_matches_ridge_on_the_other_items():
    x, lam = _toy(1), 2.0
    b = ease_weights(x.T @ x, lam)
    for j in range(x.shape[1]):
        others = [i for i in range(x.shape[1]) if i != j]
        a = x[:, others]
        ridge = np.linalg.solve(a.T @ a + lam * np.eye(len(others)), a.T @ x[:, j])
        np.testing.assert_allclose(b[others, j], ridge, rtol=1e-10, atol=1e-12)
        assert b[j, j] == 0


def test_model_scores_are_x_times_b_and_binarised():
    x = _toy(2)
    counts = x * 3  # repeated plays: EASE uses the binary matrix
    model = EASE(lam=4.0).fit(sp.csr_matrix(counts))
    np.testing.assert_allclose(model.scores().numpy(), x @ ease_weights(x.T @ x, 4.0), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="lam"):
        EASE(lam=0)

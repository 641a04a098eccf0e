"""Implicit ALS: one conjugate-gradient half-step against the weighted least-squares solution; the fitted model
lowers the objective and ranks a planted structure."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from xlrec_lib.rec.cf import ImplicitALS, als
from xlrec_lib.rec.cf.als import confidence_step


def _toy(seed=0):
    rng = np.random.default_rng(seed)
    r = (rng.random((7, 9)) < 0.35) * rng.integers(1, 4, (7, 9))
    r[0, 0] = 2  # no empty row
    return sp.csr_matrix(r.astype(np.float32))


def _least_squares_rows(r, y, reg, alpha):
    """Each row: argmin_x sum_i c_ui (p_ui - x.y_i)^2 + reg |x|^2 as one stacked least-squares problem."""
    dense = r.toarray().astype(np.float64)
    out = []
    for row in dense:
        sqrt_c = np.sqrt(1 + alpha * row)
        a = np.vstack([sqrt_c[:, None] * y, np.sqrt(reg) * np.eye(y.shape[1])])
        target = np.concatenate([sqrt_c * (row > 0), np.zeros(y.shape[1])])
        out.append(np.linalg.lstsq(a, target, rcond=None)[0])
    return np.array(out)


@pytest.mark.parametrize("reg, alpha", [(0.1, 2.0), (3.0, 0.0), (1.0, 10.0)])
def test_half_step_with_f_cg_steps_is_the_least_squares_solution(reg, alpha):
    r = _toy()
    g = torch.Generator().manual_seed(1)
    y = torch.rand(9, 4, generator=g, dtype=torch.float64)
    x0 = torch.rand(7, 4, generator=g, dtype=torch.float64)
    x = confidence_step(r, y, x0, reg, alpha, cg_steps=4)  # CG is exact after f steps
    np.testing.assert_allclose(x.numpy(), _least_squares_rows(r, y.numpy(), reg, alpha), rtol=1e-7, atol=1e-9)
    # fewer steps: not exact yet, but closer than the start
    best = _least_squares_rows(r, y.numpy(), reg, alpha)
    one = confidence_step(r, y, x0, reg, alpha, cg_steps=1).numpy()
    assert np.abs(one - best).sum() < np.abs(x0.numpy() - best).sum()


def test_a_row_without_interactions_gets_zero_factors():
    r = _toy().tolil()
    r[3, :] = 0
    y = torch.rand(9, 4, dtype=torch.float64)
    x = confidence_step(r.tocsr(), y, torch.rand(7, 4, dtype=torch.float64), 1.0, 2.0)
    assert torch.all(x[3] == 0) and torch.all(x[2] != 0)


def _objective(model, r):
    p = (r.toarray() > 0).astype(np.float64)
    c = 1 + model.alpha * r.toarray()
    x, y = model.user_factors_.double().numpy(), model.item_factors_.double().numpy()
    return (c * (p - x @ y.T) ** 2).sum() + model.reg * ((x**2).sum() + (y**2).sum())


def test_more_iterations_lower_the_objective():
    r = _toy(3)
    losses = [_objective(ImplicitALS(factors=3, reg=0.5, alpha=2.0, iterations=n, device="cpu").fit(r), r)
              for n in (1, 3, 10)]
    assert losses[0] > losses[1] > losses[2]


def test_planted_blocks_are_recovered():
    rng = np.random.default_rng(0)
    x = np.zeros((40, 20), dtype=np.float32)
    x[:20, :10] = rng.random((20, 10)) < 0.6
    x[20:, 10:] = rng.random((20, 10)) < 0.6
    model = ImplicitALS(factors=2, reg=1.0, alpha=5.0, iterations=10, device="cpu").fit(sp.csr_matrix(x))
    scores = model.scores().numpy()
    block = np.zeros_like(x, dtype=bool)
    block[:20, :10] = block[20:, 10:] = True
    for u in range(40):  # every unseen item of the user's own block outscores every item of the other block
        own, other = scores[u, block[u] & (x[u] == 0)], scores[u, ~block[u]]
        assert own.min() > other.max() + 0.1, u


def test_bad_parameters_raise():
    with pytest.raises(ValueError, match="factors"):
        ImplicitALS(factors=0)
    with pytest.raises(ValueError, match="alpha"):
        ImplicitALS(alpha=-1)


def test_als_settings_are_chapter_8s_grids():
    quick, full = als.als_settings(True, seed=3), als.als_settings(False)
    assert [(s["reg"], s["alpha"]) for s in quick] == [(10.0, 0.0), (10.0, 2.0), (30.0, 0.0), (30.0, 2.0)]
    assert len(full) == 16 and {(s["reg"], s["alpha"]) for s in quick} <= {(s["reg"], s["alpha"]) for s in full}
    assert all(s["factors"] == 64 and s["seed"] == 3 for s in quick)
    model = als.ImplicitALS(**full[-1])
    assert (model.reg, model.alpha, model.factors) == (100.0, 10.0, 64)

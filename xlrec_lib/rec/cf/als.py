"""Implicit ALS (Hu, Koren and Volinsky 2008): matrix factorisation of implicit feedback with confidence weights.

Every (user, item) pair counts. ``p_ui = 1`` when the user interacted (``r_ui > 0``), else 0, with confidence
``c_ui = 1 + alpha r_ui`` (1 for the unobserved pairs). With user factors ``X`` (n_users, f) and item factors
``Y`` (n_items, f):

    min_{X, Y}  sum_{u, i} c_ui (p_ui - x_u . y_i)^2  +  reg (sum_u ||x_u||^2 + sum_i ||y_i||^2)

Fixing ``Y``, each user's factors solve a ridge regression over all items (and symmetrically for items):

    (Y^T C_u Y + reg I) x_u = Y^T C_u p_u,   Y^T C_u Y = Y^T Y + sum_{i : r_ui > 0} (c_ui - 1) y_i y_i^T

so the dense part ``Y^T Y`` is computed once per half-step and each user costs only its own interactions
(Hu et al.'s trick). We do not form the ``f x f`` systems: a few conjugate-gradient steps, started from the
current factors (Takacs, Pilaszy and Tikk 2011, as ``implicit`` does), only need the product
``A_u v = v Y^T Y + reg v + sum_i (c_ui - 1) (y_i . v) y_i``, which runs for every user at once as two sparse
products over the stored interactions. With as many steps as
factors, CG is exact (in exact arithmetic).

Note on ``implicit``'s parameterisation: its ``alpha`` multiplies the stored values and uses them as ``c_ui`` itself,
so on a binary matrix ``implicit``'s ``alpha = a`` is our ``alpha = a - 1``; its ``regularization`` is our ``reg``.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch

from xlrec_lib.rec.cf.base import Recommender, check_train, torch_threads


def sparse_csr(r: sp.csr_matrix, values: np.ndarray | torch.Tensor, device) -> torch.Tensor:
    """A torch CSR tensor with the pattern of ``r`` and the given stored ``values``."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(torch.from_numpy(r.indptr.astype(np.int64)).to(device),
                                       torch.from_numpy(r.indices.astype(np.int64)).to(device),
                                       torch.as_tensor(values, device=device), size=r.shape, check_invariants=False)


def sparse_dense(r: sp.csr_matrix, values: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``R y`` for the matrix with the pattern of ``r`` and stored ``values``, ``(n_rows, n_cols) @ (n_cols, f)``.
    On the CPU through scipy (measured several times faster than torch's CSR product here), else torch."""
    if y.device.type == "cpu":
        m = sp.csr_matrix((values.numpy(), r.indices, r.indptr), shape=r.shape)
        return torch.from_numpy(m @ y.numpy())
    return sparse_csr(r, values, y.device) @ y


def confidence_step(r: sp.csr_matrix, y: torch.Tensor, x: torch.Tensor, reg: float, alpha: float,
                    cg_steps: int = 3) -> torch.Tensor:
    """One half-step: new ``x`` (n_rows, f) given ``y`` (n_cols, f) for ``r`` (n_rows, n_cols) CSR, by ``cg_steps``
    conjugate-gradient steps on every row's system at once (see the module docstring), started from ``x``. A row
    without any interaction gets its exact solution, 0 (CG would only approach it).

    The product ``A v`` costs one sampled matrix product (``v_u . y_i`` at the stored pairs only) and one sparse
    times dense product: no ``(nnz, f)`` array is ever formed."""
    f = y.shape[1]
    yty = y.T @ y + reg * torch.eye(f, dtype=y.dtype, device=y.device)
    w = alpha * torch.from_numpy(r.data).to(y)  # c_ui - 1 at the stored pairs
    pattern = sparse_csr(r, w, y.device)
    yt = y.T.contiguous()

    def apply_a(v: torch.Tensor) -> torch.Tensor:
        dots = torch.sparse.sampled_addmm(pattern, v, yt, beta=0.0).values()  # v_u . y_i at the stored pairs
        return v @ yty + sparse_dense(r, w * dots, y)

    xs = x.clone()
    res = sparse_dense(r, 1 + w, y) - apply_a(xs)  # Y^T C_u p_u - A_u x_u
    p = res.clone()
    rs = (res * res).sum(1)
    for _ in range(cg_steps):
        ap = apply_a(p)
        step = rs / (p * ap).sum(1).clamp_min(1e-30)
        xs += step[:, None] * p
        res -= step[:, None] * ap
        rs_new = (res * res).sum(1)
        p = res + (rs_new / rs.clamp_min(1e-30))[:, None] * p
        rs = rs_new
    xs[torch.from_numpy(np.diff(r.indptr) == 0).to(xs.device)] = 0  # no interaction: the exact solution is 0
    return xs


def als_settings(quick: bool, seed: int = 0) -> list[dict]:
    """The implicit-ALS settings chapter 8 chooses among on validation, one ``ImplicitALS(**setting)`` each (64
    factors): reg (10, 30) x alpha (0, 2) in quick mode, reg (3, 10, 30, 100) x alpha (0, 2, 5, 10) in full mode.
    Later chapters search the quick grid in both modes (16 fits of the full grid would break their budgets)."""
    regs, alphas = ((10.0, 30.0), (0.0, 2.0)) if quick else ((3.0, 10.0, 30.0, 100.0), (0.0, 2.0, 5.0, 10.0))
    return [{"factors": 64, "reg": r, "alpha": a, "seed": seed} for r in regs for a in alphas]


class ImplicitALS(Recommender):
    """Hu-Koren-Volinsky ALS: ``min sum_ui (1 + alpha r_ui)(p_ui - x_u.y_i)^2 + reg (|X|^2 + |Y|^2)`` (module
    docstring), ``iterations`` rounds of a user half-step then an item half-step, ``cg_steps`` CG steps each.
    Factors start uniform in ``[0, 0.01)`` from ``seed``. ``vectors()`` = ``(X, Y)``; ``device`` defaults to cuda
    when present."""

    def __init__(self, factors: int = 64, reg: float = 0.01, alpha: float = 0.0, iterations: int = 15,
                 cg_steps: int = 3, seed: int = 0, device=None):
        if factors < 1 or iterations < 1 or cg_steps < 1 or reg < 0 or alpha < 0:
            raise ValueError(f"ImplicitALS: need factors, iterations, cg_steps >= 1 and reg, alpha >= 0; got factors="
                             f"{factors}, iterations={iterations}, cg_steps={cg_steps}, reg={reg}, alpha={alpha}")
        self.factors, self.reg, self.alpha = int(factors), float(reg), float(alpha)
        self.iterations, self.cg_steps, self.seed = int(iterations), int(cg_steps), seed
        self.device = device

    def fit(self, train) -> ImplicitALS:
        from xlrec_lib import config

        r = check_train(train)
        self.train_ = r
        rt = r.T.tocsr()
        device = config.device(self.device) if self.device else config.device()
        g = torch.Generator().manual_seed(self.seed)
        x = (torch.rand(r.shape[0], self.factors, generator=g) * 0.01).to(device)
        y = (torch.rand(r.shape[1], self.factors, generator=g) * 0.01).to(device)
        with torch_threads(1 if device.type == "cpu" else torch.get_num_threads()):
            for _ in range(self.iterations):
                x = confidence_step(r, y, x, self.reg, self.alpha, self.cg_steps)
                y = confidence_step(rt, x, y, self.reg, self.alpha, self.cg_steps)
        self.user_factors_, self.item_factors_ = x.cpu(), y.cpu()
        return self

    def vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        self._fitted()
        return self.user_factors_, self.item_factors_

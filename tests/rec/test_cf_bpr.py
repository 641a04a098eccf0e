"""BPR: the written-out gradient against autograd, negative sampling, and a planted ranking learned."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from xlrec_lib.rec.cf import BPR
from xlrec_lib.rec.cf.bpr import bpr_gradients, bpr_loss, sample_negatives


def test_gradients_match_autograd_with_repeated_indices():
    g = torch.Generator().manual_seed(0)
    p = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    q = torch.randn(6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, generator=g, dtype=torch.float64, requires_grad=True)
    u, i, j = torch.tensor([0, 1, 1, 3, 0]), torch.tensor([2, 2, 5, 0, 1]), torch.tensor([4, 3, 2, 5, 4])
    bpr_loss(p, q, b, u, i, j, reg=0.3).backward()
    with torch.no_grad():
        d_pu, d_qi, d_qj, d_bi, d_bj = bpr_gradients(p, q, b, u, i, j, reg=0.3)
        grad_p = torch.zeros_like(p).index_add_(0, u, d_pu)
        grad_q = torch.zeros_like(q).index_add_(0, i, d_qi).index_add_(0, j, d_qj)
        grad_b = torch.zeros_like(b).index_add_(0, i, d_bi).index_add_(0, j, d_bj)
    torch.testing.assert_close(grad_p, p.grad)
    torch.testing.assert_close(grad_q, q.grad)
    torch.testing.assert_close(grad_b, b.grad)


def test_negatives_are_never_seen_items():
    rng = np.random.default_rng(0)
    x = (rng.random((30, 8)) < 0.7).astype(np.int64)
    x[:, 0] = 0  # every user has an unseen item
    users, _ = np.nonzero(x)
    j = sample_negatives(np.repeat(users, 20), x.astype(bool), rng)
    assert not x[np.repeat(users, 20), j].any()
    assert len(set(j.tolist())) > 1
    x[3] = 1  # user 3 has every item: no negative exists
    with pytest.raises(ValueError, match="user row 3 has every item"):
        sample_negatives(np.array([0, 3]), x.astype(bool), rng)


def test_fit_learns_planted_blocks_and_is_deterministic():
    rng = np.random.default_rng(1)
    x = np.zeros((30, 16), dtype=np.float32)
    x[:15, :8] = rng.random((15, 8)) < 0.5
    x[15:, 8:] = rng.random((15, 8)) < 0.5
    model = BPR(factors=4, lr=0.1, reg=0.01, epochs=60, batch_size=16, seed=0, device="cpu").fit(sp.csr_matrix(x))
    scores = model.scores().numpy()
    own = np.where(np.arange(30)[:, None] < 15, np.arange(16)[None] < 8, np.arange(16)[None] >= 8)
    unseen = x == 0
    assert scores[own & unseen].mean() > scores[~own].mean() + 1.0
    again = BPR(factors=4, lr=0.1, reg=0.01, epochs=60, batch_size=16, seed=0, device="cpu").fit(sp.csr_matrix(x))
    torch.testing.assert_close(again.scores(), model.scores())


def test_bad_parameters_raise():
    with pytest.raises(ValueError, match="lr"):
        BPR(lr=0)

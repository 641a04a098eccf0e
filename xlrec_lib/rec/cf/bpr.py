"""BPR, Bayesian personalised ranking: learn to rank a user's items above the others, from sampled triples.

Rendle, Freudenthaler, Gantner and Schmidt-Thieme 2009, "BPR: Bayesian personalized ranking from implicit
feedback". Training data: (user, positive item, negative item) triples.

Score ``x_ui = p_u . q_i + b_i``. For a triple with ``i`` interacted and ``j`` not, ``x_uij = x_ui - x_uj``; the
objective (maximum a posteriori with Gaussian priors) is

    min  sum_{(u,i,j)} -ln sigma(x_uij) + (reg / 2) (||p_u||^2 + ||q_i||^2 + ||q_j||^2 + b_i^2 + b_j^2)

whose gradient per triple, with ``g = 1 - sigma(x_uij) = sigma(-x_uij)``, is

    d/dp_u = -g (q_i - q_j) + reg p_u,   d/dq_i = -g p_u + reg q_i,   d/dq_j = g p_u + reg q_j,
    d/db_i = -g + reg b_i,               d/db_j = g + reg b_j.

Training: each epoch visits every stored (u, i) once in a shuffled order, draws ``j`` uniformly among the items
``u`` does not have, and takes SGD steps ``theta -= lr * grad`` on mini-batches, summed per parameter with
``index_add_`` (the gradients above, written out, checked against autograd in the tests). torch, on cuda when
present.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from xlrec_lib.rec.cf.base import Recommender, check_train, torch_threads


def bpr_loss(p, q, b, u, i, j, reg: float) -> torch.Tensor:
    """Summed BPR loss of the triples ``(u[n], i[n], j[n])`` (module docstring), ``p`` (n_users, f), ``q`` (n_items,
    f), ``b`` (n_items,)."""
    x = (p[u] * (q[i] - q[j])).sum(1) + b[i] - b[j]
    penalty = (p[u] ** 2).sum() + (q[i] ** 2).sum() + (q[j] ** 2).sum() + (b[i] ** 2).sum() + (b[j] ** 2).sum()
    return -torch.nn.functional.logsigmoid(x).sum() + reg / 2 * penalty


def bpr_gradients(p, q, b, u, i, j, reg: float):
    """Gradients of :func:`bpr_loss` per triple, written out: ``(d_pu (n, f), d_qi (n, f), d_qj (n, f), d_bi (n,),
    d_bj (n,))``. Summed by index they are the gradient with respect to ``p``, ``q`` and ``b``."""
    pu, qi, qj = p[u], q[i], q[j]
    g = torch.sigmoid(-((pu * (qi - qj)).sum(1) + b[i] - b[j]))[:, None]
    return (-g * (qi - qj) + reg * pu, -g * pu + reg * qi, g * pu + reg * qj,
            -g[:, 0] + reg * b[i], g[:, 0] + reg * b[j])


def sample_negatives(users: np.ndarray, seen: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One item per entry of ``users`` drawn uniformly among the items that user does not have; ``seen`` is the
    ``(n_users, n_items)`` bool matrix of stored pairs. Redraws the draws that hit a stored pair until none does; a
    user who has every item has no negative (ValueError, where the redraws would never end)."""
    full = seen.all(axis=1)
    if full[users].any():
        raise ValueError(f"BPR: user row {int(users[full[users]][0])} has every item, so no negative can be drawn; "
                         "drop such users from the training matrix")
    j = rng.integers(0, seen.shape[1], len(users))
    hit = seen[users, j]
    while hit.any():
        j[hit] = rng.integers(0, seen.shape[1], int(hit.sum()))
        hit = seen[users, j]
    return j


class BPR(Recommender):
    """BPR-MF, ``min sum -ln sigma(x_ui - x_uj) + reg/2 ||theta||^2`` with ``x_ui = p_u.q_i + b_i`` (module
    docstring), plain SGD on mini-batches of ``batch_size`` triples for ``epochs`` epochs. ``vectors()`` =
    ``([p_u, 1], [q_i, b_i])``."""

    def __init__(self, factors: int = 64, lr: float = 0.05, reg: float = 0.01, epochs: int = 30,
                 batch_size: int = 1024, seed: int = 0, device=None, progress: bool = False):
        if factors < 1 or epochs < 1 or batch_size < 1 or lr <= 0 or reg < 0:
            raise ValueError(f"BPR: need factors, epochs, batch_size >= 1, lr > 0, reg >= 0; got factors={factors}, "
                             f"epochs={epochs}, batch_size={batch_size}, lr={lr}, reg={reg}")
        self.factors, self.lr, self.reg, self.epochs = int(factors), float(lr), float(reg), int(epochs)
        self.batch_size, self.seed, self.device, self.progress = int(batch_size), seed, device, progress

    def fit(self, train) -> BPR:
        from xlrec_lib import config

        x = check_train(train)
        self.train_ = x
        n_users, n_items = x.shape
        device = config.device(self.device) if self.device else config.device()
        g = torch.Generator().manual_seed(self.seed)
        p = (torch.randn(n_users, self.factors, generator=g) * 0.1).to(device)
        q = (torch.randn(n_items, self.factors, generator=g) * 0.1).to(device)
        b = torch.zeros(n_items, device=device)
        coo = x.tocoo()
        users, items = coo.row.astype(np.int64), coo.col.astype(np.int64)
        with torch_threads(1 if device.type == "cpu" else torch.get_num_threads()):
            self._epochs(p, q, b, users, items, n_items, device)
        self.p_, self.q_, self.b_ = p.cpu(), q.cpu(), b.cpu()
        return self

    def _epochs(self, p, q, b, users, items, n_items, device) -> None:
        seen = np.zeros((p.shape[0], n_items), dtype=bool)  # one byte per pair: MovieLens-sized data
        seen[users, items] = True
        rng = np.random.default_rng(self.seed)
        for _ in tqdm(range(self.epochs), desc="BPR epochs", disable=not self.progress):
            order = rng.permutation(len(users))
            u_all = users[order]
            j_all = sample_negatives(u_all, seen, rng)
            u_all, i_all, j_all = (torch.from_numpy(a).to(device) for a in (u_all, items[order], j_all))
            for s in range(0, len(order), self.batch_size):
                u, i, j = u_all[s:s + self.batch_size], i_all[s:s + self.batch_size], j_all[s:s + self.batch_size]
                d_pu, d_qi, d_qj, d_bi, d_bj = bpr_gradients(p, q, b, u, i, j, self.reg)
                p.index_add_(0, u, d_pu, alpha=-self.lr)
                q.index_add_(0, i, d_qi, alpha=-self.lr)
                q.index_add_(0, j, d_qj, alpha=-self.lr)
                b.index_add_(0, i, d_bi, alpha=-self.lr)
                b.index_add_(0, j, d_bj, alpha=-self.lr)

    def vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        self._fitted()
        return (torch.cat([self.p_, torch.ones(len(self.p_), 1)], 1),
                torch.cat([self.q_, self.b_[:, None]], 1))

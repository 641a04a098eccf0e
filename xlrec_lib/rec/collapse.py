"""Seed 004's matching model, trained as written: why positives alone collapse every vector onto one.

Seed 004 (§4.2) builds a user from the behaviour sequence ``b`` with an RNN, ``h_t = tanh(W h_{t-1} + U b_{t-1} + c)``,
``u = softmax(h_T)``, an item from its attribute sequence ``a`` the same way, ``i = softmax(h_T)``, scores
``cos(u, i)`` and updates the parameters with ``d cos(u, i) / d theta`` for the observed (user, item) pairs. (It
writes ``theta = theta - alpha * d cos / d theta``, a step that would *lower* the similarity of observed pairs; we
take the intended step, up the gradient.) Nothing in that objective pushes unrelated pairs apart, and the observed
pairs connect almost every user to almost every item through shared neighbours, so the objective is maximal when all
users and all items become the same vector: every cosine is then 1 and the ranking carries no information.

``train_matching(..., negatives=False)`` runs that objective; ``negatives=True`` runs the usual fix on the same
towers, InfoNCE with the other items of the batch as negatives. The history records, per step, the mean cosine of
observed pairs and of random pairs, and the AUC that separates the two.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from xlrec_lib.lm.rnn import ElmanRNN
from xlrec_lib.rec.cf.base import torch_threads


class SoftmaxTower(nn.Module):
    """Token ids ``(batch, seq)`` -> ``softmax(h_T)`` ``(batch, dim)``: embedding, Elman RNN, last state, softmax.
    Pad sequences on the left so that ``h_T`` follows the real tokens."""

    def __init__(self, vocab: int, dim: int = 16, emb_dim: int = 16):
        super().__init__()
        self.embed = nn.Embedding(vocab, emb_dim)
        self.rnn = ElmanRNN(emb_dim, dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.rnn(self.embed(ids))[:, -1].softmax(-1)


def left_pad(sequences: list[list[int]], length: int, pad: int) -> torch.Tensor:
    """The last ``length`` ids of each sequence, padded on the left with ``pad``: ``(n, length)`` long."""
    out = torch.full((len(sequences), length), pad, dtype=torch.long)
    for row, seq in enumerate(sequences):
        seq = list(seq)[-length:]
        if seq:
            out[row, length - len(seq):] = torch.as_tensor(seq, dtype=torch.long)
    return out


def topic_data(n_users: int = 400, n_items: int = 400, n_topics: int = 8, words_per_topic: int = 5,
               user_len: int = 10, item_len: int = 4, pairs_per_user: int = 10, purity: float = 0.8,
               seed: int = 0) -> dict:
    """A toy catalogue with a known answer, in the spirit of seed 004's example (browsing history -> interests).

    Each user and each item has a topic; a token is a word of a topic (ids from 1, 0 is padding). A user's sequence
    and an item's attributes draw their words from their own topic with probability ``purity``, else from a random
    topic. Each user has ``pairs_per_user`` observed items, of their topic with probability ``purity``: the other
    observed pairs link the topics, as real interests do. Returns ``user_ids`` and ``item_ids`` (left-padded long
    tensors), ``pairs`` ``(n, 2)``, ``user_topic``, ``item_topic`` and ``vocab``."""
    rng = np.random.default_rng(seed)
    user_topic, item_topic = rng.integers(n_topics, size=n_users), rng.integers(n_topics, size=n_items)

    def words(topic: int, length: int) -> list[int]:
        topics = np.where(rng.random(length) < purity, topic, rng.integers(n_topics, size=length))
        return (1 + topics * words_per_topic + rng.integers(words_per_topic, size=length)).tolist()

    by_topic = [np.flatnonzero(item_topic == t) for t in range(n_topics)]
    pairs = []
    for u in range(n_users):
        for _ in range(pairs_per_user):
            t = user_topic[u] if rng.random() < purity else rng.integers(n_topics)
            if len(by_topic[t]):
                pairs.append((u, int(rng.choice(by_topic[t]))))
    return {"user_ids": left_pad([words(t, user_len) for t in user_topic], user_len, 0),
            "item_ids": left_pad([words(t, item_len) for t in item_topic], item_len, 0),
            "pairs": np.array(pairs), "user_topic": user_topic, "item_topic": item_topic,
            "vocab": 1 + n_topics * words_per_topic}


def auc(positive: torch.Tensor, negative: torch.Tensor) -> float:
    """P(a positive score > a negative one), ties counted half: 0.5 when the scores cannot tell them apart."""
    pos, neg = positive.reshape(-1, 1), negative.reshape(1, -1)
    return ((pos > neg).double().mean() + 0.5 * (pos == neg).double().mean()).item()


def train_matching(user_ids: torch.Tensor, item_ids: torch.Tensor, pairs: np.ndarray, *, negatives: bool,
                   vocab: int, dim: int = 16, steps: int = 300, batch_size: int = 256, lr: float = 0.05,
                   temperature: float = 0.1, eval_every: int = 10, seed: int = 0) -> pd.DataFrame:
    """Train a user tower and an item tower on the observed ``pairs`` (``(n, 2)``: user row, item row).

    ``negatives=False``: gradient ascent on the mean ``cos(u, i)`` of the batch's pairs (seed 004's objective).
    ``negatives=True``: symmetric InfoNCE over the batch, the other pairs' items being the negatives.
    Returns one row per evaluation: ``step``, ``cos_observed`` (mean over all observed pairs), ``cos_random`` (mean
    over as many random user-item pairs), ``auc`` (observed vs random, on cosines) and ``spread`` (mean standard
    deviation of the user vectors' coordinates: 0 when every user is the same vector).
    """
    pairs = np.asarray(pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or len(pairs) < 2:
        raise ValueError(f"pairs must be an (n >= 2, 2) array of (user row, item row), got shape {pairs.shape}")
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    users, items = SoftmaxTower(vocab, dim), SoftmaxTower(vocab, dim)
    opt = torch.optim.Adam([*users.parameters(), *items.parameters()], lr=lr)
    pairs_t = torch.as_tensor(pairs, dtype=torch.long)
    random_pairs = torch.stack([torch.randint(len(user_ids), (len(pairs),), generator=gen),
                                torch.randint(len(item_ids), (len(pairs),), generator=gen)], dim=1)
    rows = []

    def evaluate(step: int) -> None:
        with torch.no_grad():
            u, i = users(user_ids), items(item_ids)
            cos_obs = F.cosine_similarity(u[pairs_t[:, 0]], i[pairs_t[:, 1]], dim=-1)
            cos_rand = F.cosine_similarity(u[random_pairs[:, 0]], i[random_pairs[:, 1]], dim=-1)
            sample = torch.randperm(len(cos_obs), generator=gen)[:2000]
            rows.append({"step": step, "cos_observed": cos_obs.mean().item(), "cos_random": cos_rand.mean().item(),
                         "auc": auc(cos_obs[sample], cos_rand[sample]), "spread": u.std(0).mean().item()})

    # many small operations: one torch thread (three times faster than two on the loaded course machine)
    with torch_threads(1):
        evaluate(0)
        for step in range(1, steps + 1):
            batch = pairs_t[torch.randint(len(pairs_t), (batch_size,), generator=gen)]
            u, i = users(user_ids[batch[:, 0]]), items(item_ids[batch[:, 1]])
            if negatives:
                logits = F.normalize(u, dim=-1) @ F.normalize(i, dim=-1).T / temperature
                target = torch.arange(len(batch))
                loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
            else:
                loss = -F.cosine_similarity(u, i, dim=-1).mean()  # ascent on the cosine: minimise its negative
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % eval_every == 0 or step == steps:
                evaluate(step)
    return pd.DataFrame(rows)


__all__ = ["SoftmaxTower", "left_pad", "topic_data", "auc", "train_matching"]

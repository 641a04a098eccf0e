"""Seed 003's scorer made to work: a user ID, an item ID, the item's text and the user's text profile, one logit,
trained with ``BCEWithLogitsLoss`` on observed interactions against sampled negatives.

Notation: ``p_u, q_i`` ID embeddings, ``c_i`` an item bias, ``t_i`` the item's text vector (``text()`` row ``i``),
``t_u = mean of t_j over u's training items`` (the user's text profile), ``A, B`` affine maps of text to ``dim``
numbers (``nn.Linear``), ``w`` an affine map to one number, ``r_u`` a free user vector (the user's taste in the
text space, which the mean of their history misses; ``taste=False`` leaves it out). The variants of
:class:`HybridScorer`:

- ``"id"``:     ``s = p_u . q_i + c_i``
- ``"text"``:   ``s = (A t_u) . (B t_i) + w(t_i)``  (``w(t_i)``: how popular this kind of item is, from its text)
- ``"concat"``: ``s = p_u . q_i + a_u . v_i + MLP([p_u * q_i, a_u * v_i]) + c_i + w(t_i)`` with ``a_u = A t_u + r_u``,
  ``v_i = B t_i``: both interactions, concatenated into one small MLP (dropout 0.5 on its input), on top of their
  dot products
- ``"gate"``:   ``s = g_i (p_u . q_i + c_i) + (1 - g_i) (a_u . v_i + w(t_i))`` with
  ``g_i = sigmoid(alpha log(1 + n_i) + beta)``, ``n_i`` the item's training interactions (users who have it): one
  learned curve that says how far to trust the ID at each count. It starts flat (``alpha = beta = 0``, ``g = 1/2``).

An item without training interactions has no ID to learn: its ``q_i`` and ``c_i`` are set to 0 (``known``), so
every variant gives it the same ID part. Training drops an item's ID with probability ``id_dropout`` (ID and count
set to 0, as for a new item: DropoutNet's recipe), so the text part learns to carry an item alone; a positive
``text_weight`` adds the loss of the text part alone, ``a_u . v_i + w(t_i)``, to the fused forms' loss, so that it
is trained to score by itself, as it must for a new item.

The text is a module: :class:`FixedText` (frozen vectors) or :class:`TunedText` (an encoder's top layers trained
with the scorer, :mod:`xlrec_lib.encoders.top_layers`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from xlrec_lib.lm.training import TrainConfig, fit

VARIANTS = ("id", "text", "concat", "gate")


class FixedText(nn.Module):
    """Frozen text vectors: ``forward() -> (n_items, dim)``, the same tensor every time."""

    def __init__(self, vectors: torch.Tensor):
        super().__init__()
        self.register_buffer("vectors", torch.as_tensor(vectors, dtype=torch.float32))

    def forward(self) -> torch.Tensor:
        return self.vectors


class TunedText(nn.Module):
    """``[top(states, mask), extra]``: the encoder's trainable top layers over the cached lower-layer states of every
    item, then fixed ``extra`` columns (e.g. knowledge-graph tags); ``forward() -> (n_items, dim + extra)``. Every
    call runs the top layers over all items (the scorer calls it once per training step)."""

    def __init__(self, top: nn.Module, states: torch.Tensor, mask: torch.Tensor, extra=None):
        super().__init__()
        extra = torch.zeros(len(states), 0) if extra is None else torch.as_tensor(extra, dtype=torch.float32)
        if not len(states) == len(mask) == len(extra):
            raise ValueError(f"TunedText: states, mask and extra must have one row per item, got {len(states)}, "
                             f"{len(mask)} and {len(extra)}")
        self.top = top
        self.register_buffer("states", states, persistent=False)  # recomputable, ~100 MB: not in the state dict
        self.register_buffer("mask", mask, persistent=False)
        self.register_buffer("extra", extra, persistent=False)

    def forward(self) -> torch.Tensor:
        return torch.cat([self.top(self.states, self.mask), self.extra], dim=1)


def history_weights(train: sp.csr_matrix) -> torch.Tensor:
    """``(n_users, n_items)`` dense row-normalised history: ``H @ T`` is every user's mean item text (0 without any)."""
    x = sp.csr_matrix(train, dtype=np.float32)
    counts = np.asarray((x > 0).sum(axis=1)).ravel()
    weights = sp.diags(np.divide(1.0, counts, out=np.zeros(len(counts)), where=counts > 0)) @ (x > 0)
    return torch.from_numpy(weights.toarray().astype(np.float32))


class HybridScorer(nn.Module):
    """One logit per (user, item) pair; ``variant`` in ``VARIANTS`` (module docstring).

    ``train``: the ``(n_users, n_items)`` training matrix (histories and counts come from it); ``text``: a
    :class:`FixedText` or :class:`TunedText` (unused by ``"id"``). ``text_weight`` (fused forms): the weight of
    a second loss on the text part alone (module docstring).
    """

    def __init__(self, variant: str, train: sp.csr_matrix, text: nn.Module | None = None, dim: int = 64,
                 hidden: int = 64, seed: int = 0, taste: bool = True, text_weight: float = 0.0):
        super().__init__()
        if text_weight < 0:
            raise ValueError(f"HybridScorer: text_weight must be >= 0, got {text_weight}")
        self.text_weight = text_weight
        if variant not in VARIANTS:
            raise ValueError(f"HybridScorer: variant must be one of {VARIANTS}, got {variant!r}")
        if variant != "id" and text is None:
            raise ValueError(f"HybridScorer: variant {variant!r} needs text (FixedText or TunedText)")
        self.variant = variant
        n_users, n_items = train.shape
        counts = np.asarray((train > 0).sum(axis=0)).ravel()
        self.register_buffer("counts", torch.from_numpy(counts.astype(np.float32)))
        self.register_buffer("known", torch.from_numpy((counts > 0).astype(np.float32)))
        with torch.random.fork_rng(devices=[]):  # every weight from ``seed``, whatever ran before
            torch.manual_seed(seed)
            self.user_id = nn.Parameter(0.1 * torch.randn(n_users, dim))
            self.item_id = nn.Parameter(0.1 * torch.randn(n_items, dim))
            self.item_bias = nn.Parameter(torch.zeros(n_items))
            fused = variant in ("concat", "gate")
            self.user_taste = nn.Parameter(torch.zeros(n_users, dim)) if fused and taste else None
            self.text = text
            if variant != "id":
                with torch.no_grad():
                    item_text = text()
                if item_text.shape[0] != n_items:
                    raise ValueError(f"HybridScorer: text has {item_text.shape[0]} rows, the training matrix "
                                     f"{n_items} items")
                text_dim = item_text.shape[1]
                self.register_buffer("history", history_weights(train))
                self.user_map, self.item_map = nn.Linear(text_dim, dim), nn.Linear(text_dim, dim)
                self.text_bias = nn.Linear(text_dim, 1)
                frozen = not any(p.requires_grad for p in text.parameters())
                self.register_buffer("user_text", self.history @ item_text if frozen else None, persistent=False)
            if variant == "concat":
                self.mlp = nn.Sequential(nn.Dropout(0.5), nn.Linear(2 * dim, hidden), nn.ReLU(),
                                         nn.Linear(hidden, 1))
            if variant == "gate":
                self.gate_slope, self.gate_shift = nn.Parameter(torch.tensor(0.0)), nn.Parameter(torch.tensor(0.0))

    def gate(self, counts) -> torch.Tensor:
        """``g = sigmoid(alpha log(1 + n) + beta)`` in [0, 1]: the weight of the ID score at ``n`` interactions
        (``counts``: a number or a tensor of them, on any device)."""
        n = torch.as_tensor(counts, dtype=torch.float32, device=self.gate_slope.device)
        return torch.sigmoid(self.gate_slope * torch.log1p(n) + self.gate_shift)

    def _texts(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(user text (n_users, text_dim), item text (n_items, text_dim))``."""
        text = self.text()
        return (self.user_text if self.user_text is not None else self.history @ text), text

    def forward(self, users: torch.Tensor, items: torch.Tensor, drop: torch.Tensor | None = None,
                texts: tuple[torch.Tensor, torch.Tensor] | None = None, with_text: bool = False):
        """Logits ``(batch,)`` of the pairs ``(users[b], items[b])``; ``drop[b]`` true hides item ``b``'s ID.
        ``texts``: ``_texts()`` computed once by a caller that scores many batches with the same weights;
        ``with_text`` (fused forms): also return the text part's logits, ``(logits, text logits)``."""
        keep = self.known[items]
        if drop is not None:
            keep = keep * (~drop).to(keep.dtype)
        q, b = self.item_id[items] * keep[:, None], self.item_bias[items] * keep
        p = self.user_id[users]
        if self.variant == "id":
            return (p * q).sum(-1) + b
        user_text, item_text = texts if texts is not None else self._texts()
        w_i = self.text_bias(item_text)[items, 0]
        # map every user and item text once, then gather: a batch repeats them many times
        a_u, b_i = self.user_map(user_text)[users], self.item_map(item_text)[items]
        if self.variant != "text" and self.user_taste is not None:
            a_u = a_u + self.user_taste[users]
        s_text = (a_u * b_i).sum(-1) + w_i
        if self.variant == "text":
            return s_text
        if self.variant == "concat":
            pq, ab = p * q, a_u * b_i
            s = pq.sum(-1) + ab.sum(-1) + self.mlp(torch.cat([pq, ab], dim=-1)).squeeze(-1) + b + w_i
        else:
            g = self.gate(self.counts[items] * keep)
            s = g * ((p * q).sum(-1) + b) + (1 - g) * s_text
        return (s, s_text) if with_text else s

    @torch.no_grad()
    def score_matrix(self, users_per_chunk: int = 64) -> torch.Tensor:
        """``(n_users, n_items)`` float32 logits of every pair, in eval mode, on the CPU."""
        was_training = self.training
        self.eval()
        try:
            n_users, n_items = self.user_id.shape[0], self.item_id.shape[0]
            device = self.user_id.device
            items = torch.arange(n_items, device=device)
            texts = self._texts() if self.variant != "id" else None  # a tuned text tower runs once, not per chunk
            rows = []
            for start in range(0, n_users, users_per_chunk):
                users = torch.arange(start, min(start + users_per_chunk, n_users), device=device)
                pairs = self(users.repeat_interleave(n_items), items.repeat(len(users)), texts=texts)
                rows.append(pairs.view(len(users), n_items).float().cpu())
        finally:
            self.train(was_training)
        return torch.cat(rows)


def _pair_codes(x: sp.csr_matrix) -> np.ndarray:
    """The stored (row, column) pairs of ``x`` as sorted codes ``row * n_items + column``."""
    return np.sort(np.repeat(np.arange(x.shape[0]), np.diff(x.indptr)).astype(np.int64) * x.shape[1] + x.indices)


def _check_negatives_exist(users: np.ndarray, codes: np.ndarray, n_users: int, n_items: int,
                           candidates: np.ndarray) -> None:
    has = np.isin(codes % n_items, candidates)
    full = np.bincount(codes[has] // n_items, minlength=n_users) >= len(candidates)
    if full[users].any():
        raise ValueError(f"sample_negatives: user row {int(users[full[users]][0])} has every candidate item, so no "
                         "negative can be drawn; drop that user or widen the candidates")


def _draw_negatives(users: np.ndarray, codes: np.ndarray, n_items: int, candidates: np.ndarray, n: int,
                    rng: np.random.Generator) -> np.ndarray:
    def hits(j):
        c = users[:, None].astype(np.int64) * n_items + j
        pos = np.searchsorted(codes, c)
        return (pos < len(codes)) & (codes[np.minimum(pos, len(codes) - 1)] == c)

    j = candidates[rng.integers(0, len(candidates), (len(users), n))]
    bad = hits(j)
    while bad.any():
        j[bad] = candidates[rng.integers(0, len(candidates), int(bad.sum()))]
        bad = hits(j)
    return j


def sample_negatives(users: np.ndarray, positives: sp.csr_matrix, candidates: np.ndarray, n: int,
                     rng: np.random.Generator) -> np.ndarray:
    """``(len(users), n)`` item columns drawn uniformly from ``candidates``, never one of the user's ``positives``
    (redrawn until none is). A user who has every candidate is a ``ValueError``."""
    x = sp.csr_matrix(positives)
    x.eliminate_zeros()
    candidates = np.unique(np.asarray(candidates, dtype=np.int64))
    codes = _pair_codes(x)
    _check_negatives_exist(users, codes, x.shape[0], x.shape[1], candidates)
    return _draw_negatives(users, codes, x.shape[1], candidates, n, rng)


def interaction_batches(train: sp.csr_matrix, negatives: int, batch_size: int, id_dropout: float = 0.0,
                        seed: int = 0) -> Iterator[dict]:
    """Endless batches ``{"users", "items", "labels", "drop"}``: each epoch shuffles the positives, gives each
    ``negatives`` fresh negatives among the items that have a training interaction, and drops an item's ID with
    probability ``id_dropout``. A batch holds ``batch_size`` positives and their negatives."""
    if not 0 <= id_dropout < 1:
        raise ValueError(f"id_dropout must be in [0, 1), got {id_dropout}")
    if batch_size < 1 or negatives < 0:
        raise ValueError(f"batch_size must be >= 1 and negatives >= 0, got {batch_size} and {negatives}")
    x = sp.csr_matrix(train)
    x.eliminate_zeros()
    if x.nnz == 0:
        raise ValueError("interaction_batches: the training matrix has no interaction")
    users = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    items = x.indices.astype(np.int64)
    candidates = np.flatnonzero(np.diff(x.tocsc().indptr))
    codes = _pair_codes(x)  # once, not per batch
    _check_negatives_exist(users, codes, x.shape[0], x.shape[1], candidates)
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(users))
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            u = users[idx]
            neg = _draw_negatives(u, codes, x.shape[1], candidates, negatives, rng)
            all_users = np.concatenate([u, np.repeat(u, negatives)])
            all_items = np.concatenate([items[idx], neg.ravel()])
            labels = np.concatenate([np.ones(len(idx)), np.zeros(neg.size)]).astype(np.float32)
            drop = rng.random(len(all_items)) < id_dropout
            yield {"users": torch.from_numpy(all_users), "items": torch.from_numpy(all_items),
                   "labels": torch.from_numpy(labels), "drop": torch.from_numpy(drop)}


def bce_loss(model: HybridScorer, batch: dict):
    """``BCEWithLogitsLoss`` of the batch's logits against its 1/0 labels (the loop's ``loss_fn``), plus
    ``model.text_weight`` times the same loss of the fused forms' text part alone."""
    weight = model.text_weight
    if weight and model.variant in ("concat", "gate"):
        logits, text_logits = model(batch["users"], batch["items"], batch["drop"], with_text=True)
        main = nn.functional.binary_cross_entropy_with_logits(logits, batch["labels"])
        aux = nn.functional.binary_cross_entropy_with_logits(text_logits, batch["labels"])
        return main + weight * aux, {"text loss": aux.item()}
    logits = model(batch["users"], batch["items"], batch["drop"])
    return nn.functional.binary_cross_entropy_with_logits(logits, batch["labels"]), {}


def steps_per_epoch(train: sp.csr_matrix, batch_size: int) -> int:
    """Batches in one pass over the training interactions."""
    return math.ceil(sp.csr_matrix(train).nnz / batch_size)


def train_scorer(model: HybridScorer, train: sp.csr_matrix, epochs: float, lr: float, weight_decay: float = 0.0,
                 negatives: int = 4, batch_size: int = 1024, id_dropout: float = 0.0, seed: int = 0,
                 progress: bool = True, desc: str | None = None):
    """Train ``model`` in place with the course's loop (:func:`xlrec_lib.lm.training.fit`); returns its history."""
    steps = max(1, round(epochs * steps_per_epoch(train, batch_size)))
    cfg = TrainConfig(steps=steps, lr=lr, weight_decay=weight_decay, warmup=0.05, log_every=20)
    batches = interaction_batches(train, negatives, batch_size, id_dropout, seed)
    # the MLP's dropout draws from torch's generator: seed it here. Embedding gradients are sums over repeated
    # rows, which threads add in any order unless deterministic algorithms are asked for: with them, two runs
    # give the same bits (measured: without, the same seed gave nDCG@10 differing in the third decimal).
    before = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            return fit(model, bce_loss, batches, cfg, progress=progress, desc=desc or f"{model.variant} scorer")
        finally:
            torch.use_deterministic_algorithms(before[0], warn_only=before[1])


def seed003_loop(encoder, tokenizer, texts: list[str], labels: list[int], lr: float, epochs: int = 5,
                 seed: int = 0) -> tuple[np.ndarray, torch.Tensor]:
    """Seed 003's training as written, on a copy of ``encoder`` plus a linear head over mean-pooled tokens: Adam at
    ``lr`` on every weight, batch size 1, ``epochs`` passes over ``texts`` in a seeded random order.

    Returns every step's loss, ``(epochs, len(texts))`` in training order (the seed prints only the last column:
    one sentence's loss per epoch), and the trained model's probabilities for ``texts`` (``(len(texts),)``)."""
    import copy

    from xlrec_lib.encoders.pooling import mean_pool

    device = next(encoder.parameters()).device
    model = copy.deepcopy(encoder).train()
    rng = np.random.default_rng(seed)

    def logits(batch_texts):
        enc = tokenizer(batch_texts, padding=True, return_tensors="pt").to(device)
        return head(mean_pool(model(**enc).last_hidden_state, enc["attention_mask"])).squeeze(-1)

    losses = np.zeros((epochs, len(texts)))
    with torch.random.fork_rng(devices=[]):  # the head's init and BERT's dropout, from ``seed``
        torch.manual_seed(seed)
        head = nn.Linear(encoder.config.hidden_size, 1).to(device)
        optimizer = torch.optim.Adam([*model.parameters(), *head.parameters()], lr=lr)
        for epoch in range(epochs):
            for step, i in enumerate(rng.permutation(len(texts))):
                label = torch.tensor([float(labels[i])], device=device)
                loss = nn.functional.binary_cross_entropy_with_logits(logits([texts[i]]), label)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses[epoch, step] = loss.item()
    model.eval()
    with torch.no_grad():
        return losses, torch.sigmoid(logits(list(texts))).cpu()

__all__ = ["VARIANTS", "FixedText", "TunedText", "history_weights", "HybridScorer", "sample_negatives",
           "interaction_batches", "bce_loss", "steps_per_epoch", "train_scorer", "seed003_loop"]

"""Sentence-level alignment by contrastive learning: InfoNCE over translation pairs with in-batch negatives."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from xlrec_lib.encoders.pooling import mean_pool
from xlrec_lib.lm.training import TrainConfig, endless_batches, fit
from xlrec_lib.vectors import finite_number


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.05, symmetric: bool = True,
             center: bool = False) -> torch.Tensor:
    """InfoNCE with in-batch negatives: row i of ``a`` ``(batch, dim)`` must pick row i of ``b`` among all rows.

    ``L = -1/B sum_i log softmax_j(cos(a_i, b_j) / tau)_i``; ``symmetric`` averages it with the b -> a direction.
    ``center`` first subtracts the mean of all ``2B`` rows (both sides together) from every row.
    """
    if a.shape != b.shape:
        raise ValueError(f"info_nce: a {tuple(a.shape)} and b {tuple(b.shape)} must be paired row by row")
    if center:
        # Subtracting one mean for both sides removes the vector every sentence shares but keeps the gap between the
        # languages' means, which the loss then closes. It changes the gradient near a collapse, not the value: a
        # fully collapsed batch still scores exactly log B (chapter 4 checks both).
        mean = torch.cat([a, b]).mean(0)
        a, b = a - mean, b - mean
    logits = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / temperature
    target = torch.arange(len(a), device=a.device)
    loss = F.cross_entropy(logits, target)
    return (loss + F.cross_entropy(logits.T, target)) / 2 if symmetric else loss


def embed_batch(model, tokenizer, texts: list[str], max_length: int = 128) -> torch.Tensor:
    """Mean-pooled last hidden states, with gradients: ``(len(texts), dim)``, on the model's device (for training;
    ``encoders.pooling.embed_texts`` embeds without gradients)."""
    encoder = getattr(model, "base_model", model)
    device = next(encoder.parameters()).device
    batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt").to(device)
    hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    return mean_pool(hidden, batch["attention_mask"])


PAIR_WINDOW = 16  # batches per length-sorting window of the pair batches (training.epoch_batches)


def pair_batch_indices(src: Sequence[str], tgt: Sequence[str], batch_size: int, seed: int = 0,
                       window: int = PAIR_WINDOW):
    """The endless stream of pair-index batches ``train_contrastive`` trains on (``training.endless_batches`` over
    the pairs' lengths in characters, full batches only), for any caller that must see the same batches."""
    lengths = [len(s) + len(t) for s, t in zip(src, tgt, strict=True)]
    return endless_batches(lengths, min(batch_size, len(src)), seed, window, drop_last=True)


def train_contrastive(model, tokenizer, src: Sequence[str], tgt: Sequence[str], epochs: float = 1.0,
                      batch_size: int = 64, lr: float = 5e-5, temperature: float = 0.05, warmup: float = 0.06,
                      max_length: int = 128, seed: int = 0, augment: Callable | None = None,
                      progress: bool = True, steps: int | None = None, window: int = PAIR_WINDOW, center: bool = True,
                      evaluate: Callable | None = None, eval_every: int = 0) -> pd.DataFrame:
    """Fine-tune ``model`` (a ``transformers`` encoder, in place) so that ``src[i]`` and ``tgt[i]`` embed together.

    Each step takes ``batch_size`` pairs; the other pairs of the batch are the negatives (``info_nce``). Batches come
    from ``training.endless_batches`` (length-bucketed in windows of ``window`` batches, a new order every epoch, a
    pair at most once per batch; an epoch's short last batch is dropped) and train through ``training.fit`` (AdamW,
    linear warm-up over ``warmup`` of the steps and linear decay, gradients clipped at norm 1). ``augment``, if
    given, is called as ``augment(src_batch, tgt_batch, rng) -> (src_batch, tgt_batch)`` on every batch (e.g.
    code-switching), with a NumPy generator seeded by ``seed``. ``epochs`` may be fractional; ``steps``, if given,
    replaces it. ``center``: the batch-centred loss (``info_nce(..., center=True)``); the trained encoder is used as
    it is, uncentred. ``evaluate(model) -> dict`` runs every ``eval_every`` steps and at the last (``training.fit``).
    Returns ``fit``'s history (``step, lr, loss, grad_norm`` and the evaluations); the model is left in eval mode.
    torch's generator is seeded with ``seed`` for the run (dropout) and restored afterwards, so a run does not
    depend on what drew random numbers before it, and changes nothing for what comes after.
    """
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1):
        raise ValueError(f"train_contrastive: steps must be a positive integer or None (one pass over the pairs "
                         f"times epochs), got {steps!r}")
    if len(src) != len(tgt):
        raise ValueError(f"train_contrastive: {len(src)} source texts but {len(tgt)} targets")
    if len(src) < 2:
        raise ValueError("train_contrastive needs at least 2 pairs (the negatives are the other pairs)")
    batch_size = min(batch_size, len(src))
    steps = int(steps) if steps is not None else max(1, math.ceil(epochs * len(src) / batch_size))
    rng = np.random.default_rng(seed)

    def pair_batches():
        for idx in pair_batch_indices(src, tgt, batch_size, seed, window):
            a, b = [src[i] for i in idx], [tgt[i] for i in idx]
            yield augment(a, b, rng) if augment is not None else (a, b)

    def loss_fn(encoder, batch):
        a, b = batch
        loss = info_nce(embed_batch(encoder, tokenizer, a, max_length), embed_batch(encoder, tokenizer, b, max_length),
                        temperature, center=center)
        return loss, {}

    encoder = getattr(model, "base_model", model)
    cfg = TrainConfig(steps=steps, lr=lr, warmup=warmup, clip=1.0, eval_every=eval_every)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        history = fit(encoder, loss_fn, pair_batches(), cfg, evaluate=evaluate, progress=progress,
                      desc="contrastive")
    encoder.eval()
    return history


PLATEAU_TOL = 0.05  # how close to log B a loss must lie to count as on the plateau


def plateau_steps(losses: Sequence[float], level: float, tol: float = PLATEAU_TOL) -> int:
    """The longest run of consecutive steps whose loss is within ``tol`` of ``level`` (for InfoNCE, ``log B``: the
    loss of a batch whose vectors all coincide). Steps that only pass through the band on the way down count as
    a run of their own, so they do not add up to a plateau."""
    longest = run = 0
    for loss in losses:
        run = run + 1 if abs(float(loss) - level) < tol else 0
        longest = max(longest, run)
    return longest


def final_gap_to_log_b(losses: Sequence[float], batch_size: int, last: int = 5) -> float:
    """Mean of the last ``last`` of ``losses`` ``(n_steps,)`` (read by position) minus ``log B``. Within the plateau
    band of 0 (:func:`plateau_steps`' ``tol``): the run ended collapsed, every vector alike; well below 0: it
    learned; above the band: it ended worse than sending every sentence to one point would (it diverged, or was
    still coming down when its steps ran out: compare the first losses)."""
    if isinstance(last, bool) or not isinstance(last, int) or last < 1:
        raise ValueError(f"last must be a positive integer, got {last!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise ValueError(f"batch_size must be an integer >= 2 (log B of in-batch negatives), got {batch_size!r}")
    tail = [float(x) for x in list(losses)[-last:]]
    if len(tail) < last:
        raise ValueError(f"final_gap_to_log_b needs at least {last} losses, got {len(tail)}")
    if not all(math.isfinite(x) for x in tail):
        raise ValueError(f"the last {last} losses must be finite, got {tail}: the run blew up; lower the learning rate")
    return sum(tail) / last - math.log(batch_size)


def run_outcome(gap: float, tol: float = PLATEAU_TOL) -> str:
    """What a run's :func:`final_gap_to_log_b` says of it: ``"learned"`` (below ``-tol``), ``"collapsed"`` (within
    ``tol`` of 0, on the plateau) or ``"ended above log B"`` (above ``tol``). A gap that is not finite is a
    ValueError."""
    gap = finite_number(gap, "gap")
    if gap > tol:
        return "ended above log B"
    return "collapsed" if gap > -tol else "learned"

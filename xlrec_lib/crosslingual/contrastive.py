"""Sentence-level alignment by contrastive learning: InfoNCE over translation pairs with in-batch negatives.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from xlrec_lib.encoders.pooling import mean_pool


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.05, symmetric: bool = True,
             center: bool = False) -> torch.Tensor:
    """InfoNCE with in-batch negatives: row i of ``a`` ``(batch, dim)`` must pick row i of ``b`` among all rows.

    ``L = -1/B sum_i log softmax_j(cos(a_i, b_j) / tau)_i``; ``symmetric`` averages it with the b -> a direction.
    ``center`` first subtracts the mean of all ``2B`` rows (both sides together) from every row.
    """
    if a.shape != b.shape:
        raise ValueError(f"info_nce: a {tuple(a.shape)} and b {tuple(b.shape)} must be paired row by row")
    if center:
        # Without this, a model whose two languages start in separate clouds can take the shortcut of sending every
        # sentence to one vector (loss = log B, no gradient left). Subtracting one mean for both sides removes that
        # shared vector but keeps the gap between the languages' means, which the loss then closes.
        mean = torch.cat([a, b]).mean(0)
        a, b = a - mean, b - mean
    logits = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / temperature
    target = torch.arange(len(a), device=a.device)
    loss = F.cross_entropy(logits, target)
    return (loss + F.cross_entropy(logits.T, target)) / 2 if symmetric else loss


def encode_batch(model, tokenizer, texts: list[str], max_length: int = 128, device=None) -> torch.Tensor:
    """Mean-pooled last hidden states with gradients: ``(len(texts), dim)`` (for training; see ``embed_texts``)."""
    encoder = getattr(model, "base_model", model)
    device = device or next(encoder.parameters()).device
    batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt").to(device)
    hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    return mean_pool(hidden, batch["attention_mask"])


def train_contrastive(model, tokenizer, src: Sequence[str], tgt: Sequence[str], epochs: float = 1.0,
                      batch_size: int = 64, lr: float = 5e-5, temperature: float = 0.05, warmup: float = 0.06,
                      max_length: int = 128, seed: int = 0, augment: Callable | None = None, device=None,
                      progress: bool = True, steps: int | None = None, bucket: int = 16, center: bool = True
                      ) -> list[float]:
    """Fine-tune ``model`` (a ``transformers`` encoder, in place) so that ``src[i]`` and ``tgt[i]`` embed together.

    Each step draws ``batch_size`` pairs; the other pairs of the batch are the negatives (``info_nce``). AdamW with
    linear warm-up over ``warmup`` of the steps and linear decay; gradients clipped at norm 1. ``augment``, if
    given, is called as ``augment(src_batch, tgt_batch, rng) -> (src_batch, tgt_batch)`` on every batch (e.g.
    code-switching). ``epochs`` may be fractional; ``steps``, if given, replaces it. ``bucket``: batches are cut
    from windows of that many batches sorted by length (less padding; 1 = plain random batches). ``center``: the
    batch-centred loss (``info_nce(..., center=True)``); the trained encoder is used as it is, uncentred. Returns
    the loss of every step; the model is left in eval mode.
    """
    if len(src) != len(tgt):
        raise ValueError(f"train_contrastive: {len(src)} source texts but {len(tgt)} targets")
    if len(src) < 2:
        raise ValueError("train_contrastive needs at least 2 pairs (the negatives are the other pairs)")
    encoder = getattr(model, "base_model", model)
    device = device or next(encoder.parameters()).device
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    steps = steps or max(1, math.ceil(epochs * len(src) / batch_size))
    order = np.concatenate([rng.permutation(len(src)) for _ in range(math.ceil(steps * batch_size / len(src)))])
    if bucket > 1:  # sort each window of `bucket` batches by length, then shuffle the batches: less padding
        lengths = np.array([len(s) + len(t) for s, t in zip(src, tgt, strict=True)])
        window = bucket * batch_size
        order = np.concatenate([w[np.argsort(lengths[w], kind="stable")]
                                for w in np.split(order, range(window, len(order), window))])
        batches = np.split(order[: len(order) // batch_size * batch_size], len(order) // batch_size)
        order = np.concatenate([batches[i] for i in rng.permutation(len(batches))])
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=lr, weight_decay=0.01)
    n_warm = max(1, int(warmup * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / n_warm, max(0.0, (steps - s) / max(1, steps - n_warm))))
    encoder.train()
    losses = []
    bar = tqdm(range(steps), desc="contrastive", disable=not progress)
    for step in bar:
        idx = order[step * batch_size:(step + 1) * batch_size]
        a, b = [src[i] for i in idx], [tgt[i] for i in idx]
        if augment is not None:
            a, b = augment(a, b, rng)
        loss = info_nce(encode_batch(encoder, tokenizer, a, max_length, device),
                        encode_batch(encoder, tokenizer, b, max_length, device), temperature, center=center)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(encoder.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if step % 10 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-10:]):.3f}")
    encoder.eval()
    return losses

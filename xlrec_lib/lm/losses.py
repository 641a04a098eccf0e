"""Softmax and cross-entropy from scratch: log-sum-exp, log-softmax and the token-level cross-entropy.

Each is checked against torch (``F.log_softmax``, ``F.cross_entropy``) in ``tests/lm/test_transformer.py`` and
in chapter 1.
"""

from __future__ import annotations

import torch


def logsumexp(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """log sum_j exp(x_j) = m + log sum_j exp(x_j - m), m = max_j x_j: no overflow for large logits."""
    m = x.amax(dim, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))  # all -inf rows: keep -inf, avoid inf - inf
    return (m + torch.log(torch.exp(x - m).sum(dim, keepdim=True))).squeeze(dim)


def log_softmax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """log softmax(z)_i = z_i - logsumexp(z) = (z_i - m) - log sum_j exp(z_j - m).

    Subtracting m first keeps the result exact for large logits: 1000.69 - 1000.0 in float32 loses digits.
    """
    shifted = logits - logits.amax(dim, keepdim=True)
    return shifted - torch.log(torch.exp(shifted).sum(dim, keepdim=True))


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Mean over non-ignored positions of -log softmax(z)[y].

    logits ``(n, classes)``, targets ``(n,)`` of class ids; positions equal to ``ignore_index`` (the
    unmasked tokens of MLM) do not count. Same value as ``F.cross_entropy(logits, targets)``.
    """
    keep = targets != ignore_index
    if not keep.any():
        raise ValueError("cross_entropy: every target equals ignore_index; there is nothing to average")
    logp = log_softmax(logits[keep])
    return -logp.gather(1, targets[keep, None]).mean()

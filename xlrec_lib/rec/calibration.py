"""Turning scores into probabilities and decisions: Platt scaling, calibration error, thresholds.

:func:`fit_platt` learns ``p = sigmoid(a * s + b)`` on validation pairs so that the probabilities match observed
frequencies (checked with :func:`expected_calibration_error`), and :func:`choose_threshold` picks a cut-off on
validation to apply unchanged on test. Every function takes ``(labels, scores)`` in that order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from xlrec_lib.rec.similarity import as_matrix


def _vector(x, name: str, dtype=torch.float64) -> torch.Tensor:
    try:
        t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.array(x, dtype=np.float64))
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numbers: {err}") from None
    if t.ndim > 1 and max(t.shape) != t.numel():
        raise ValueError(f"{name} must be one vector, got shape {tuple(t.shape)}")
    t = t.to(dtype).flatten()
    if t.numel() == 0:
        raise ValueError(f"{name} is empty")
    bad = ~torch.isfinite(t)
    if bad.any():
        j = int(bad.nonzero()[0])
        raise ValueError(f"{name} must be finite, got {float(t[j])} at position {j}")
    return t


def _labels_scores(labels, scores, name: str = "scores") -> tuple[torch.Tensor, torch.Tensor]:
    """Checked ``(labels, scores)``: same length, finite, labels 0/1 (bool, int or float 0.0/1.0)."""
    for arg, value in (("labels", labels), (name, scores)):
        if isinstance(value, (str, bytes)):
            raise ValueError(f"{arg} must be numbers, got the string {value!r:.40}")
    y, s = _vector(labels, "labels"), _vector(scores, name)
    if s.shape != y.shape:
        raise ValueError(f"labels ({y.numel()}) and {name} ({s.numel()}) differ in length")
    bad = ~((y == 0) | (y == 1))
    if bad.any():
        j = int(bad.nonzero()[0])
        raise ValueError(f"labels must be 0/1, got {float(y[j])} at position {j} (did you pass (scores, labels)? "
                         "the order is (labels, scores))")
    return y, s


@dataclass(frozen=True)
class Platt:
    """Calibration map ``p = sigmoid(a * s + b)`` (Platt scaling; ``a = 1 / temperature``)."""

    a: float
    b: float

    def __call__(self, scores) -> torch.Tensor:
        s = torch.as_tensor(scores)
        p = torch.sigmoid(self.a * s.to(torch.float64) + self.b)
        return p.to(s.dtype) if s.is_floating_point() else p


def fit_platt(labels, scores, l2: float = 0.0, max_iter: int = 100, tol: float = 1e-12) -> Platt:
    """Maximum-likelihood ``(a, b)`` for ``P(y=1 | s) = sigmoid(a s + b)`` by Newton's method (float64).

    Minimises the mean log loss ``-mean(y log p + (1 - y) log(1 - p)) + l2 a^2 / 2`` (b is not penalised).
    Newton steps with backtracking: deterministic, converges in a handful of iterations. Labels that a
    threshold on ``s`` separates perfectly have no finite optimum (``a`` grows without end): with ``l2=0`` that
    raises, and a small ``l2`` (e.g. 1e-4) gives a finite answer.
    """
    y, s = _labels_scores(labels, scores)
    if y.min() == y.max():
        raise ValueError(f"fit_platt needs both labels, got only {int(y[0])}")
    pos, neg = s[y == 1], s[y == 0]
    if l2 == 0 and (pos.min() >= neg.max() or pos.max() <= neg.min()):  # (quasi-)separable
        raise ValueError("fit_platt: a threshold on the scores separates the labels perfectly, so the maximum "
                         "likelihood slope is infinite; pass l2 > 0")
    x = torch.stack([s, torch.ones_like(s)], dim=1)  # (n, 2)
    reg = torch.tensor([l2, 0.0], dtype=torch.float64)

    def loss(w):
        z = x @ w
        return (torch.nn.functional.softplus(z) - y * z).mean() + 0.5 * (reg * w * w).sum()

    # start at the base rate: a = 0, b = logit(mean y)
    w = torch.tensor([0.0, math.log(y.mean() / (1 - y.mean()))], dtype=torch.float64)
    current = loss(w)
    for _ in range(max_iter):
        p = torch.sigmoid(x @ w)
        grad = x.T @ (p - y) / len(y) + reg * w
        hess = (x.T * (p * (1 - p))) @ x / len(y) + torch.diag(reg)
        step = torch.linalg.solve(hess + 1e-12 * torch.eye(2, dtype=torch.float64), grad)
        t = 1.0
        while t > 1e-10:
            candidate = w - t * step
            new = loss(candidate)
            if new <= current:
                break
            t /= 2
        else:  # no step along the Newton direction lowers the loss: w is as good as floating point allows
            break
        w, previous, current = candidate, current, new
        if float(grad.abs().max()) < tol or float(previous - current) < tol * 1e-3:
            break
    a, b = float(w[0]), float(w[1])
    p = torch.sigmoid(x @ w)
    if float((x.T @ (p - y) / len(y) + reg * w).abs().max()) > 1e-6 or not math.isfinite(a) or abs(a) > 1e6:
        raise RuntimeError(f"fit_platt did not converge in {max_iter} steps (a={a:.4g}, b={b:.4g})")
    return Platt(a, b)


def reliability_table(labels, probs, n_bins: int = 10, strategy: str = "uniform") -> pd.DataFrame:
    """Reliability-diagram data: per bin of predicted probability, the ``count``, the mean prediction
    ``confidence`` and the observed positive rate ``accuracy`` (NaN for an empty bin).

    ``strategy='uniform'``: ``n_bins`` equal-width bins of [0, 1], ``[j/n, (j+1)/n)``, the last one closed.
    ``strategy='quantile'``: edges at the quantiles of ``probs`` (about equal counts; useful when the
    predictions crowd into a corner of [0, 1]); repeated edges are merged, so there may be fewer bins.
    """
    y, p = _labels_scores(labels, probs, "probs")
    if float(p.min()) < 0 or float(p.max()) > 1:
        raise ValueError(f"probabilities must lie in [0, 1], got range [{float(p.min())}, {float(p.max())}]")
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    if strategy == "uniform":
        edges = torch.linspace(0.0, 1.0, n_bins + 1, dtype=torch.float64)
    elif strategy == "quantile":
        inner = np.unique(np.quantile(p.numpy(), np.linspace(0.0, 1.0, n_bins + 1)))[1:-1]  # drop min and max
        edges = torch.from_numpy(np.concatenate([[0.0], inner, [1.0]]))
    else:
        raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")
    n = len(edges) - 1
    bins = torch.clamp(torch.searchsorted(edges, p, right=True) - 1, 0, n - 1)
    count = torch.bincount(bins, minlength=n).double()
    conf = torch.bincount(bins, weights=p, minlength=n) / count
    acc = torch.bincount(bins, weights=y, minlength=n) / count
    return pd.DataFrame(
        {
            "lower": edges[:-1].numpy(),
            "upper": edges[1:].numpy(),
            "count": count.long().numpy(),
            "confidence": conf.numpy(),
            "accuracy": acc.numpy(),
        }
    )


def expected_calibration_error(labels, probs, n_bins: int = 10, strategy: str = "uniform") -> float:
    """``ECE = sum_b (n_b / N) |accuracy_b - confidence_b|`` over the bins of :func:`reliability_table`."""
    table = reliability_table(labels, probs, n_bins, strategy).query("count > 0")
    weights = table["count"] / table["count"].sum()
    return float((weights * (table["accuracy"] - table["confidence"]).abs()).sum())


def unseen_pairs(scores: torch.Tensor, seen, positives) -> tuple[torch.Tensor, torch.Tensor]:
    """0/1 labels and scores of every (user, item) pair of a ``(n_users, n_items)`` score matrix that is not
    ``seen``; a pair is labelled 1 when it is in ``positives``. Both are ``(user index, item index)`` arrays.
    Returns ``(labels, scores)``, two float64 vectors in row-major order, ready for :func:`fit_platt` or
    :func:`choose_threshold`."""
    s = as_matrix(scores, "scores")
    if not torch.isfinite(s).all():
        r, c = (~torch.isfinite(s)).nonzero()[0].tolist()
        raise ValueError(f"unseen_pairs: score ({r}, {c}) is {float(s[r, c])}; scores must be finite")
    for name, pairs in (("seen", seen), ("positives", positives)):
        if len(pairs) != 2 or len(pairs[0]) != len(pairs[1]):
            raise ValueError(f"unseen_pairs: {name} must be (user indices, item indices) of equal length")
        for axis, idx in enumerate(pairs):
            idx = torch.as_tensor(idx)
            if idx.numel() and (idx.is_floating_point() or int(idx.min()) < 0 or int(idx.max()) >= s.shape[axis]):
                raise ValueError(f"unseen_pairs: {name} {('user', 'item')[axis]} indices must be integers in "
                                 f"0..{s.shape[axis] - 1}")
    keep = torch.ones(s.shape, dtype=torch.bool)
    keep[torch.as_tensor(seen[0], dtype=torch.long), torch.as_tensor(seen[1], dtype=torch.long)] = False
    label = torch.zeros(s.shape, dtype=torch.bool)
    label[torch.as_tensor(positives[0], dtype=torch.long), torch.as_tensor(positives[1], dtype=torch.long)] = True
    if (label & ~keep).any():
        r, c = (label & ~keep).nonzero()[0].tolist()
        raise ValueError(f"unseen_pairs: pair ({r}, {c}) is both seen and positive")
    return label[keep].double(), s[keep].double()


def choose_threshold(labels, scores, objective: str = "f1") -> float:
    """The cut-off ``t`` (predict 1 when ``score >= t``) that maximises ``objective`` (``'f1'`` or ``'accuracy'``)
    on these (validation) pairs; apply it unchanged with :func:`apply_threshold` on test.

    Candidates are the cuts between consecutive distinct scores; the returned ``t`` is the midpoint between
    the lowest score kept and the next lower score (the lowest score itself if everything is kept), so that
    new scores falling in the gap are split evenly. Ties between cuts go to the highest threshold.
    """
    y, s = _labels_scores(labels, scores)
    if objective not in ("f1", "accuracy"):
        raise ValueError(f"objective must be 'f1' or 'accuracy', got {objective!r}")
    order = torch.argsort(s, descending=True, stable=True)
    s, y = s[order], y[order]
    tp, fp = torch.cumsum(y, 0), torch.cumsum(1 - y, 0)
    last = torch.ones_like(s, dtype=torch.bool)
    last[:-1] = s[1:] < s[:-1]  # last position of each run of equal scores: a valid cut
    n_pos, n = y.sum(), len(y)
    if objective == "f1":
        value = 2 * tp / (2 * tp + fp + (n_pos - tp))
    else:
        value = (tp + (n - n_pos - fp)) / n
    value = torch.where(last, value, torch.full_like(value, -1.0))
    j = int(torch.argmax(value))  # first maximum = highest threshold
    return float(s[j]) if j == n - 1 else float((s[j] + s[j + 1]) / 2)


def apply_threshold(scores, threshold: float) -> torch.Tensor:
    """``scores >= threshold`` as a bool tensor."""
    return torch.as_tensor(scores) >= threshold

"""Lists cut at a calibrated probability (seed 004's "keep the items above 0.5", made to mean something).

Once a score is calibrated (``rec.calibration.fit_platt`` on validation pairs), ``p_ui`` estimates the chance that
item ``i`` is one of user ``u``'s held-out items. Keeping the top-k items with ``p >= t`` then gives lists of varying
length, and calibration makes a promise that can be checked: among the items kept, the share that turn out
relevant (the **precision**) should match their **mean predicted probability**. :func:`threshold_report` measures
both, with the recall and how many items each user gets.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from xlrec_lib.rec.ranking_metrics import recall_at_k
from xlrec_lib.rec.topk import topk_to_ranked


def lists_above(ids, probs, threshold: float, user_ids=None, item_ids=None) -> tuple[dict, dict]:
    """``(ranked, kept_probs)``: per user id, the items of the top-k ``ids`` (n_users, k) whose ``probs``
    (n_users, k) are ``>= threshold``, in rank order, and the probabilities of those items."""
    p = torch.as_tensor(probs, dtype=torch.float64)
    ids = torch.as_tensor(ids)
    if p.shape != ids.shape:
        raise ValueError(f"probs {tuple(p.shape)} must have the shape of ids {tuple(ids.shape)}")
    if not (torch.isfinite(p).all() and p.min() >= 0 and p.max() <= 1):
        raise ValueError("probs must be probabilities in [0, 1]")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be a probability in [0, 1], got {threshold!r}")
    ranked = topk_to_ranked(ids, user_ids, item_ids, scores=p, min_score=threshold)
    kept = topk_to_ranked(torch.where((ids >= 0) & (p >= threshold), torch.arange(p.shape[1]), -1), user_ids)
    users = list(ranked)
    kept_probs = {u: p[row, kept_cols].tolist() for row, (u, kept_cols) in enumerate(zip(users, kept.values(),
                                                                                          strict=True))}
    return ranked, kept_probs


def threshold_report(ranked: Mapping, kept_probs: Mapping, relevant: Mapping, k: int) -> dict[str, float]:
    """For lists cut at a probability (:func:`lists_above`): ``precision`` (relevant share of all kept items),
    ``mean p`` (their mean predicted probability: equal to the precision when calibrated), ``recall@k``, the mean
    and the median ``items per user``, and the ``share of users with an empty list`` (over all users of ``ranked``)."""
    lengths = np.array([len(items) for items in ranked.values()])
    shown = int(lengths.sum())
    hits = sum(len(set(items) & set(relevant.get(u, ()))) for u, items in ranked.items())
    probs = [p for ps in kept_probs.values() for p in ps]
    if len(probs) != shown:
        raise ValueError(f"kept_probs holds {len(probs)} probabilities for {shown} kept items")
    return {
        "precision": hits / shown if shown else float("nan"),
        "mean p": float(np.mean(probs)) if probs else float("nan"),
        f"recall@{k}": recall_at_k(ranked, relevant, k),
        "items per user": float(lengths.mean()),
        "median items per user": float(np.median(lengths)),
        "share of users with an empty list": float((lengths == 0).mean()),
    }

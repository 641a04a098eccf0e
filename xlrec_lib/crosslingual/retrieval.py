"""Parallel-sentence retrieval: does each sentence find its translation among all the other language's sentences?
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def paired_retrieval(src: torch.Tensor, tgt: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """Retrieve, for each source row i, its partner tgt[i] among all target rows by cosine similarity.

    ``src``, ``tgt``: ``(n, dim)`` with row i of each a translation pair. Returns ``P@k`` (share of rows whose
    partner ranks in the top k) for each k and ``MRR`` (mean of 1 / rank of the partner). Ties count against
    us: the rank is 1 + the number of targets scoring strictly higher, plus those scoring equal but not the partner.
    """
    if src.shape != tgt.shape:
        raise ValueError(f"src {tuple(src.shape)} and tgt {tuple(tgt.shape)} must be paired row by row")
    s = torch.nn.functional.normalize(src.float(), dim=-1) @ torch.nn.functional.normalize(tgt.float(), dim=-1).T
    true = s.diagonal().unsqueeze(1)
    rank = (s > true).sum(1) + (s == true).sum(1)  # 1-based; the partner itself is one of the "equal"
    result = {f"P@{k}": (rank <= k).float().mean().item() for k in ks}
    result["MRR"] = (1.0 / rank.float()).mean().item()
    return result



def bidirectional_retrieval(a: torch.Tensor, b: torch.Tensor, src: str = "en", tgt: str = "zh",
                            ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """``paired_retrieval`` both ways, flat: ``{"en→zh P@1": ..., "en→zh MRR": ..., "zh→en P@1": ...}``."""

    out = {}
    for name, (x, y) in {f"{src}→{tgt}": (a, b), f"{tgt}→{src}": (b, a)}.items():
        out.update({f"{name} {metric}": value for metric, value in paired_retrieval(x, y, ks).items()})
    return out


def pair_similarities(a: torch.Tensor, b: torch.Tensor, n_random: int | None = None, seed: int = 0
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Cosines of the true pairs ``(a[i], b[i])`` and of random pairs ``(a[i], b[j])``, ``j != i`` (``n_random``
    of them, default as many as true pairs), for histograms of how well a space separates translations."""
    a, b = F.normalize(a.float(), dim=-1), F.normalize(b.float(), dim=-1)
    n = len(a)
    if n < 2:
        raise ValueError("pair_similarities needs at least two pairs")
    rng = np.random.default_rng(seed)
    i = rng.integers(n, size=n_random or n)
    j = (i + rng.integers(1, n, size=len(i))) % n  # never the partner itself
    true = (a * b).sum(-1).numpy()
    return true, (a[i] * b[j]).sum(-1).numpy()

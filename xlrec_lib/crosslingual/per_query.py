"""Per-query results of parallel-sentence retrieval: the rank of each sentence's translation.

``retrieval.paired_retrieval`` averages these ranks into P@k and MRR; keeping them per query lets a chapter count
hits (3 of 878 is not "0.3%" of anything stable) and put bootstrap intervals (``xlrec_lib.intervals``) on a
difference between two models measured on the same verses.
"""

from __future__ import annotations

import numpy as np
import torch

from xlrec_lib.vectors import check_k, cosine_matrix, target_ranks


def partner_ranks(src: torch.Tensor, tgt: torch.Tensor) -> np.ndarray:
    """For each row i, the 1-based rank of ``tgt[i]`` among all target rows by cosine to ``src[i]``, with the one
    tie rule (``vectors.target_ranks``: ties count against the partner), as in ``paired_retrieval``. ``(n,)``."""
    if src.shape != tgt.shape:
        raise ValueError(f"src {tuple(src.shape)} and tgt {tuple(tgt.shape)} must be paired row by row")
    return target_ranks(cosine_matrix(src.float(), tgt.float()), np.arange(len(src)))


def hits_at(src: torch.Tensor, tgt: torch.Tensor, k: int = 1) -> np.ndarray:
    """``(n,)`` 0/1 floats: 1 where the translation ranks in the top ``k``."""
    return (partner_ranks(src, tgt) <= check_k(k)).astype(float)


__all__ = ["partner_ranks", "hits_at"]

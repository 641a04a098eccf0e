"""Re-ranking a candidate list for diversity: maximal marginal relevance and a genre-coverage constraint.

Both take, per user, ``m`` candidates in rank order (``candidates`` (n_users, m) item row indices, -1 for an empty
slot, e.g. a :class:`xlrec_lib.rec.topk.TopK` of ``m > k`` items) and return ``k`` of them, ``(n_users, k)``.

**MMR** (Carbonell and Goldstein 1998) builds the list greedily. With ``S`` the items picked so far, the next is

    argmax_{c not in S}  lam * r_c - (1 - lam) * max_{s in S} sim(c, s)       (max over an empty S: 0)

where ``sim`` is the cosine of the items' vectors (for us their genre vectors) and ``r_c`` the candidate's score
rescaled per user to [0, 1] over its candidates (``(s_c - min) / (max - min)``; all 1 when they are equal), so that
relevance and similarity share one scale. ``lam = 1`` keeps the ranking; ``lam = 0`` takes the first candidate and
then, each time, the one least similar to the list so far. Ties go to the candidate ranked higher.

**Genre coverage** keeps the ranking but guarantees (when the candidates allow) that the ``k`` items span at least
``min_genres`` genres: walking down the ranking, it takes the best remaining candidate, except when the slots left
are no more than the genres still missing; then it takes the highest-ranked candidate that adds enough missing
genres for the slots after it to cover the rest (``missing - slots_left + 1``, or as many as any candidate adds).
A user whose candidates hold fewer genres gets as many as they hold, in the list that floor would give.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from xlrec_lib.rec import beyond_accuracy, ranking_metrics
from xlrec_lib.rec.topk import topk_to_ranked
from xlrec_lib.vectors import normalize_rows


def _candidates(candidates, k: int, name: str = "candidates") -> torch.Tensor:
    c = torch.as_tensor(candidates)
    if c.ndim != 2 or c.is_floating_point():
        raise ValueError(f"{name} must be an (n_users, m) integer matrix of item rows, got {c.dtype} {tuple(c.shape)}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= c.shape[1]:
        raise ValueError(f"k must be an integer in 1..{c.shape[1]} (the number of candidates), got {k!r}")
    return c.long()


def rescale_scores(scores: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Per row, ``(s - min) / (max - min)`` over the ``valid`` entries (1 where max == min), 0 elsewhere."""
    s = torch.where(valid, scores.double(), torch.nan)
    lo, hi = torch.nan_to_num(s, nan=torch.inf).amin(1, keepdim=True), torch.nan_to_num(s, nan=-torch.inf).amax(
        1, keepdim=True)
    spread = hi - lo
    out = torch.where(spread > 0, (s - lo) / torch.where(spread > 0, spread, torch.ones_like(spread)),
                      torch.ones_like(s))
    return torch.where(valid, out, torch.zeros_like(out))


def mmr_rerank(candidates, scores, item_vectors, k: int, lam: float) -> torch.Tensor:
    """MMR re-ranking (module docstring): ``(n_users, m)`` candidates and their ``(n_users, m)`` scores, item vectors
    ``(n_items, dim)`` -> ``(n_users, k)`` item rows (-1 where a user has fewer than ``k`` candidates)."""
    c = _candidates(candidates, k)
    s = torch.as_tensor(scores)
    if s.shape != c.shape:
        raise ValueError(f"scores {tuple(s.shape)} must have the shape of candidates {tuple(c.shape)}")
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must lie in [0, 1], got {lam!r}")
    v = torch.as_tensor(item_vectors)
    if v.ndim != 2 or (c.max() >= v.shape[0]):
        raise ValueError(f"item_vectors must be (n_items, dim) with a row for every candidate, got {tuple(v.shape)}")
    valid = c >= 0
    if not torch.isfinite(torch.where(valid, s.double(), 0.0)).all():
        raise ValueError("scores of the candidates must be finite")
    unit = normalize_rows(v.double())[c.clamp_min(0)]  # (n_users, m, dim)
    sim = unit @ unit.transpose(1, 2)  # (n_users, m, m)
    rel = rescale_scores(s, valid)
    n_users, m = c.shape
    taken = ~valid  # an empty slot can never be taken
    max_sim = torch.zeros(n_users, m, dtype=torch.float64)
    picks = torch.full((n_users, k), -1, dtype=torch.long)
    rows = torch.arange(n_users)
    for slot in range(k):
        gain = lam * rel - (1 - lam) * max_sim
        gain = torch.where(taken, -torch.inf, gain)
        best = torch.argmax(gain, dim=1)  # first maximum: the higher-ranked candidate wins ties
        ok = ~taken[rows, best]
        picks[rows[ok], slot] = c[rows[ok], best[ok]]
        taken[rows, best] = True
        max_sim = torch.maximum(max_sim, sim[rows, best])
    return picks


def genre_coverage_rerank(candidates, item_genres, k: int, min_genres: int) -> torch.Tensor:
    """The first ``k`` candidates, re-ordered so that they span at least ``min_genres`` genres where the candidates
    allow (module docstring): ``(n_users, m)`` candidates, ``(n_items, n_genres)`` multi-hot genres ->
    ``(n_users, k)`` item rows (-1 where a user has fewer than ``k`` candidates)."""
    c = _candidates(candidates, k).numpy()
    g = np.asarray(item_genres) > 0
    if g.ndim != 2 or c.max() >= g.shape[0]:
        raise ValueError(f"item_genres must be (n_items, n_genres) with a row for every candidate, got {g.shape}")
    if isinstance(min_genres, bool) or not isinstance(min_genres, (int, np.integer)) or min_genres < 0:
        raise ValueError(f"min_genres must be an integer >= 0, got {min_genres!r}")
    out = np.full((len(c), k), -1, dtype=np.int64)
    for u, row in enumerate(c):
        row = row[row >= 0]
        free = np.ones(len(row), dtype=bool)
        covered = np.zeros(g.shape[1], dtype=bool)
        # a floor the candidates cannot reach is the one they can: it would otherwise force genre-adding films
        # into earlier slots than that floor needs, and reorder the list for nothing
        reachable = min(min_genres, int(g[row].any(axis=0).sum()))
        for slot in range(min(k, len(row))):
            missing = reachable - covered.sum()
            j = int(np.argmax(free))  # best remaining candidate
            if missing > 0 and missing >= k - slot:
                new = np.where(free, (g[row] & ~covered).sum(axis=1), -1)
                need = min(missing - (k - slot) + 1, new.max())
                if need > 0:
                    j = int(np.argmax(new >= need))  # the highest-ranked candidate adding enough
            out[u, slot] = row[j]
            free[j] = False
            covered |= g[row[j]]
    return torch.from_numpy(out)


def rerank_sweep(candidates, scores, item_genres, k: int, lams, min_genres, relevant, user_ids,
                 item_ids) -> pd.DataFrame:
    """Every re-ranking of the ``(n_users, m)`` candidates (item rows, with their ``(n_users, m)`` scores): MMR over
    the genre vectors ``(n_items, n_genres)`` at each ``lam`` of ``lams``, then the genre-coverage constraint at each
    ``G`` of ``min_genres``. One row each: ``method``, ``setting``, ``NDCG@k`` of the lists against ``relevant``
    (user id -> item ids; rows of ``candidates`` are ``user_ids``, item rows index ``item_ids``), their intra-list
    genre ``diversity`` and catalogue ``coverage``."""
    rows = []
    for method, values in (("MMR", lams), ("genre coverage", min_genres)):
        for value in values:
            ids = (mmr_rerank(candidates, scores, item_genres, k, lam=value) if method == "MMR"
                   else genre_coverage_rerank(candidates, item_genres, k, value))
            ranked = topk_to_ranked(ids, user_ids, item_ids)
            rows.append({"method": method, "setting": value,
                         f"NDCG@{k}": ranking_metrics.ndcg_at_k(ranked, relevant, k),
                         "diversity": beyond_accuracy.intra_list_diversity(ranked, item_genres, k, item_ids=item_ids),
                         "coverage": beyond_accuracy.catalog_coverage(ranked, item_ids, k)})
    return pd.DataFrame(rows)


def choose_mmr_lambda(sweep: pd.DataFrame, k: int, max_loss: float = 0.05) -> float:
    """The MMR ``lam`` of a :func:`rerank_sweep` table (it must hold ``lam = 1``, the plain ranking) with the highest
    diversity among those whose ``NDCG@k`` is at least ``(1 - max_loss)`` times the plain ranking's."""
    mmr = sweep[sweep["method"] == "MMR"].set_index("setting")
    if 1.0 not in mmr.index:
        raise ValueError("choose_mmr_lambda: the sweep has no MMR row at lambda = 1 (the plain ranking)")
    ok = mmr[mmr[f"NDCG@{k}"] >= (1 - max_loss) * mmr.loc[1.0, f"NDCG@{k}"]]
    return float(ok["diversity"].idxmax())

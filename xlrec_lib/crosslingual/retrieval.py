"""Parallel-sentence retrieval: does each sentence find its translation among all the other language's sentences?

Result keys follow the library's one style, ``<metric>@<k>`` when cut at k and ``<metric>`` alone when not:
``P@1``, ``P@5``, ``MRR``. ``P@k`` is MUSE's "precision at k": the share of queries whose translation is among
their k best candidates (the hit rate at k; with one translation per query it is ``HR@k`` of
``rec.ranking_metrics``, and equals its ``P@k`` only at k = 1). Ranks follow :func:`xlrec_lib.vectors.target_ranks`:
ties count against the query.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from xlrec_lib.vectors import check_ks, cosine_matrix, positive_int, target_ranks

SCORINGS = ("cosine", "csls")


def retrieval_scores(src: torch.Tensor, tgt: torch.Tensor, scoring: str = "cosine", k: int = 10) -> np.ndarray:
    """``(n_src, n_tgt)`` scores of every source row against every target row: ``"cosine"``, or ``"csls"``, the
    word level's hub correction applied to sentences (``word_mapping.csls_scores``: ``2 cos(x, y) - r_T(x) -
    r_S(y)``, ``r`` the mean cosine to the ``k`` nearest rows of the other side). CSLS reads the other queries'
    vectors (no label): a target near every query, a hub, loses the pull that wins it many queries by cosine."""
    from xlrec_lib.crosslingual.word_mapping import csls_scores

    if scoring not in SCORINGS:
        raise ValueError(f"scoring must be one of {SCORINGS}, got {scoring!r}")
    a, b = torch.as_tensor(src).detach().float().cpu(), torch.as_tensor(tgt).detach().float().cpu()
    if scoring == "cosine":
        return cosine_matrix(a, b).numpy()
    return csls_scores(a.numpy(), b.numpy(), k=k)


def paired_retrieval(src: torch.Tensor, tgt: torch.Tensor, ks: tuple[int, ...] = (1, 5), scoring: str = "cosine",
                     csls_k: int = 10) -> dict[str, float]:
    """Retrieve, for each source row i, its partner tgt[i] among all target rows by cosine similarity (or by CSLS,
    ``scoring="csls"`` with ``csls_k`` neighbours: :func:`retrieval_scores`).

    ``src``, ``tgt``: ``(n, dim)`` with row i of each a translation pair. With ``rank_i`` the partner's rank
    (ties against us, :func:`xlrec_lib.vectors.target_ranks`):

    - ``P@k = mean_i [rank_i <= k]`` for each k in ``ks``;
    - ``MRR = mean_i 1 / rank_i`` (not cut at any k).
    """
    ks = check_ks(ks)
    src, tgt = torch.as_tensor(src), torch.as_tensor(tgt)
    if src.shape != tgt.shape or src.ndim != 2:
        raise ValueError(f"src {tuple(src.shape)} and tgt {tuple(tgt.shape)} must be (n, dim) paired row by row")
    if len(src) == 0:
        raise ValueError("paired_retrieval: no pairs")
    for name, x in (("src", src), ("tgt", tgt)):
        bad = ~torch.isfinite(x).all(dim=1)
        if bad.any():
            raise ValueError(f"paired_retrieval: {name} row {int(bad.nonzero()[0])} is not finite")
    rank = target_ranks(retrieval_scores(src, tgt, scoring, csls_k), np.arange(len(src)))
    result = {f"P@{k}": float((rank <= k).mean()) for k in ks}
    result["MRR"] = float((1.0 / rank).mean())
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
    a, b = (torch.as_tensor(x).detach().float().cpu() for x in (a, b))
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"pair_similarities: a {tuple(a.shape)} and b {tuple(b.shape)} must be (n, dim), paired row "
                         "by row")
    for name, x in (("a", a), ("b", b)):
        bad = (~torch.isfinite(x)).any(dim=1)
        if bad.any():
            raise ValueError(f"pair_similarities: {name} row {int(bad.nonzero()[0])} is not finite (a NaN row has no "
                             "cosine)")
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    n = len(a)
    if n < 2:
        raise ValueError("pair_similarities needs at least two pairs")
    rng = np.random.default_rng(seed)
    i = rng.integers(n, size=n if n_random is None else positive_int(n_random, "n_random"))
    j = (i + rng.integers(1, n, size=len(i))) % n  # never the partner itself
    true = (a * b).sum(-1).numpy()
    return true, (a[i] * b[j]).sum(-1).numpy()


def retrieval_matrix(embeddings: dict[str, torch.Tensor], ks: tuple[int, ...] = (1, 5), scoring: str = "cosine",
                     csls_k: int = 10) -> pd.DataFrame:
    """``paired_retrieval`` for every directed pair of languages: ``embeddings`` maps a language to ``(n, dim)``
    vectors of the same n sentences (row i a translation of row i in every language). One row per ``(src, tgt)``,
    ``src != tgt``, columns ``P@k`` and ``MRR``; ``.pivot(index="src", columns="tgt", values="P@1")`` gives the
    square table for a heatmap. ``scoring``, ``csls_k``: as in :func:`paired_retrieval`."""
    langs = list(embeddings)
    rows = [{"src": a, "tgt": b, **paired_retrieval(embeddings[a], embeddings[b], ks, scoring, csls_k)}
            for a in langs for b in langs if a != b]
    if not rows:
        raise ValueError("retrieval_matrix needs at least two languages")
    return pd.DataFrame(rows)


def pair_summary(table: pd.DataFrame, trained, pivot: str = "en", focus: tuple[str, str] = ("en", "zh")
                 ) -> dict[str, float]:
    """One encoder's ``retrieval_matrix`` in one row: means of ``P@k`` and ``MRR`` over the directed pairs; P@1
    over the pairs with and without ``pivot``; the lowest P@1 among the ``trained`` pairs (unordered ``(a, b)``
    tuples) and among the others (NaN when every pair was trained); the mean P@1 of ``focus``'s two directions;
    and the fairness ratio, the worst directed P@1 over the best."""
    trained = {frozenset(p) for p in trained}
    is_trained = np.array([frozenset(p) in trained for p in zip(table["src"], table["tgt"], strict=True)])
    with_pivot = ((table["src"] == pivot) | (table["tgt"] == pivot)).to_numpy()
    is_focus = (table["src"].isin(focus) & table["tgt"].isin(focus)).to_numpy()
    p1 = table["P@1"].to_numpy()
    if not is_focus.any():
        raise ValueError(f"pair_summary: the table has no pair {focus}")
    out = {col: float(table[col].mean()) for col in table.columns if col.startswith("P@") or col == "MRR"}
    out.update({
        f"P@1 with {pivot}": float(p1[with_pivot].mean()) if with_pivot.any() else float("nan"),
        f"P@1 without {pivot}": float(p1[~with_pivot].mean()) if (~with_pivot).any() else float("nan"),
        "min trained": float(p1[is_trained].min()) if is_trained.any() else float("nan"),
        "min untrained": float(p1[~is_trained].min()) if (~is_trained).any() else float("nan"),
        f"P@1 {'-'.join(focus)}": float(p1[is_focus].mean()),
        "worst / best": float(p1.min() / p1.max()) if p1.max() > 0 else float("nan"),
    })
    return out


def undirected(table: pd.DataFrame, metric: str = "P@1", without: str | None = None) -> pd.Series:
    """``metric`` of a ``retrieval_matrix`` per unordered language pair (``"fr-zh"``: the mean of its two directions),
    leaving out every pair that involves ``without`` (e.g. the pivot, to see the pairs never trained with it)."""
    if without is not None:
        table = table[(table["src"] != without) & (table["tgt"] != without)]
    if table.empty:
        raise ValueError(f"undirected: no pair left without {without!r}")
    names = ["-".join(sorted(p)) for p in zip(table["src"], table["tgt"], strict=True)]
    return table.groupby(names)[metric].mean().rename(metric)

"""Word-level mapping between two languages' vector spaces (the MUSE recipe).

Procrustes fits the orthogonal map on a seed lexicon; nearest-neighbour or CSLS retrieval translates; the MUSE
evaluation reports word-translation P@k both ways on test words never seen when fitting.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from xlrec_lib.vectors import check_k, check_ks, cosine_matrix, normalize_rows, target_ranks


def normalize_center(vectors: np.ndarray) -> np.ndarray:
    """Unit length, mean-centred, unit length again (the MUSE/VecMap preprocessing): ``(n, dim)`` -> ``(n, dim)``.
    A zero row (a word without a vector) stays zero, and counts in the mean as a zero."""
    x = normalize_rows(np.asarray(vectors, dtype=np.float64))  # zero rows stay zero
    zero = ~x.any(axis=1)
    out = normalize_rows(x - x.mean(0, keepdims=True))
    out[zero] = 0.0  # a word without a vector stays without one, not on the one point -mean/|mean| (a hub)
    return out


def procrustes(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """The orthogonal ``W`` ``(dim, dim)`` minimising ``||X W - Y||_F`` for paired rows ``X, Y`` ``(n, dim)``.

    Schönemann (1966): with ``U S V^T = svd(X^T Y)``, ``W = U V^T``.
    """
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    if X.shape != Y.shape or X.ndim != 2:
        raise ValueError(f"procrustes needs paired rows of equal width, got X {X.shape} and Y {Y.shape}")
    if len(X) == 0:
        raise ValueError("procrustes: no pairs to fit")
    u, _, vt = np.linalg.svd(X.T @ Y)
    return u @ vt


def _mean_top_k(sim: np.ndarray, k: int) -> np.ndarray:
    k = min(k, sim.shape[1])
    return np.partition(sim, sim.shape[1] - k, axis=1)[:, -k:].mean(1)


def csls_scores(src: np.ndarray, tgt: np.ndarray, k: int = 10, rows: Sequence[int] | None = None,
                chunk: int = 2048) -> np.ndarray:
    """Cross-domain similarity local scaling of source rows against every target row: ``(n_rows, n_tgt)``.

    ``CSLS(x, y) = 2 cos(x, y) - r_T(x) - r_S(y)``, where ``r_T(x)`` is the mean cosine of ``x`` to its ``k``
    nearest targets and ``r_S(y)`` the mean cosine of ``y`` to its ``k`` nearest sources (Conneau et al. 2018).
    ``src`` ``(n_src, dim)`` are the (already mapped) source vectors, all of which make up the source neighbourhood;
    ``rows`` picks the source rows to score (default: all).
    """
    src, tgt = np.asarray(src, dtype=np.float64), np.asarray(tgt, dtype=np.float64)
    if src.ndim != 2 or tgt.ndim != 2 or src.shape[1] != tgt.shape[1]:
        raise ValueError(f"csls_scores: src {src.shape} and tgt {tgt.shape} must be (n, dim) of the same dim")
    k = check_k(k)
    if min(len(src), len(tgt)) < k:
        raise ValueError(f"csls_scores: k={k} exceeds the number of rows (src {len(src)}, tgt {len(tgt)})")
    query = src if rows is None else src[np.asarray(rows, dtype=np.int64)]
    cos = cosine_matrix(query, tgt)
    r_t = _mean_top_k(cos, k)
    r_s = np.concatenate([_mean_top_k(cosine_matrix(tgt[i:i + chunk], src), k) for i in range(0, len(tgt), chunk)])
    return 2 * cos - r_t[:, None] - r_s[None, :]


def lexicon_indices(pairs, src_vocab: Sequence[str], tgt_vocab: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(src_idx, tgt_idx)`` of the lexicon pairs (``source, target`` columns) whose both words are in
    the vocabularies; pairs with a word outside them are left out (count them with ``len``)."""
    s_index = {w: i for i, w in enumerate(src_vocab)}
    t_index = {w: i for i, w in enumerate(tgt_vocab)}
    kept = [(s_index[s], t_index[t]) for s, t in zip(pairs["source"], pairs["target"], strict=True)
            if s in s_index and t in t_index]
    if not kept:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return tuple(np.array(c, dtype=np.int64) for c in zip(*kept, strict=True))


def translation_ranks(scores: np.ndarray, gold: Sequence[set[int]]) -> np.ndarray:
    """``(n_query,)`` rank of each query's best gold target (1 = first) among all targets of ``scores``
    ``(n_query, n_tgt)``; ``gold[i]`` is a non-empty set of target indices. Ties count against the query
    (:func:`xlrec_lib.vectors.target_ranks`)."""
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be (n_query, n_tgt), got shape {scores.shape}")
    if isinstance(gold, (str, bytes)) or len(gold) != len(scores):
        raise ValueError(f"{len(scores)} score rows but gold is {gold!r:.60}: give one set of target indices per row")
    mask = np.zeros(scores.shape, dtype=bool)
    for i, g in enumerate(gold):
        if isinstance(g, (str, bytes)) or not isinstance(g, (set, frozenset, list, tuple, np.ndarray)):
            raise ValueError(f"gold[{i}] must be a set of target indices, got {g!r}")
        idx = np.asarray(list(g))
        if idx.size == 0 or not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0 or idx.max() >= scores.shape[1]:
            raise ValueError(f"gold[{i}] must be a non-empty set of target indices in 0..{scores.shape[1] - 1}, "
                             f"got {g!r}")
        mask[i, idx] = True
    return target_ranks(scores, mask)


def translation_accuracy(scores: np.ndarray, gold: Sequence[set[int]],
                         ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """``P@k`` of word translation: share of queries (rows of ``scores`` ``(n_query, n_tgt)``) with at least one of
    their gold target indices ``gold[i]`` (a non-empty set) among their ``k`` best-scoring targets (any gold
    counts, as in MUSE): ``P@k = mean_i [rank_i <= k]`` with ``rank_i`` from :func:`translation_ranks`."""
    return _precision_at(translation_ranks(scores, gold), check_ks(ks))


def _precision_at(rank: np.ndarray, ks: tuple[int, ...]) -> dict[str, float]:
    return {f"P@{cut}": float((rank <= cut).mean()) for cut in ks}


def word_translation(src_vecs: np.ndarray, tgt_vecs: np.ndarray, src_vocab: Sequence[str],
                     tgt_vocab: Sequence[str], test_pairs, method: str = "csls", k: int = 10,
                     ks: tuple[int, ...] = (1, 5), hits: bool = False) -> dict:
    """Word translation ``P@k`` of the (already mapped) source vectors against the whole target vocabulary.

    ``test_pairs``: frame with ``source, target``; queries are the source words that are in ``src_vocab`` and have at
    least one target in ``tgt_vocab``. ``method``: ``"nn"`` (cosine) or ``"csls"``. Also returns ``n_queries``, and
    with ``hits`` the ``(n_queries,)`` 0/1 Series ``hits@1`` indexed by query word (the same queries for both
    methods: pair them by index for paired intervals).
    """
    if method not in ("nn", "csls"):
        raise ValueError(f"method must be 'nn' or 'csls', got {method!r}")
    ks = check_ks(ks)
    s_idx, t_idx = lexicon_indices(test_pairs, src_vocab, tgt_vocab)
    queries = sorted(set(s_idx.tolist()))
    gold = [set(t_idx[s_idx == q].tolist()) for q in queries]
    if not queries:
        raise ValueError("word_translation: no test pair has both words in the vocabularies")
    if method == "nn":
        scores = cosine_matrix(np.asarray(src_vecs)[queries], np.asarray(tgt_vecs))
    else:  # the whole mapped source vocabulary is the neighbourhood of each target
        scores = csls_scores(src_vecs, tgt_vecs, k, rows=queries)
    rank = translation_ranks(scores, gold)  # ranked once: P@k and hits@1 read the same ranks
    out = {**_precision_at(rank, ks), "n_queries": len(queries)}
    if hits:
        words = pd.Index([src_vocab[q] for q in queries], name="source")
        out["hits@1"] = pd.Series((rank <= 1).astype(float), index=words, name="hits@1")
    return out


def reverse_test_pairs(train_pairs, test_pairs):
    """Test pairs for the reverse direction (target -> source words): the test pairs whose target word is never a
    target in ``train_pairs``, with the columns swapped, so that no query word was seen when fitting."""
    seen = set(train_pairs["target"])
    kept = test_pairs[~test_pairs["target"].isin(seen)]
    return kept.rename(columns={"source": "target", "target": "source"})[["source", "target"]].reset_index(drop=True)


def fit_mapping(src_vecs: np.ndarray, tgt_vecs: np.ndarray, src_vocab: Sequence[str], tgt_vocab: Sequence[str],
                train_pairs) -> tuple[np.ndarray, int]:
    """Procrustes ``W`` fitted on the training lexicon pairs found in both vocabularies; returns ``(W, n_pairs)``."""
    s_idx, t_idx = lexicon_indices(train_pairs, src_vocab, tgt_vocab)
    if len(s_idx) == 0:
        raise ValueError("fit_mapping: no training pair has both words in the vocabularies")
    return procrustes(np.asarray(src_vecs)[s_idx], np.asarray(tgt_vecs)[t_idx]), len(s_idx)


def muse_evaluation(src_vectors, tgt_vectors, train_pairs, test_pairs, k: int = 10,
                    src: str = "en", tgt: str = "zh", hits: bool = False) -> tuple[list[dict], np.ndarray]:
    """The MUSE supervised protocol both ways: normalise and centre, fit Procrustes on ``train_pairs`` (``source`` in
    ``src``), then P@1/P@5 by nearest neighbour and by CSLS, ``src -> tgt`` on ``test_pairs`` and ``tgt -> src`` on
    ``reverse_test_pairs``. ``*_vectors`` are ``WordVectors`` (``.words``, ``.vectors``).
    Returns ``(rows, W)`` with one row per direction and method (with ``hits``, each row also holds its per-query
    ``hits@1``, see :func:`word_translation`)."""
    X, Y = normalize_center(src_vectors.vectors), normalize_center(tgt_vectors.vectors)
    W, n_pairs = fit_mapping(X, Y, src_vectors.words, tgt_vectors.words, train_pairs)
    reverse = reverse_test_pairs(train_pairs, test_pairs)
    rows = []
    for direction, (q, qv, t, tv, pairs) in {
        f"{src}→{tgt}": (X @ W, src_vectors.words, Y, tgt_vectors.words, test_pairs),
        f"{tgt}→{src}": (Y @ W.T, tgt_vectors.words, X, src_vectors.words, reverse),  # W orthogonal: inverse = W^T
    }.items():
        for method in ("nn", "csls"):
            out = word_translation(q, t, qv, tv, pairs, method=method, k=k, hits=hits)
            rows.append({"direction": direction, "method": method.upper(), **out, "train_pairs": n_pairs})
    return rows, W

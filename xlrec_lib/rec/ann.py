"""Approximate nearest neighbours (faiss HNSW and IVF-PQ) measured against the library's exact top-k.

For a catalogue of unit rows ``X (n, d)`` float32 and queries ``Q (m, d)``, the exact top-k by inner product (the
cosine) is :func:`xlrec_lib.rec.topk.topk`, which reads every row for every query. An index trades recall for
speed and memory:

- HNSW (``faiss.IndexHNSWFlat``, inner product): a layered graph with ``m`` links per vector; a query walks it
  greedily, keeping the ``ef_search`` best candidates. Stores the full vectors plus about ``2 m`` int32 links per
  vector; build time grows with ``ef_construction``.
- IVF-PQ (``faiss.IndexIVFPQ``, squared L2): k-means cuts the catalogue into ``nlist`` lists; each vector is
  stored as ``m`` codes of ``nbits`` bits (product quantisation of its residual to the list centroid); a query
  scans the ``nprobe`` lists whose centroids are nearest. About ``n (m nbits / 8 + 8)`` bytes (codes and int64 ids).
  On unit rows ``|q - x|^2 = 2 - 2 q.x``, so L2 ranks as the cosine does, and it is the robust choice under
  quantisation. With a code ``x^ = x + e``, ranking by L2 ranks by ``q.x^ - |x^|^2 / 2 = q.x - 1/2 + (q - x).e -
  |e|^2 / 2``, so the error enters as ``(q - x).e`` where the inner product takes ``q.e``. In a catalogue whose
  vectors crowd into a narrow cone, as the course's tiny BERT's do, ``|q - x| = sqrt(2 - 2 q.x)`` is small against
  ``|q| = 1`` for a query's nearest rows; chapter 9 prints the cosines, that length and the recall of both
  metrics on its catalogue (full mode: every translation). ``search`` turns L2 distances back into cosines.
  ``refine_exactly`` adds an exact second pass over more candidates.

Quality: ``recall@k vs exact = mean_q |approx_q & exact_q| / k``, the share of the exact top k that the index
returns. Latency: seconds per query, queries sent ``batch`` at a time (``batch=1``: a reader at a time, as online).
Memory: the bytes of ``faiss.serialize_index`` (for exact search, the float32 catalogue).
``rec.topk`` lays the catalogue out in tiles on every call (measured on 50,000 x 128, one thread: 113 ms per
query sent alone, 1.8 ms per query in batches of 64), so it is timed on all queries at once; ``faiss.IndexFlatIP``
(:func:`build_flat`), exact too, is the brute-force baseline at the indexes' batch size (2.0 ms per query alone).
faiss threads follow OpenMP (``faiss.omp_set_num_threads``), the exact search torch's thread count.
"""

from __future__ import annotations

import math
import time

import faiss
import numpy as np
import pandas as pd
import torch

from xlrec_lib.rec.topk import topk
from xlrec_lib.timing import time_call
from xlrec_lib.vectors import check_k, first_non_unit_row, positive_int

# Stated defaults. HNSW: faiss's own ef_construction (40) and a twice-larger m than its 16 (better recall on
# 256-768 dims at 2x links memory); IVF-PQ: ~sqrt(n) lists, 8-bit codes of d/8 sub-vectors (32x smaller than float32).
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 40, 64
IVF_NBITS, IVF_NPROBE, IVF_TRAIN_PER_LIST = 8, 16, 50
IVF_REFINE_FACTOR = 10  # candidates re-scored exactly per result kept (refine_exactly)


def check_vectors(x, name: str = "catalogue") -> np.ndarray:
    """``x`` as a C-contiguous ``(n, d)`` float32 numpy array of unit rows (numpy or torch in), else ValueError:
    not 2-D or empty, another dtype (no silent cast: a float64 catalogue would double the memory measured), a NaN or
    infinity (its row named), a row whose norm is not 1 (an inner-product index then ranks by length too)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{name} must be a numpy array or torch tensor, got {type(x).__name__}")
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty (n, d) matrix, got shape {x.shape}")
    if x.dtype != np.float32:
        raise ValueError(f"{name} must be float32, got {x.dtype}: convert with .astype(np.float32)")
    bad = ~np.isfinite(x).all(1)
    if bad.any():
        raise ValueError(f"{name} row {int(np.flatnonzero(bad)[0])} is not finite ({int(bad.sum())} of {len(x)} "
                         "rows hold NaN or inf)")
    if (off := first_non_unit_row(x, allow_zero=False)) is not None:
        raise ValueError(f"{name} row {off[0]} has norm {off[1]:.4g}, not 1: normalise the rows first "
                         "(xlrec_lib.vectors.normalize_rows)")
    return np.ascontiguousarray(x)


def exact_search(queries, catalogue, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The exact top ``k``: ``(m, d), (n, d) -> (ids (m, k) int64, scores (m, k) float32)`` via ``rec.topk``."""
    q, x = check_vectors(queries, "queries"), check_vectors(catalogue, "catalogue")
    if q.shape[1] != x.shape[1]:
        raise ValueError(f"queries have dim {q.shape[1]} but the catalogue has dim {x.shape[1]}")
    found = topk(torch.from_numpy(q), torch.from_numpy(x), check_k(k))
    return found.ids.numpy(), found.scores.numpy()


def build_flat(catalogue) -> faiss.Index:
    """faiss's exact inner-product index of ``catalogue (n, d)``: brute force, the latency baseline of an ANN."""
    x = check_vectors(catalogue)
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    return index


def build_hnsw(catalogue, m: int = HNSW_M, ef_construction: int = HNSW_EF_CONSTRUCTION,
               ef_search: int = HNSW_EF_SEARCH) -> faiss.Index:
    """An HNSW inner-product index of ``catalogue (n, d)`` (module docstring); ids are row positions."""
    x = check_vectors(catalogue)
    index = faiss.IndexHNSWFlat(x.shape[1], positive_int(m, "m"), faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = positive_int(ef_construction, "ef_construction")
    index.hnsw.efSearch = positive_int(ef_search, "ef_search")
    index.add(x)
    return index


def build_ivfpq(catalogue, nlist: int | None = None, m: int | None = None, nbits: int = IVF_NBITS,
                nprobe: int = IVF_NPROBE, train_size: int | None = None, seed: int = 0,
                metric: str = "l2") -> faiss.Index:
    """An IVF-PQ index of ``catalogue (n, d)`` (module docstring); ids are row positions. ``metric``: ``"l2"``
    (ranks unit rows as the cosine does, and keeps that order under quantisation) or ``"ip"`` (the inner product,
    to show what it loses on crowded vectors).

    Defaults: ``nlist = round(sqrt(n))``, ``m = d / 8`` sub-vectors (``d`` must then be a multiple of 8; else pass
    an ``m`` dividing ``d``), trained on a seeded sample of ``train_size = min(n, max(IVF_TRAIN_PER_LIST * nlist,
    39 * 2^nbits))`` rows (k-means cost grows with it; faiss asks for 39 points per centroid at least, for the
    coarse lists and for every sub-quantizer).
    """
    x = check_vectors(catalogue)
    n, d = x.shape
    nlist = positive_int(nlist if nlist is not None else max(1, round(math.sqrt(n))), "nlist")
    if m is None:
        if d % 8:
            raise ValueError(f"build_ivfpq: d = {d} is not a multiple of 8; pass m, a divisor of {d}")
        m = d // 8
    if d % positive_int(m, "m"):
        raise ValueError(f"build_ivfpq: m = {m} sub-vectors must divide d = {d}")
    # faiss wants 39 points per centroid: nlist coarse centroids, and 2^nbits for each sub-quantizer
    default = min(n, max(IVF_TRAIN_PER_LIST * nlist, 39 * 2 ** nbits))
    train_size = positive_int(train_size if train_size is not None else default, "train_size")
    if train_size > n or train_size < max(nlist, 2 ** nbits):
        raise ValueError(f"build_ivfpq: train_size {train_size} must lie in max(nlist, 2^nbits) = "
                         f"{max(nlist, 2 ** nbits)} .. n = {n}")
    if metric not in ("l2", "ip"):
        raise ValueError(f"build_ivfpq: metric must be 'l2' or 'ip', got {metric!r}")
    quantizer = faiss.IndexFlatL2(d) if metric == "l2" else faiss.IndexFlatIP(d)
    index = faiss.IndexIVFPQ(quantizer, d, nlist, m, positive_int(nbits, "nbits"),
                             faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = seed
    index.pq.cp.seed = seed
    sample = np.random.default_rng(seed).choice(n, size=train_size, replace=False)
    index.train(x[np.sort(sample)])
    index.add(x)
    index.nprobe = min(positive_int(nprobe, "nprobe"), nlist)
    return index


def refine_exactly(index: faiss.Index, catalogue, k_factor: int = IVF_REFINE_FACTOR) -> faiss.Index:
    """``index`` (built on ``catalogue (n, d)``) with an exact second pass (``faiss.IndexRefineFlat``): it asks
    ``index`` for ``k_factor * k`` candidates and re-scores them against a copy of the float32 vectors, keeping the
    best ``k``. Recall comes back at the cost of the vectors' memory, which the compact codes had saved."""
    x = check_vectors(catalogue)
    if index.ntotal != len(x) or index.d != x.shape[1]:
        raise ValueError(f"refine_exactly: the index holds {index.ntotal} vectors of dim {index.d}, the catalogue "
                         f"{len(x)} of dim {x.shape[1]}")
    # copies x into its own flat index; faiss keeps a reference to the base index
    refined = faiss.IndexRefineFlat(index, faiss.swig_ptr(x))
    refined.k_factor = float(positive_int(k_factor, "k_factor"))
    return refined


def set_search_parameter(index: faiss.Index, name: str, value: int) -> None:
    """Set ``efSearch`` (HNSW) or ``nprobe`` (IVF) of ``index``: the knob traded between recall and latency."""
    known = {"efSearch": faiss.IndexHNSW, "nprobe": faiss.IndexIVF}
    if name not in known or not isinstance(index, known[name]):
        raise ValueError(f"set_search_parameter: {name!r} is not a search parameter of {type(index).__name__}; "
                         "use 'efSearch' for HNSW, 'nprobe' for IVF")
    faiss.ParameterSpace().set_index_parameter(index, name, positive_int(value, name))


def search(index: faiss.Index, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` of ``index``: ``(m, d) -> (ids (m, k) int64, scores (m, k) float32)``; id -1 and score -inf where
    it found fewer. Scores are cosines for every index (an L2 index's squared distances ``s`` of unit rows become
    ``1 - s / 2``), approximate ones for a quantised index."""
    q = check_vectors(queries, "queries")
    if q.shape[1] != index.d:
        raise ValueError(f"queries have dim {q.shape[1]} but the index has dim {index.d}")
    k = check_k(k)
    if k > index.ntotal:
        raise ValueError(f"k = {k} exceeds the {index.ntotal} vectors of the index")
    scores, ids = index.search(q, k)
    if index.metric_type == faiss.METRIC_L2:
        scores = 1 - scores / 2
    scores[ids < 0] = -np.inf
    return ids, scores


def recall_at_k_vs_exact(approx_ids, exact_ids) -> float:
    """``mean_q |approx_q & exact_q| / k`` of two ``(m, k)`` integer id arrays (row q: query q's top k; -1 slots
    of ``approx_ids`` count as misses). 1 when the index returns the exact top k, in any order."""
    a, e = np.asarray(approx_ids), np.asarray(exact_ids)
    if a.ndim != 2 or a.shape != e.shape or a.size == 0:
        raise ValueError(f"approx_ids {a.shape} and exact_ids {e.shape} must be the same non-empty (m, k) shape")
    if a.dtype.kind not in "iu" or e.dtype.kind not in "iu":
        raise ValueError(f"ids must be integers, got {a.dtype} and {e.dtype}")
    if (e < 0).any():
        raise ValueError("exact_ids hold -1: the exact top k must be complete (k <= catalogue size)")
    hits = sum(len(np.intersect1d(x, y)) for x, y in zip(a, e, strict=True))  # -1 never matches
    return hits / e.size


def latency_per_query(search_fn, queries, batch: int = 1, repeats: int = 3) -> float:
    """Seconds per query of ``search_fn(block)`` over ``queries (m, d)`` sent ``batch`` rows at a time: the
    fastest of ``repeats`` passes (``timing.time_call``) divided by ``m``."""
    q = check_vectors(queries, "queries")
    batch = positive_int(batch, "batch")
    blocks = [q[i : i + batch] for i in range(0, len(q), batch)]
    return time_call(lambda: [search_fn(b) for b in blocks], repeats=repeats, warmup=1) / len(q)


def index_bytes(index: faiss.Index) -> int:
    """Size of ``index`` in bytes, as ``faiss.serialize_index`` writes it."""
    return int(faiss.serialize_index(index).size)


def compare_indexes(catalogue, queries, indexes: dict[str, faiss.Index], k: int = 10, batch: int = 1,
                    repeats: int = 3, exact_batch: int | None = None) -> pd.DataFrame:
    """One row per method, exact (``rec.topk``) first: ``recall`` (@k vs exact), ``ms_per_query``,
    ``memory_bytes`` and the ``batch`` the latency was measured at.

    ``indexes``: ``{name: index}`` built on ``catalogue`` (:func:`build_flat`, :func:`build_hnsw`,
    :func:`build_ivfpq`), timed ``batch`` queries at a time; the exact row ``exact_batch`` at a time (default: all
    queries in one call, see the module docstring). Exact memory is the float32 catalogue's bytes.
    """
    x, q = check_vectors(catalogue), check_vectors(queries, "queries")
    exact_ids, _ = exact_search(q, x, k)
    exact_batch = len(q) if exact_batch is None else exact_batch
    xt = torch.from_numpy(x)  # checked once above: the timed calls search, as faiss's do, and validate nothing
    rows = {"exact": {"recall": 1.0, "memory_bytes": x.nbytes, "batch": exact_batch, "ms_per_query": 1e3 *
                      latency_per_query(lambda b: topk(torch.from_numpy(b), xt, k), q, exact_batch, repeats)}}
    for name, index in indexes.items():
        if index.ntotal != len(x) or index.d != x.shape[1]:
            raise ValueError(f"index {name!r} holds {index.ntotal} vectors of dim {index.d}, the catalogue "
                             f"{len(x)} of dim {x.shape[1]}")
        ids, _ = search(index, q, k)
        rows[name] = {"recall": recall_at_k_vs_exact(ids, exact_ids), "memory_bytes": index_bytes(index),
                      "batch": batch,
                      "ms_per_query": 1e3 * latency_per_query(lambda b, i=index: i.search(b, k), q, batch, repeats)}
    table = pd.DataFrame(rows).T[["recall", "ms_per_query", "memory_bytes", "batch"]]
    return table.astype({"recall": float, "ms_per_query": float, "memory_bytes": "int64", "batch": "int64"})


def sweep(index: faiss.Index, queries, exact_ids, name: str, values, k: int = 10, batch: int = 1,
          repeats: int = 3) -> pd.DataFrame:
    """Recall (@k vs ``exact_ids``) and ms per query at each value of search parameter ``name`` (``efSearch``
    or ``nprobe``): the points of a recall-against-latency curve. The index is left at the last value."""
    q = check_vectors(queries, "queries")
    rows = []
    for value in values:
        set_search_parameter(index, name, value)
        ids, _ = search(index, q, k)
        ms = 1e3 * latency_per_query(lambda b: index.search(b, k), q, batch, repeats)
        rows.append({name: int(value), "recall": recall_at_k_vs_exact(ids, exact_ids), "ms_per_query": ms})
    return pd.DataFrame(rows)


def timed_build(build, *args, **kwargs) -> tuple[faiss.Index, float]:
    """``(build(*args, **kwargs), seconds it took)``: one build, timed once (a build is too slow to repeat)."""
    start = time.perf_counter()
    index = build(*args, **kwargs)
    return index, time.perf_counter() - start


__all__ = ["HNSW_M", "HNSW_EF_CONSTRUCTION", "HNSW_EF_SEARCH", "IVF_NBITS", "IVF_NPROBE", "IVF_TRAIN_PER_LIST",
           "IVF_REFINE_FACTOR", "check_vectors", "exact_search", "build_flat", "build_hnsw", "build_ivfpq",
           "refine_exactly", "set_search_parameter", "search", "recall_at_k_vs_exact", "latency_per_query",
           "index_bytes", "compare_indexes", "sweep", "timed_build"]

"""Approximate search against exact: exact recall against itself is 1, HNSW finds nearly all of a small random
catalogue's exact top 10, IVF-PQ is smaller than the vectors, and bad input is named."""

import numpy as np
import pytest
import torch

from xlrec_lib.rec import ann
from xlrec_lib.vectors import normalize_rows


def unit_rows(n, d, seed):
    return normalize_rows(np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32))


@pytest.fixture(scope="module")
def data():
    return unit_rows(3000, 32, 0), unit_rows(50, 32, 1)


def test_exact_search_is_exact_and_recall_against_itself_is_one(data):
    catalogue, queries = data
    ids, scores = ann.exact_search(queries, catalogue, 10)
    full = queries @ catalogue.T
    np.testing.assert_array_equal(ids, np.argsort(-full, axis=1, kind="stable")[:, :10])
    np.testing.assert_allclose(scores, np.take_along_axis(full, ids, 1), rtol=1e-5)
    assert ann.recall_at_k_vs_exact(ids, ids) == 1.0
    assert ann.recall_at_k_vs_exact(ids[:, ::-1], ids) == 1.0  # order within the top k does not matter


def test_recall_vs_exact_by_hand():
    exact = np.array([[0, 1, 2, 3], [4, 5, 6, 7]])
    approx = np.array([[3, 9, 0, -1], [8, 9, 10, 11]])  # 2 of 4, then 0 of 4
    assert ann.recall_at_k_vs_exact(approx, exact) == 0.25
    with pytest.raises(ValueError, match="same non-empty"):
        ann.recall_at_k_vs_exact(approx[:, :3], exact)
    with pytest.raises(ValueError, match="integers"):
        ann.recall_at_k_vs_exact(approx.astype(float), exact)


def test_hnsw_reaches_high_recall(data):
    catalogue, queries = data
    exact_ids, _ = ann.exact_search(queries, catalogue, 10)
    index = ann.build_hnsw(catalogue)
    ids, scores = ann.search(index, queries, 10)
    assert ann.recall_at_k_vs_exact(ids, exact_ids) >= 0.95
    # the scores it returns are the true inner products of the ids it returns
    np.testing.assert_allclose(scores, np.einsum("md,mkd->mk", queries, catalogue[ids]), rtol=1e-4, atol=1e-5)
    # a tiny beam finds less: the knob is real
    curve = ann.sweep(index, queries, exact_ids, "efSearch", [1, 64], k=10, repeats=1)
    assert curve["recall"].iloc[0] < curve["recall"].iloc[1]
    assert (curve["ms_per_query"] > 0).all()


def test_ivfpq_is_compact_and_better_than_chance(data):
    catalogue, queries = data
    exact_ids, _ = ann.exact_search(queries, catalogue, 10)
    index = ann.build_ivfpq(catalogue, nlist=16, nbits=6, nprobe=16, train_size=3000)  # m = 32 / 8: 4 codes, 6 bits
    assert index.pq.M == 4 and index.nlist == 16 and index.nprobe == 16
    recall = ann.recall_at_k_vs_exact(ann.search(index, queries, 10)[0], exact_ids)
    assert recall > 0.1  # chance is 10 / 3000
    assert ann.index_bytes(index) < catalogue.nbytes / 4
    # fewer lists probed: no better
    curve = ann.sweep(index, queries, exact_ids, "nprobe", [1, 16], repeats=1)
    assert curve["recall"].iloc[0] <= curve["recall"].iloc[1]
    with pytest.raises(ValueError, match="must divide"):
        ann.build_ivfpq(catalogue, nlist=16, m=5)
    with pytest.raises(ValueError, match="train_size"):
        ann.build_ivfpq(catalogue, nlist=16, nbits=6, train_size=10)
    with pytest.raises(ValueError, match="metric must be 'l2' or 'ip'"):
        ann.build_ivfpq(catalogue, nlist=16, nbits=6, metric="cosine")


def test_ivfpq_keeps_its_recall_when_vectors_crowd_into_a_cone():
    # every cosine near 0.99, as the course's tiny BERT gives: an inner-product PQ loses the order, L2 keeps it
    import faiss

    rng = np.random.default_rng(3)
    cone = normalize_rows((rng.normal(size=(1, 32)) * 8 + rng.normal(size=(4000, 32))).astype(np.float32))
    catalogue, queries = cone[:3950], cone[3950:]
    exact_ids, _ = ann.exact_search(queries, catalogue, 10)
    assert (queries @ catalogue.T).min() > 0.9
    index = ann.build_ivfpq(catalogue, nlist=16, nbits=6, nprobe=16, train_size=3000)
    ids, scores = ann.search(index, queries, 10)
    l2_recall = ann.recall_at_k_vs_exact(ids, exact_ids)
    inner = ann.build_ivfpq(catalogue, nlist=16, nbits=6, nprobe=16, train_size=3000, metric="ip")
    assert inner.metric_type == faiss.METRIC_INNER_PRODUCT and index.metric_type == faiss.METRIC_L2
    ip_recall = ann.recall_at_k_vs_exact(ann.search(inner, queries, 10)[0], exact_ids)
    assert l2_recall > 0.15 and l2_recall > 4 * ip_recall  # measured: 0.22 against 0.02
    # an exact second pass over 10 x 10 candidates brings most of the rest back, at the vectors' memory
    refined = ann.refine_exactly(index, catalogue)
    found, exact_scores = ann.search(refined, queries, 10)
    assert ann.recall_at_k_vs_exact(found, exact_ids) > max(0.5, 2 * l2_recall)  # measured: 0.71
    np.testing.assert_allclose(exact_scores, np.einsum("md,mkd->mk", queries, catalogue[found]), atol=1e-5)
    assert ann.index_bytes(refined) > catalogue.nbytes
    with pytest.raises(ValueError, match="refine_exactly: the index holds"):
        ann.refine_exactly(index, catalogue[:100])
    # scores come back as (approximate) cosines, not distances
    true = np.einsum("md,mkd->mk", queries, catalogue[ids])
    assert np.abs(scores - true).max() < 0.05 and scores.max() <= 1.0 + 1e-3


def test_search_returns_cosines_from_an_l2_index(data):
    import faiss

    catalogue, queries = data
    index = faiss.IndexFlatL2(catalogue.shape[1])
    index.add(catalogue)
    ids, scores = ann.search(index, queries, 10)
    np.testing.assert_allclose(scores, np.einsum("md,mkd->mk", queries, catalogue[ids]), atol=1e-5)
    np.testing.assert_array_equal(ids, ann.exact_search(queries, catalogue, 10)[0])  # the cosine's order


def test_compare_indexes_table(data):
    catalogue, queries = data
    indexes = {"flat": ann.build_flat(catalogue), "hnsw": ann.build_hnsw(catalogue)}
    table = ann.compare_indexes(catalogue, queries[:10], indexes, k=5, repeats=1)
    assert table.index.tolist() == ["exact", "flat", "hnsw"]
    assert table.loc["exact", "recall"] == 1.0 and table.loc["flat", "recall"] == 1.0  # faiss's brute force
    assert table["batch"].tolist() == [10, 1, 1]
    assert table.loc["exact", "memory_bytes"] == catalogue.nbytes
    assert catalogue.nbytes <= table.loc["flat", "memory_bytes"] < catalogue.nbytes + 1000
    assert table.loc["hnsw", "memory_bytes"] > catalogue.nbytes  # vectors plus links
    assert (table["ms_per_query"] > 0).all()


def test_compare_indexes_times_the_exact_search_alone(data, monkeypatch):
    # the faiss rows time bare searches: the exact row must not re-check the catalogue inside its timed calls
    catalogue, queries = data
    calls = []
    check = ann.check_vectors
    monkeypatch.setattr(ann, "check_vectors", lambda x, *a, **k: calls.append(len(x)) or check(x, *a, **k))
    ann.compare_indexes(catalogue, queries[:10], {}, k=5, repeats=2, exact_batch=1)
    assert calls.count(len(catalogue)) <= 2  # once by compare_indexes, once by the exact ids; never per block


def test_bad_inputs_are_named(data):
    catalogue, queries = data
    nan = catalogue.copy()
    nan[7, 3] = np.nan
    with pytest.raises(ValueError, match="catalogue row 7 is not finite"):
        ann.build_hnsw(nan)
    with pytest.raises(ValueError, match="must be float32, got float64"):
        ann.build_hnsw(catalogue.astype(np.float64))
    with pytest.raises(ValueError, match=r"\(n, d\) matrix"):
        ann.build_hnsw(catalogue[0])
    with pytest.raises(ValueError, match="row 0 has norm 2"):
        ann.exact_search(queries, catalogue * 2, 10)
    zero = catalogue.copy()
    zero[5] = 0  # an inner-product index would rank it last for every query, silently: not a unit row
    with pytest.raises(ValueError, match="catalogue row 5 has norm 0, not 1"):
        ann.build_flat(zero)
    with pytest.raises(ValueError, match="queries have dim 16"):
        ann.search(ann.build_hnsw(catalogue[:100]), unit_rows(3, 16, 2), 5)
    with pytest.raises(ValueError, match="exceeds the 100 vectors"):
        ann.search(ann.build_hnsw(catalogue[:100]), queries, 101)
    with pytest.raises(ValueError, match="'nprobe' is not a search parameter of IndexHNSWFlat"):
        ann.set_search_parameter(ann.build_hnsw(catalogue[:100]), "nprobe", 4)
    # torch input is accepted as it is
    ids, _ = ann.exact_search(torch.from_numpy(queries), torch.from_numpy(catalogue), 3)
    assert ids.shape == (50, 3)

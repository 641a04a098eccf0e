"""Exact chunked top-k against a full sort, seen-item exclusion, padding."""

import math

import numpy as np
import pytest
import torch

from xlrec_lib.rec import similarity, topk


def _reference_topk(users, items, k, exclude):
    full = users.double() @ items.double().T
    for u, seen in enumerate(exclude):
        full[u, torch.as_tensor(list(seen), dtype=torch.long)] = -math.inf
    return torch.topk(full, k, dim=1)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"group": 1},
        {"group": 8, "workers": 1},
        {"workers": 3, "memory_budget": 3 * 7 * (9024 * 4 + 9024 // 32 * 4 + 120), "tile_bytes": 4 * 7 * 256},
    ],
)
def test_topk_matches_full_sort(options):
    g = torch.Generator().manual_seed(0)
    users, items = torch.randn(40, 16, generator=g), torch.randn(9000, 16, generator=g)
    rng = np.random.default_rng(0)
    exclude = [rng.choice(9000, size=rng.integers(0, 300), replace=False) for _ in range(40)]
    ref_scores, ref_ids = _reference_topk(users, items, 10, exclude)
    threads = torch.get_num_threads()
    result = topk.topk(users, items, 10, exclude, **options)
    assert torch.get_num_threads() == threads  # restored after the worker threads
    torch.testing.assert_close(result.scores.double(), ref_scores, atol=1e-5, rtol=0)
    assert torch.equal(result.ids, ref_ids)
    # the same exclusions given as (user index, item index) pairs
    pairs = (np.repeat(np.arange(40), [len(e) for e in exclude]), np.concatenate(exclude))
    assert torch.equal(topk.topk(users, items, 10, pairs, **options).ids, ref_ids)


def test_topk_cosine_padding_and_errors():
    users = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    items = torch.tensor([[2.0, 0.0], [1.0, 1.0], [0.0, 3.0], [0.0, 0.0]])
    # user 0 by cosine: item 0 (1), item 1 (0.707), then 2 and 3 (0); user 1 has seen all but item 1
    result = topk.topk(users, items, 2, [[], [0, 2, 3]], metric="cosine")
    assert result.ids.tolist() == [[0, 1], [1, -1]]
    assert result.scores[1, 1] == -math.inf
    assert result.scores[0, 1] == pytest.approx(1 / math.sqrt(2))
    assert topk.topk_to_ranked(result.ids, ["a", "b"], [10, 11, 12, 13]) == {"a": [10, 11], "b": [11]}
    with pytest.raises(ValueError, match="cannot hold one row"):
        topk.topk(users, items, 2, memory_budget=8)
    with pytest.raises(ValueError, match="item index 4"):
        topk.topk(users, items, 2, [[4], []])
    with pytest.raises(ValueError, match="k must lie"):
        topk.topk(users, items, 5)
    # per user: 1000 scores (4000 bytes) + 1000 / 8 group maxima (500 bytes) + 10 ids and scores (120 bytes)
    assert topk.chunk_rows(n_items=1000, memory_budget=4620 * 10 + 4619, k=10, group=8) == 10


def test_seen_csr():
    indptr, indices = topk.seen_csr(([2, 0, 2, 0], [5, 1, 3, 1]), n_users=3, n_items=6)
    assert indptr.tolist() == [0, 2, 2, 4]
    assert indices.tolist() == [1, 1, 3, 5]


def test_topk_dense_and_item_bias():
    scores = torch.tensor([[0.1, 0.9, 0.5], [0.3, 0.2, 0.1]])
    result = topk.topk_dense(scores, 2, [[1], [0, 1]])
    assert result.ids.tolist() == [[2, 0], [2, -1]]
    users, items = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    u, i = topk.with_item_bias(users, items, [0.0, 3.0], alpha=0.5)
    # u.i + 0.5 * bias: item 0 -> 1 + 0 = 1, item 1 -> 0 + 1.5 = 1.5
    torch.testing.assert_close(similarity.dot(u, i), torch.tensor([[1.0, 1.5]]))
    with pytest.raises(ValueError, match="3 values for 2 items"):
        topk.with_item_bias(users, items, [1, 2, 3], 1.0)


def test_topk_to_ranked_threshold_and_seed_loop():
    ids = torch.tensor([[2, 0, -1], [1, 2, 0]])
    scores = torch.tensor([[0.9, 0.4, -math.inf], [0.8, 0.7, 0.1]])
    assert topk.topk_to_ranked(ids, scores=scores, min_score=0.5) == {0: [2], 1: [1, 2]}
    assert topk.topk_to_ranked(ids) == {0: [2, 0], 1: [1, 2, 0]}
    # the seed's Python loop ranks like cosine top-k (sigmoid is monotone)
    g = torch.Generator().manual_seed(1)
    users, items = torch.randn(5, 6, generator=g), torch.randn(30, 6, generator=g)
    expected = topk.topk(users, items, 4, metric="cosine").ids.tolist()
    assert topk.seed_topk_loop(users.tolist(), items.tolist(), 4) == expected

"""Per-user standardisation and rank normalisation over the candidates, the fused score, sweeps and buckets."""

import numpy as np
import pytest
import torch
from scipy.stats import rankdata

from xlrec_lib.rec import fusion, ranking_metrics

SCORES = torch.tensor([[3.0, 1.0, 2.0, 10.0], [5.0, 5.0, 5.0, 1.0], [0.0, 4.0, 8.0, 2.0]])
EXCLUDE = [[3], [3], []]


def test_zscore_uses_the_candidates_only():
    z = fusion.standardize_per_user(SCORES, EXCLUDE)
    np.testing.assert_allclose(z[0, :3].numpy(), (np.array([3, 1, 2]) - 2) / np.std([3, 1, 2]))
    assert z[0, 3] == 0  # excluded
    assert torch.all(z[1] == 0)  # equal scores over the candidates: no information
    row = np.array([0, 4, 8, 2.0])
    np.testing.assert_allclose(z[2].numpy(), (row - row.mean()) / row.std())


def test_rank_normalize_matches_scipy_rankdata():
    r = fusion.rank_normalize(SCORES, EXCLUDE)
    np.testing.assert_allclose(r[0, :3].numpy(), (rankdata([3, 1, 2]) - 1) / 2)
    np.testing.assert_allclose(r[2].numpy(), (rankdata([0, 4, 8, 2]) - 1) / 3)
    assert r[0, 3] == 0 and sorted(r[1, :3].tolist()) == [0, 0.5, 1]  # ties broken by index


def test_fuse_is_the_seed_formula_after_normalising():
    text = torch.tensor([[0.1, 0.9, 0.5, 0.0], [0.2, 0.1, 0.3, 0.0], [1.0, 0.0, 0.5, 0.2]])
    fused = fusion.fuse(SCORES, text, 2.0, EXCLUDE)
    torch.testing.assert_close(fused, fusion.standardize_per_user(SCORES, EXCLUDE)
                               + 2.0 * fusion.standardize_per_user(text, EXCLUDE))
    torch.testing.assert_close(fusion.fuse(SCORES, text, 0.5, how="none"), (SCORES + 0.5 * text).double())
    with pytest.raises(ValueError, match="how must be one of"):
        fusion.fuse(SCORES, text, 1.0, how="minmax")
    with pytest.raises(ValueError, match="shape"):
        fusion.fuse(SCORES, text[:2], 1.0)


def test_alpha_sweep_at_zero_is_cf_alone_and_large_alpha_is_text_alone():
    g = torch.Generator().manual_seed(0)
    cf, text = torch.rand(20, 15, generator=g), torch.rand(20, 15, generator=g)
    exclude = [[u % 15] for u in range(20)]
    relevant = {u: {(u * 7) % 15, (u * 3 + 1) % 15} - {u % 15} for u in range(20)}
    ids = list(range(15))
    sweep = fusion.alpha_sweep(cf, text, [0.0, 1e6], exclude, relevant, list(range(20)), ids, k=3)
    alone = {name: ranking_metrics.ndcg_at_k(fusion.ranked_lists(s, 3, exclude, list(range(20)), ids), relevant, 3)
             for name, s in (("cf", cf), ("text", text))}
    assert sweep[0.0] == pytest.approx(alone["cf"]) and sweep[1e6] == pytest.approx(alone["text"])
    assert alone["cf"] != alone["text"]


def test_buckets_and_metric_by_group():
    labels = fusion.history_buckets([15, 29, 30, 200], [15, 30, 100])
    assert labels.tolist() == ["[15, 30)", "[15, 30)", "[30, 100)", ">= 100"]
    with pytest.raises(ValueError, match="below the first edge"):
        fusion.history_buckets([3], [15, 30])
    ranked = {"a": [1, 2], "b": [3, 4], "c": [5, 6]}
    relevant = {"a": {1}, "b": {9}, "c": {6}}
    by = fusion.metric_by_group(ranked, relevant, {"a": "x", "b": "x", "c": "y"}, 2, order=["y", "x"])
    assert list(by.index) == ["y", "x"]
    assert by["x"] == pytest.approx(ranking_metrics.ndcg_at_k(ranked, {"a": {1}, "b": {9}}, 2)) == pytest.approx(0.5)
    assert by["y"] == pytest.approx(1 / np.log2(3))

"""Per-user standardisation and rank normalisation over the candidates, the fused score, sweeps and buckets."""

import numpy as np
import pytest
import torch
from scipy.stats import rankdata

from xlrec_lib import intervals
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


def test_zscore_matches_a_row_by_row_reference_and_leaves_its_input_alone():
    rng = np.random.default_rng(4)
    for trial in range(50):
        n_users, n_items = rng.integers(1, 8), rng.integers(1, 12)
        scores = torch.from_numpy(rng.normal(size=(n_users, n_items)) * 10.0 ** rng.integers(-6, 7))
        scores[0] = 2.5  # one user whose candidates all tie
        # repeated indices are harmless, as in topk.seen_csr
        exclude = [list(rng.choice(n_items, size=rng.integers(0, n_items + 1))) for _ in range(n_users)]
        given = scores.clone()
        z = fusion.standardize_per_user(scores, exclude)
        assert torch.equal(scores, given) and z.dtype == torch.float64
        for u in range(n_users):
            keep = np.setdiff1d(np.arange(n_items), exclude[u])
            row = scores[u, keep].numpy()
            want = np.zeros(n_items)
            if len(keep) and row.std() > 1e-12 * (1 + abs(row.mean())):
                want[keep] = (row - row.mean()) / row.std()
            np.testing.assert_allclose(z[u].numpy(), want, rtol=1e-9, atol=1e-12, err_msg=f"trial {trial} user {u}")
    # finite scores whose sum overflows float64 are no error (the row comes back as zeros, as before); float32 in,
    # the same float64 out
    big = torch.tensor([[1e308, 1e308, -1e308]], dtype=torch.float64)
    assert torch.equal(fusion.standardize_per_user(big), torch.zeros(1, 3, dtype=torch.float64))
    torch.testing.assert_close(fusion.standardize_per_user(SCORES.float(), EXCLUDE),
                               fusion.standardize_per_user(SCORES.double(), EXCLUDE))


def _masked_zscore(scores, exclude):
    """The formula as first written, with a dense candidate mask: the reference for the in-place version."""
    s, mask = scores.double(), fusion.candidate_mask(tuple(scores.shape), exclude)
    n = mask.sum(1, keepdim=True).clamp_min(1)
    mean = torch.where(mask, s, 0).sum(1, keepdim=True) / n
    centred = torch.where(mask, s - mean, 0)
    std = (centred.pow(2).sum(1, keepdim=True) / n).sqrt()
    return torch.where(std > 1e-12 * (1 + mean.abs()), centred / std.clamp_min(1e-300), 0)


def test_zscore_equals_the_masked_formula_bit_for_bit_whatever_the_layout():
    rng = np.random.default_rng(8)
    for _ in range(20):
        n_users, n_items = rng.integers(2, 40), rng.integers(2, 60)
        # column-major input (a transposed array): its rows must still be summed in the reference's order
        scores = torch.from_numpy(rng.normal(size=(n_items, n_users))).T
        users = rng.integers(0, n_users, size=n_users)
        exclude = (users, rng.integers(0, n_items, size=n_users))  # (user, item) pairs, repeats allowed
        z = fusion.standardize_per_user(scores, exclude)
        assert torch.equal(z, _masked_zscore(scores.contiguous(), exclude)) and z.is_contiguous()
    # more rows than standardize_per_user squares at a time, and a last block cut short
    n_users = 2 * fusion.SQUARE_ROWS + 3
    scores = torch.from_numpy(rng.normal(size=(n_users, 50)))
    exclude = (np.arange(n_users), rng.integers(0, 50, size=n_users))
    assert torch.equal(fusion.standardize_per_user(scores, exclude), _masked_zscore(scores, exclude))
    # one row past a block, on two threads: a one-row sum of 32,768 numbers or more is split between threads, a
    # many-row sum gives each row to one thread, so no block may be a single row
    scores = torch.from_numpy(rng.normal(size=(fusion.SQUARE_ROWS + 1, 40_000)))
    exclude = (np.arange(len(scores)), rng.integers(0, 40_000, size=len(scores)))
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert torch.equal(fusion.standardize_per_user(scores, exclude), _masked_zscore(scores, exclude))
    finally:
        torch.set_num_threads(threads)


def test_rank_normalize_matches_scipy_rankdata():
    r = fusion.rank_normalize(SCORES, EXCLUDE)
    np.testing.assert_allclose(r[0, :3].numpy(), (rankdata([3, 1, 2]) - 1) / 2)
    np.testing.assert_allclose(r[2].numpy(), (rankdata([0, 4, 8, 2]) - 1) / 3)
    assert r[0, 3] == 0 and r[1, :3].tolist() == [0.5, 0.5, 0.5]  # all tied: one mean rank, no order by index
    ties = fusion.rank_normalize(torch.tensor([[1.0, 3.0, 1.0, 2.0, 3.0]]))
    np.testing.assert_allclose(ties[0].numpy(), (rankdata([1, 3, 1, 2, 3]) - 1) / 4)  # [0.125, 0.875, 0.125, ...]


def test_a_non_finite_candidate_score_is_an_error_but_an_excluded_one_is_not():
    bad = SCORES.clone()
    bad[2, 1] = torch.nan
    for fn in (fusion.standardize_per_user, fusion.rank_normalize):
        with pytest.raises(ValueError, match=r"scores\[2, 1\] is nan"):
            fn(bad, EXCLUDE)
    masked = SCORES.clone()
    masked[0, 3] = -torch.inf  # excluded for user 0
    for fn in (fusion.standardize_per_user, fusion.rank_normalize):
        torch.testing.assert_close(fn(masked, EXCLUDE), fn(SCORES, EXCLUDE))


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


def test_gain_by_group_pairs_the_users_of_each_group():
    rng = np.random.default_rng(0)
    users = list(range(60))
    relevant = {u: {int(rng.integers(0, 20))} for u in users}
    base = {u: rng.permutation(20)[:5].tolist() for u in users}
    new = {u: ([next(iter(relevant[u]))] + [i for i in base[u] if i not in relevant[u]])[:5] if u % 3 else base[u]
           for u in users}  # two users in three get their relevant item first, the others keep their list
    groups = {u: "odd" if u % 2 else "even" for u in users}
    table = fusion.gain_by_group(base, new, relevant, groups, 5, order=["even", "odd"])
    assert list(table.index) == ["even", "odd", "all"] and table.loc["all", "users"] == 60
    a = ranking_metrics.ndcg_at_k(base, relevant, 5, per_user=True)
    b = ranking_metrics.ndcg_at_k(new, relevant, 5, per_user=True)
    odd = [u for u in users if u % 2]
    expected = intervals.paired_difference([b[u] for u in odd], [a[u] for u in odd])
    np.testing.assert_allclose(table.loc["odd", ["gain", "low", "high"]].to_numpy(float), expected)
    assert table.loc["all", "new"] - table.loc["all", "base"] == pytest.approx(table.loc["all", "gain"])
    assert table.loc["all", "low"] > 0  # moving the relevant item to the top helps: the interval excludes 0
    same = fusion.gain_by_group(base, base, relevant, groups, 5)
    assert (same[["gain", "low", "high"]].to_numpy(float) == 0).all()


def test_none_zeroes_excluded_items_as_the_other_normalizers_do():
    cf = torch.tensor([[3.0, 1.0, -torch.inf], [2.0, 0.0, 1.0]])  # row 0's -inf is excluded
    text = torch.tensor([[0.1, 0.2, torch.nan], [0.3, 0.1, 0.2]])
    fused = fusion.fuse(cf, text, 2.0, [[2], []], how="none")
    torch.testing.assert_close(fused, torch.tensor([[3.2, 1.4, 0.0], [2.6, 0.2, 1.4]], dtype=torch.float64))
    for how in fusion.NORMALIZERS:
        assert fusion.normalize(cf, how, [[2], []])[0, 2] == 0


def test_fuse_names_the_bad_input_and_refuses_a_nonfinite_alpha():
    cf, text = torch.ones(2, 3), torch.tensor([[0.1, float("nan"), 0.2], [0.0, 0.1, 0.2]])
    for how in fusion.NORMALIZERS:
        with pytest.raises(ValueError, match=r"text\[0, 1\] is nan"):
            fusion.fuse(cf, text, 1.0, how=how)
    for alpha in (float("nan"), float("inf"), True, "1"):
        with pytest.raises(ValueError, match="alpha must be a finite number"):
            fusion.fuse(cf, torch.zeros(2, 3), alpha)


def test_alpha_sweep_refuses_repeated_alphas():
    cf, text = torch.rand(2, 4, generator=torch.Generator().manual_seed(0)), torch.rand(2, 4)
    relevant = {"a": [1], "b": [2]}
    with pytest.raises(ValueError, match="alphas must be distinct"):
        fusion.alpha_sweep(cf, text, [1, 1.0], None, relevant, ["a", "b"], [0, 1, 2, 3], k=2)


@pytest.mark.parametrize("edges", [[], [30, 10], [10, 10], [10, float("nan"), 30]])
def test_history_buckets_needs_increasing_edges(edges):
    with pytest.raises(ValueError, match="strictly increasing"):
        fusion.history_buckets([35, 40, 50], edges)
    with pytest.raises(ValueError, match="count nan is not finite"):
        fusion.history_buckets([float("nan"), 20], [10, 30])


def test_ranked_lists_keep_float64_scores_apart_and_refuse_a_repeated_user():
    scores = torch.tensor([[1.0, 1.0 + 1e-12, 0.0]], dtype=torch.float64)  # equal in float32
    assert fusion.ranked_lists(scores, 1, None, ["u"], [10, 11, 12]) == {"u": [11]}
    with pytest.raises(ValueError, match="user id 'a' appears more than once"):
        fusion.ranked_lists(torch.rand(2, 3), 1, None, ["a", "a"], [10, 11, 12])

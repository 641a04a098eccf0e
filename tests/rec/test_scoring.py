"""xlrec_lib.scoring: hand-computed scores, calibration, thresholds; top-k against a full sort."""

import math

import numpy as np
import pytest
import torch

from xlrec_lib.rec import calibration, similarity, topk


def test_cosine_dot_and_zero_vectors():
    users = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    items = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    # |u0| = 5: cos(u0, i0) = 3/5, cos(u0, i1) = 8 / (5 * 2) = 4/5; any pair with a zero vector -> 0 (not NaN)
    expected = torch.tensor([[0.6, 0.8, 0.0], [0.0, 0.0, 0.0]])
    torch.testing.assert_close(similarity.cosine(users, items), expected)
    torch.testing.assert_close(similarity.dot(users, items), torch.tensor([[3.0, 8.0, 0.0], [0.0, 0.0, 0.0]]))
    torch.testing.assert_close(similarity.cosine_pairs(users, items[:2]), torch.tensor([0.6, 0.0]))
    torch.testing.assert_close(similarity.dot_pairs(users, items[1:]), torch.tensor([8.0, 0.0]))
    # agrees with torch where the cosine is defined
    a, b = torch.randn(5, 7), torch.randn(5, 7)
    torch.testing.assert_close(similarity.cosine_pairs(a, b), torch.nn.functional.cosine_similarity(a, b))
    with pytest.raises(ValueError, match="equal shapes"):
        similarity.dot_pairs(users, items)


def test_sigmoid_cos_range():
    # sigmoid(+-1) = 1 / (1 + e^-+1): 0.26894142..., 0.73105857...
    assert similarity.SIGMOID_COS_RANGE[0] == pytest.approx(0.2689414213699951, abs=1e-12)
    assert similarity.SIGMOID_COS_RANGE[1] == pytest.approx(0.7310585786300049, abs=1e-12)
    p = similarity.sigmoid_cos(similarity.cosine(torch.randn(50, 8), torch.randn(60, 8)))
    assert similarity.SIGMOID_COS_RANGE[0] <= float(p.min()) and float(p.max()) <= similarity.SIGMOID_COS_RANGE[1]


def test_fit_platt_closed_form():
    # s = 0: 1 positive in 4 -> sigmoid(b) = 1/4 -> b = -ln 3
    # s = 1: 3 positives in 4 -> sigmoid(a + b) = 3/4 -> a + b = ln 3 -> a = 2 ln 3 = 2.1972245773...
    scores = [0, 0, 0, 0, 1, 1, 1, 1]
    labels = [1, 0, 0, 0, 1, 1, 1, 0]
    platt = calibration.fit_platt(scores, labels)
    assert platt.a == pytest.approx(2 * math.log(3), abs=1e-9)
    assert platt.b == pytest.approx(-math.log(3), abs=1e-9)
    probs = platt(torch.tensor([0.0, 1.0], dtype=torch.float64))
    torch.testing.assert_close(probs, torch.tensor([0.25, 0.75], dtype=torch.float64))


def test_fit_platt_matches_lbfgs_and_regularises():
    g = torch.Generator().manual_seed(0)
    s = torch.rand(2000, generator=g, dtype=torch.float64)
    y = (torch.rand(2000, generator=g, dtype=torch.float64) < torch.sigmoid(4 * s - 3)).double()
    platt = calibration.fit_platt(s, y)
    w = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-15,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(w[0] * s + w[1], y)
        loss.backward()
        return loss

    opt.step(closure)
    a, b = w.detach().tolist()
    assert platt.a == pytest.approx(a, abs=1e-6)
    assert platt.b == pytest.approx(b, abs=1e-6)
    # perfectly separable labels have no finite optimum; l2 makes one
    with pytest.raises(ValueError, match="separates the labels"):
        calibration.fit_platt([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])
    assert calibration.fit_platt([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1], l2=1e-3).a > 0
    with pytest.raises(ValueError, match="both labels"):
        calibration.fit_platt([0.1, 0.2], [1, 1])


PROBS = [0.1, 0.2, 0.3, 0.8, 0.9]
LABELS = [0, 1, 0, 1, 1]


def test_reliability_and_ece_hand_computed():
    # two bins: [0, .5) holds .1 .2 .3 -> confidence .2, accuracy 1/3, gap 2/15; [.5, 1] holds .8 .9 -> .85 vs 1
    table = calibration.reliability_table(PROBS, LABELS, n_bins=2)
    np.testing.assert_allclose(table["count"], [3, 2])
    np.testing.assert_allclose(table["confidence"], [0.2, 0.85], atol=1e-12)
    np.testing.assert_allclose(table["accuracy"], [1 / 3, 1.0], atol=1e-12)
    # ECE = 3/5 * 2/15 + 2/5 * 0.15 = 0.08 + 0.06 = 0.14
    assert calibration.expected_calibration_error(PROBS, LABELS, n_bins=2) == pytest.approx(0.14, abs=1e-9)
    # quantile bins: the median 0.3 splits {.1, .2} (conf .15, acc .5) from {.3, .8, .9} (conf 2/3, acc 2/3)
    # -> ECE = 2/5 * 0.35 + 3/5 * 0 = 0.14
    table_q = calibration.reliability_table(PROBS, LABELS, n_bins=2, strategy="quantile")
    np.testing.assert_allclose(table_q["count"], [2, 3])
    assert calibration.expected_calibration_error(PROBS, LABELS, 2, "quantile") == pytest.approx(0.14, abs=1e-9)
    # 0.5 falls in the upper bin, 1.0 in the last bin; an empty bin is NaN and does not count
    table3 = calibration.reliability_table([0.5, 1.0], [1, 1], n_bins=4)
    np.testing.assert_allclose(table3["count"], [0, 0, 1, 1])
    assert np.isnan(table3["confidence"][0])
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        calibration.reliability_table([1.5], [1])
    with pytest.raises(ValueError, match="0/1"):
        calibration.expected_calibration_error([0.5], [2])


def test_choose_threshold_hand_computed():
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    labels = [1, 1, 0, 1, 0, 0]
    # keep the top m: F1 = 2TP / (2TP + FP + FN) = m=1: 2/4, m=2: 4/5, m=3: 4/6, m=4: 6/7 (best), m=5: 6/8, m=6: 6/9
    # -> threshold halfway between the 4th and 5th scores: 0.55
    assert calibration.choose_threshold(scores, labels) == pytest.approx(0.55, abs=1e-12)
    # accuracy: m=2 and m=4 both give 5/6; the higher threshold wins -> (0.8 + 0.7) / 2
    assert calibration.choose_threshold(scores, labels, "accuracy") == pytest.approx(0.75, abs=1e-12)
    # a tie is never split: keeping the 0.5 pair gives F1 4/5 > 0 -> threshold is the lowest score, 0.5
    assert calibration.choose_threshold([0.9, 0.5, 0.5], [0, 1, 1]) == pytest.approx(0.5)
    np.testing.assert_array_equal(calibration.apply_threshold(torch.tensor(scores), 0.55).numpy(), [1, 1, 1, 1, 0, 0])


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


def test_unseen_pairs():
    scores = torch.tensor([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    # seen: (0, 1) and (1, 0); positives: (0, 2) -> kept in row-major order: (0,0) (0,2) (1,1) (1,2)
    s, y = calibration.unseen_pairs(scores, ([0, 1], [1, 0]), ([0], [2]))
    torch.testing.assert_close(s, torch.tensor([0.1, 0.3, 0.5, 0.6], dtype=torch.float64))
    assert y.tolist() == [0.0, 1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match=r"\(0, 1\) is both seen and positive"):
        calibration.unseen_pairs(scores, ([0], [1]), ([0], [1]))

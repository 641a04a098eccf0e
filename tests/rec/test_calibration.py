"""Platt scaling, reliability tables, ECE, thresholds; every function takes (labels, scores)."""

import math

import numpy as np
import pytest
import torch

from xlrec_lib.rec import calibration


def test_fit_platt_closed_form():
    # s = 0: 1 positive in 4 -> sigmoid(b) = 1/4 -> b = -ln 3
    # s = 1: 3 positives in 4 -> sigmoid(a + b) = 3/4 -> a + b = ln 3 -> a = 2 ln 3 = 2.1972245773...
    scores = [0, 0, 0, 0, 1, 1, 1, 1]
    labels = [1, 0, 0, 0, 1, 1, 1, 0]
    platt = calibration.fit_platt(labels, scores)
    assert platt.a == pytest.approx(2 * math.log(3), abs=1e-9)
    assert platt.b == pytest.approx(-math.log(3), abs=1e-9)
    probs = platt(torch.tensor([0.0, 1.0], dtype=torch.float64))
    torch.testing.assert_close(probs, torch.tensor([0.25, 0.75], dtype=torch.float64))


def test_fit_platt_matches_lbfgs_and_regularises():
    g = torch.Generator().manual_seed(0)
    s = torch.rand(2000, generator=g, dtype=torch.float64)
    y = (torch.rand(2000, generator=g, dtype=torch.float64) < torch.sigmoid(4 * s - 3)).double()
    platt = calibration.fit_platt(y, s)
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
        calibration.fit_platt([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert calibration.fit_platt([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], l2=1e-3).a > 0
    with pytest.raises(ValueError, match="both labels"):
        calibration.fit_platt([1, 1], [0.1, 0.2])


PROBS = [0.1, 0.2, 0.3, 0.8, 0.9]


LABELS = [0, 1, 0, 1, 1]


def test_reliability_and_ece_hand_computed():
    # two bins: [0, .5) holds .1 .2 .3 -> confidence .2, accuracy 1/3, gap 2/15; [.5, 1] holds .8 .9 -> .85 vs 1
    table = calibration.reliability_table(LABELS, PROBS, n_bins=2)
    np.testing.assert_allclose(table["count"], [3, 2])
    np.testing.assert_allclose(table["confidence"], [0.2, 0.85], atol=1e-12)
    np.testing.assert_allclose(table["accuracy"], [1 / 3, 1.0], atol=1e-12)
    # ECE = 3/5 * 2/15 + 2/5 * 0.15 = 0.08 + 0.06 = 0.14
    assert calibration.expected_calibration_error(LABELS, PROBS, n_bins=2) == pytest.approx(0.14, abs=1e-9)
    # quantile bins: the median 0.3 splits {.1, .2} (conf .15, acc .5) from {.3, .8, .9} (conf 2/3, acc 2/3)
    # -> ECE = 2/5 * 0.35 + 3/5 * 0 = 0.14
    table_q = calibration.reliability_table(LABELS, PROBS, n_bins=2, strategy="quantile")
    np.testing.assert_allclose(table_q["count"], [2, 3])
    assert calibration.expected_calibration_error(LABELS, PROBS, 2, "quantile") == pytest.approx(0.14, abs=1e-9)
    # 0.5 falls in the upper bin, 1.0 in the last bin; an empty bin is NaN and does not count
    table3 = calibration.reliability_table([1, 1], [0.5, 1.0], n_bins=4)
    np.testing.assert_allclose(table3["count"], [0, 0, 1, 1])
    assert np.isnan(table3["confidence"][0])
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        calibration.reliability_table([1], [1.5])
    with pytest.raises(ValueError, match="0/1"):
        calibration.expected_calibration_error([2], [0.5])


def test_choose_threshold_hand_computed():
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    labels = [1, 1, 0, 1, 0, 0]
    # keep the top m: F1 = 2TP / (2TP + FP + FN) = m=1: 2/4, m=2: 4/5, m=3: 4/6, m=4: 6/7 (best), m=5: 6/8, m=6: 6/9
    # -> threshold halfway between the 4th and 5th scores: 0.55
    assert calibration.choose_threshold(labels, scores) == pytest.approx(0.55, abs=1e-12)
    # accuracy: m=2 and m=4 both give 5/6; the higher threshold wins -> (0.8 + 0.7) / 2
    assert calibration.choose_threshold(labels, scores, "accuracy") == pytest.approx(0.75, abs=1e-12)
    # a tie is never split: keeping the 0.5 pair gives F1 4/5 > 0 -> threshold is the lowest score, 0.5
    assert calibration.choose_threshold([0, 1, 1], [0.9, 0.5, 0.5]) == pytest.approx(0.5)
    np.testing.assert_array_equal(calibration.apply_threshold(torch.tensor(scores), 0.55).numpy(), [1, 1, 1, 1, 0, 0])


def test_unseen_pairs():
    scores = torch.tensor([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    # seen: (0, 1) and (1, 0); positives: (0, 2) -> kept in row-major order: (0,0) (0,2) (1,1) (1,2)
    y, s = calibration.unseen_pairs(scores, ([0, 1], [1, 0]), ([0], [2]))
    torch.testing.assert_close(s, torch.tensor([0.1, 0.3, 0.5, 0.6], dtype=torch.float64))
    assert y.tolist() == [0.0, 1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match=r"\(0, 1\) is both seen and positive"):
        calibration.unseen_pairs(scores, ([0], [1]), ([0], [1]))


def test_labels_come_first_and_a_swap_is_named():
    # scores passed where labels belong are not 0/1: the error says which order is expected
    with pytest.raises(ValueError, match=r"labels must be 0/1, got 0\.1 at position 0 .*\(labels, scores\)"):
        calibration.fit_platt([0.1, 0.2, 0.8, 0.9], [0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"labels must be 0/1.*\(labels, scores\)"):
        calibration.choose_threshold([0.9, 0.5, 0.5], [0, 1, 1])

"""rec.threshold_lists: a calibrated threshold keeps items whose relevant share matches their probability."""

import numpy as np
import pytest
import torch

from xlrec_lib.rec import calibration, threshold_lists


def test_lists_above_and_report_by_hand():
    ids = torch.tensor([[3, 1, 2], [0, 2, -1]])
    probs = torch.tensor([[0.9, 0.6, 0.2], [0.4, 0.3, 0.0]])
    ranked, kept = threshold_lists.lists_above(ids, probs, 0.5, user_ids=["a", "b"])
    assert ranked == {"a": [3, 1], "b": []}
    assert kept == {"a": pytest.approx([0.9, 0.6]), "b": []}
    report = threshold_lists.threshold_report(ranked, kept, {"a": {3, 2}, "b": {0}}, k=3)
    assert report["precision"] == 0.5 and report["mean p"] == pytest.approx(0.75)
    assert report["recall@3"] == pytest.approx((1 / 2 + 0) / 2)
    assert report["items per user"] == 1.0 and report["share of users with an empty list"] == 0.5
    with pytest.raises(ValueError, match="threshold"):
        threshold_lists.lists_above(ids, probs, 1.5)
    with pytest.raises(ValueError, match="probabilities"):
        threshold_lists.lists_above(ids, probs * 2, 0.5)


def test_a_calibrated_threshold_keeps_items_whose_relevant_share_matches_their_probability():
    # scores s ~ N(0, 1), true P(relevant | s) = sigmoid(2 s - 2); Platt fitted on one half, judged on the other
    rng = np.random.default_rng(0)
    n_users, k = 2500, 10
    s = np.sort(rng.normal(size=(2, n_users, k)), axis=2)[:, :, ::-1].copy()
    y = rng.random(s.shape) < 1 / (1 + np.exp(-(2 * s - 2)))
    platt = calibration.fit_platt(y[0].ravel(), s[0].ravel())
    assert platt.a == pytest.approx(2, abs=0.15) and platt.b == pytest.approx(-2, abs=0.15)
    ids = torch.arange(k).repeat(n_users, 1) + torch.arange(n_users)[:, None] * k  # distinct item per pair
    relevant = {u: {int(i) for i in ids[u][torch.from_numpy(y[1, u])]} for u in range(n_users)}
    for threshold in (0.3, 0.5, 0.7):
        ranked, kept = threshold_lists.lists_above(ids, platt(torch.from_numpy(s[1])), threshold)
        report = threshold_lists.threshold_report(ranked, kept, relevant, k)
        assert report["precision"] == pytest.approx(report["mean p"], abs=0.02), threshold
        assert report["mean p"] >= threshold
    # an uncalibrated score cut at 0.5 breaks the promise: sigmoid(s) overstates the share relevant
    raw = torch.sigmoid(torch.from_numpy(s[1]))
    ranked, kept = threshold_lists.lists_above(ids, raw, 0.5)
    report = threshold_lists.threshold_report(ranked, kept, relevant, k)
    assert report["mean p"] - report["precision"] > 0.1

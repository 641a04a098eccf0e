"""Chapter 10's settings: the genre domain split, revealed interactions, staged items, random ties, chance nDCG."""

import numpy as np
import pandas as pd
import pytest
import torch

from xlrec_lib.rec import cold_start, ranking_metrics

ITEMS = pd.DataFrame({"item_id": [1, 2, 3, 4, 5],
                      "genres": [["Drama"], ["Sci-Fi", "Action"], ["Horror"], ["Comedy"], ["Fantasy", "Drama"]]})
RATINGS = pd.DataFrame({"user_id": [1, 1, 1, 2, 2, 2, 3, 3],
                        "item_id": [1, 2, 3, 1, 4, 5, 2, 4],
                        "timestamp": [5, 4, 3, 2, 1, 9, 8, 7]})


def test_domain_split_leaves_no_target_item_in_training_and_loses_no_row():
    source, target, items = cold_start.genre_domain_split(RATINGS, ITEMS, ["Sci-Fi", "Horror", "Fantasy"])
    assert items.tolist() == [2, 3, 5]  # any target genre puts an item in the target (Sci-Fi + Action: item 2)
    assert not source["item_id"].isin(items).any() and target["item_id"].isin(items).all()
    assert len(source) + len(target) == len(RATINGS)
    assert sorted(source.index.tolist() + target.index.tolist()) == RATINGS.index.tolist()


def test_domain_split_rejects_an_unknown_genre_and_a_bare_string():
    with pytest.raises(ValueError, match=r"\['SciFi'\] are not among the item genres"):
        cold_start.domain_items(ITEMS, ["SciFi", "Horror"])
    with pytest.raises(ValueError, match="collection of genres"):
        cold_start.domain_items(ITEMS, "Horror")


def test_reveal_first_moves_each_items_earliest_rows():
    train, test = RATINGS.iloc[:0], RATINGS
    new_train, new_test = cold_start.reveal_first(train, test, {4: 1, 2: 5, 1: 1})
    # item 4's earliest (t=1, row 4), both rows of item 2, and item 1's earliest: row 3 (t=2), not row 0 (t=5)
    assert sorted(new_train.index.tolist()) == [1, 3, 4, 6]
    assert len(new_train) + len(new_test) == len(RATINGS) and not set(new_train.index) & set(new_test.index)
    with pytest.raises(ValueError, match="counts must be >= 0"):
        cold_start.reveal_first(train, test, {4: -1})
    with pytest.raises(ValueError, match=r"items \['4'\] have no row in test"):
        cold_start.reveal_first(train, test, {"4": 1})
    with pytest.raises(ValueError, match="repeated index labels"):
        cold_start.reveal_first(train, pd.concat([test, test]), {4: 1})


def test_staged_items_draws_disjoint_items_with_enough_rows():
    ratings = pd.DataFrame({"item_id": np.repeat(np.arange(30), np.arange(30)), "user_id": 0})
    staged = cold_start.staged_items(ratings, [0, 1, 5], per_stage=4, min_rows=10, seed=3)
    assert len(staged) == 12 and sorted(pd.Series(staged).value_counts().tolist()) == [4, 4, 4]
    assert all(item >= 10 for item in staged)  # item i has i rows
    assert staged == cold_start.staged_items(ratings, [0, 1, 5], per_stage=4, min_rows=10, seed=3)
    with pytest.raises(ValueError, match="fewer than"):
        cold_start.staged_items(ratings, [0, 1, 5], per_stage=10, min_rows=10)
    with pytest.raises(ValueError, match="nothing to test"):
        cold_start.staged_items(ratings, [0, 10], per_stage=2, min_rows=10)


def test_interaction_counts_in_item_order_with_zeros():
    assert cold_start.interaction_counts(RATINGS, [5, 4, 9]).tolist() == [1, 2, 0]


def test_random_ties_are_random_and_exclusion_holds():
    flat = torch.zeros(2000, 4)
    top = cold_start.top_k_random_ties(flat, 1)
    share = np.bincount(top[:, 0], minlength=4) / 2000
    assert np.all(np.abs(share - 0.25) < 0.04)  # no column wins ties by its position
    scores = torch.tensor([[1.0, 3.0, 2.0, 3.0]])
    assert set(cold_start.top_k_random_ties(scores, 2)[0]) == {1, 3}
    exclude = torch.tensor([[False, True, False, False]])
    assert cold_start.top_k_random_ties(scores, 2, exclude)[0].tolist() == [3, 2]
    with pytest.raises(ValueError, match="NaN or inf"):
        cold_start.top_k_random_ties(torch.tensor([[1.0, float("nan")]]), 1)


def test_random_ndcg_matches_a_hand_case_and_a_simulation():
    # user 1: R=2 of N=5, k=2 -> 2/5; user 2: R=1 -> (1/5)(1/ln2 + 1/ln3) / (1/ln2)
    expected = (0.4 + 0.2 * (1 / np.log(2) + 1 / np.log(3)) * np.log(2)) / 2
    relevant = {1: {1, 2}, 2: {3}}
    assert cold_start.random_ndcg(relevant, 5, 2) == pytest.approx(expected)
    rng = np.random.default_rng(0)
    relevant = {u: set(rng.choice(40, size=rng.integers(1, 15), replace=False).tolist()) for u in range(50)}
    simulated = np.mean([ranking_metrics.ndcg_at_k({u: rng.permutation(40)[:10].tolist() for u in relevant},
                                                   relevant, 10) for _ in range(400)])
    assert cold_start.random_ndcg(relevant, 40, 10) == pytest.approx(simulated, abs=0.005)
    # per-user candidates: each user's own expectation, then the mean
    per_user = cold_start.random_ndcg({1: {1, 2}, 2: {3}}, {1: 5, 2: 10}, 2)
    alone = [cold_start.random_ndcg({1: {1, 2}}, 5, 2), cold_start.random_ndcg({2: {3}}, 10, 2)]
    assert per_user == pytest.approx(np.mean(alone))
    assert cold_start.random_ndcg({1: [1, 1]}, 5, 2) == cold_start.random_ndcg({1: {1}}, 5, 2)  # a set, as ndcg_at_k


def test_evaluate_reports_ndcg_and_recall_of_the_candidates():
    scores = torch.tensor([[0.9, 0.1, 0.5], [0.2, 0.3, 0.1]])
    out = cold_start.evaluate(scores, {10: {"a"}, 20: {"c"}}, [10, 20], ["a", "b", "c"], k=2)
    assert out["recall@2"] == pytest.approx(0.5)  # user 10 finds a; user 20's c is ranked last
    assert out["nDCG@2"] == pytest.approx(0.5)
    per_user = cold_start.evaluate(scores, {10: {"a"}, 20: {"c"}}, [10, 20], ["a", "b", "c"], k=2, per_user=True)
    assert per_user["recall@2"] == {10: 1.0, 20: 0.0}
    excluded = cold_start.evaluate(scores, {20: {"c"}}, [10, 20], ["a", "b", "c"], k=2,
                                   exclude=torch.tensor([[False] * 3, [True, True, False]]))
    assert excluded["recall@2"] == 1.0  # user 20's training items go last, so c comes first
    with pytest.raises(ValueError, match="scores have shape"):
        cold_start.evaluate(scores, {10: {"a"}}, [10, 20], ["a", "b"], k=2)
    with pytest.raises(ValueError, match="is not a candidate"):
        cold_start.evaluate(scores, {10: {"z"}}, [10, 20], ["a", "b", "c"], k=2)
    with pytest.raises(ValueError, match="exclude has shape"):
        cold_start.evaluate(scores, {10: {"a"}}, [10, 20], ["a", "b", "c"], k=2, exclude=torch.zeros(3, dtype=bool))


def test_evaluate_many_and_paired_gap():
    # users 10, 20, 30 with one relevant item each among a, b, c; a finds all three, b finds none at k = 1
    relevant, users, items = {10: {"a"}, 20: {"b"}, 30: {"c"}}, [10, 20, 30], ["a", "b", "c"]
    good, bad = torch.eye(3), 1 - torch.eye(3)
    table = cold_start.evaluate_many({"good": good, "bad": bad}, relevant, users, items, k=1)
    assert list(table.index) == ["good", "bad"] and list(table.columns) == ["nDCG@1", "recall@1"]
    assert table.loc["good"].tolist() == [1.0, 1.0] and table.loc["bad"].tolist() == [0.0, 0.0]
    mean, low, high = cold_start.paired_gap(good, bad, relevant, users, items, k=1)
    assert (mean, low, high) == (1.0, 1.0, 1.0)  # every user gains 1: no spread to resample
    # user 10 only: b ranks a first too, so the gap is 2 of 3 users, and the interval covers the spread
    mixed = bad.clone()
    mixed[0] = good[0]
    mean, low, high = cold_start.paired_gap(good, mixed, relevant, users, items, k=1, seed=1)
    assert mean == pytest.approx(2 / 3) and low < mean < high
    # user 10 scores b (seen in training) above a: excluding b puts a first again
    seen_b = good.clone()
    seen_b[0] = torch.tensor([0.5, 0.9, 0.1])
    excluded = torch.tensor([[False, True, False], [False] * 3, [False] * 3])
    assert cold_start.paired_gap(seen_b, bad, relevant, users, items, k=1)[0] == pytest.approx(2 / 3)
    assert cold_start.paired_gap(seen_b, bad, relevant, users, items, k=1, exclude=excluded)[0] == 1.0


def test_random_recall_matches_a_simulation():
    rng = np.random.default_rng(1)
    relevant = {u: set(rng.choice(30, size=rng.integers(1, 8), replace=False).tolist()) for u in range(40)}
    simulated = np.mean([ranking_metrics.recall_at_k({u: rng.permutation(30)[:10].tolist() for u in relevant},
                                                     relevant, 10) for _ in range(400)])
    assert cold_start.random_recall(relevant, 30, 10) == pytest.approx(1 / 3)
    assert cold_start.random_recall(relevant, 30, 10) == pytest.approx(simulated, abs=0.01)
    assert cold_start.random_recall({1: {1}}, 5, 10) == 1.0
    assert cold_start.random_recall({1: {1}, 2: {2}}, {1: 20, 2: 40}, 10) == pytest.approx((0.5 + 0.25) / 2)

"""Hand-computed cases for xlrec_lib.rec's metrics (every expected number is worked out in the comments)."""

import math

import numpy as np
import pandas as pd
import pytest

from xlrec_lib.rec import beyond_accuracy, classification_metrics, ranking_metrics
from xlrec_lib.vectors import target_ranks

# Four users, k = 3:
#   A ranks [1, 2, 3, 4, 5], relevant {2, 5, 9}: top 3 = [1, 2, 3], one hit at rank 2
#   B ranks [7, 8],          relevant {7}:       one hit at rank 1, list shorter than k
#   C ranks [4, 5, 6],       relevant {}:        skipped (no relevant item)
#   D has no ranked list,    relevant {1}:       counts as an empty list, scores 0
RANKED = {"A": [1, 2, 3, 4, 5], "B": [7, 8], "C": [4, 5, 6]}
RELEVANT = {"A": {2, 5, 9}, "B": {7}, "C": set(), "D": {1}}
K = 3

LN2, LN3, LN4 = math.log(2), math.log(3), math.log(4)
NDCG_A = (1 / LN3) / (1 / LN2 + 1 / LN3 + 1 / LN4)  # DCG: hit at rank 2; IDCG: min(|R|=3, k=3) = 3 ideal hits

EXPECTED = {
    # precision: A: 1/3, B: 1/3 (one hit / k, although B's list has 2 items), D: 0  -> (2/3) / 3
    "P": 2 / 9,
    # recall: A: 1/3 (1 of 3 relevant), B: 1/1, D: 0 -> (4/3) / 3
    "R": 4 / 9,
    # A: P = R = 1/3 -> F1 1/3; B: P = 1/3, R = 1 -> 2 (1/3) / (4/3) = 1/2; D: 0 -> (5/6) / 3
    "F1": 5 / 18,
    # A: 0.296082...; B: DCG = IDCG = 1/ln 2 -> 1; D: 0
    "NDCG": (NDCG_A + 1) / 3,
    # A: (1 / min(3, 3)) * (1/2) = 1/6; B: (1 / 1) * (1/1) = 1; D: 0 -> (7/6) / 3
    "MAP": 7 / 18,
    # A: 1/2, B: 1, D: 0 -> (3/2) / 3
    "MRR": 1 / 2,
    # hit rate: A and B have a hit, D not -> 2/3
    "HR": 2 / 3,
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_ranking_metrics_hand_computed(name):
    assert ranking_metrics.RANKING_METRICS[name](RANKED, RELEVANT, K) == pytest.approx(EXPECTED[name], abs=1e-9)


def test_per_user_values_by_hand_and_their_mean_is_the_metric():
    per_user = ranking_metrics.ndcg_at_k(RANKED, RELEVANT, K, per_user=True)
    assert set(per_user) == {"A", "B", "D"}  # C has no relevant item: not evaluated
    assert per_user["A"] == pytest.approx(NDCG_A) and per_user["B"] == 1.0 and per_user["D"] == 0.0
    assert ranking_metrics.precision_at_k(RANKED, RELEVANT, K, per_user=True) == pytest.approx(
        {"A": 1 / 3, "B": 1 / 3, "D": 0.0})
    for name, fn in ranking_metrics.RANKING_METRICS.items():
        values = fn(RANKED, RELEVANT, K, per_user=True)
        assert np.mean(list(values.values())) == pytest.approx(EXPECTED[name], abs=1e-12), name


def test_ndcg_a_worked_number():
    # 1/ln3 = 0.910239, 1/ln2 + 1/ln3 + 1/ln4 = 1.442695 + 0.910239 + 0.721348 = 3.074282
    assert NDCG_A == pytest.approx(0.296082, abs=1e-6)
    # the library on user A alone gives the worked number
    assert ranking_metrics.ndcg_at_k({"A": RANKED["A"]}, {"A": RELEVANT["A"]}, K) == pytest.approx(0.296082, abs=1e-6)
    # the log base cancels: the same ratio with log2
    assert NDCG_A == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3) + 1 / math.log2(4)), abs=1e-12)


def test_list_of_lists_matches_dict():
    ranked = [[1, 2, 3, 4, 5], [7, 8], [4, 5, 6], []]
    relevant = [{2, 5, 9}, {7}, set(), {1}]
    for name, fn in ranking_metrics.RANKING_METRICS.items():
        assert fn(ranked, relevant, K) == pytest.approx(EXPECTED[name], abs=1e-9)


def test_map_normalised_by_min_relevant_k():
    # ranked [1, 2, 3, 4], relevant {1, 3, 5, 6, 7} (|R| = 5)
    # k = 2: one hit at rank 1 -> (1/1) / min(5, 2) = 0.5   (dividing by |R| would give 0.2)
    # k = 4: hits at ranks 1 and 3 -> (1/1 + 2/3) / min(5, 4) = (5/3) / 4 = 5/12
    ranked, relevant = {"u": [1, 2, 3, 4]}, {"u": {1, 3, 5, 6, 7}}
    assert ranking_metrics.map_at_k(ranked, relevant, 2) == pytest.approx(0.5, abs=1e-9)
    assert ranking_metrics.map_at_k(ranked, relevant, 4) == pytest.approx(5 / 12, abs=1e-9)
    # perfect list -> 1
    assert ranking_metrics.map_at_k({"u": [5, 6]}, relevant, 2) == pytest.approx(1.0, abs=1e-9)


def test_mrr_without_cut_and_ndcg_two_hits():
    # first hit at rank 4 -> MRR 1/4 without a cut, 0 with k = 3
    ranked, relevant = {"u": [9, 8, 7, 1]}, {"u": {1}}
    assert ranking_metrics.mrr(ranked, relevant) == pytest.approx(0.25, abs=1e-9)
    assert ranking_metrics.mrr(ranked, relevant, 3) == 0.0
    # hits at ranks 1 and 3, |R| = 2, k = 3: DCG = 1/ln2 + 1/ln4 = 1.442695 + 0.721348 = 2.164043,
    # IDCG = 1/ln2 + 1/ln3 = 2.352934 -> 0.919721
    ndcg = ranking_metrics.ndcg_at_k({"u": [1, 9, 2]}, {"u": {1, 2}}, 3)
    assert ndcg == pytest.approx((1 / LN2 + 1 / LN4) / (1 / LN2 + 1 / LN3), abs=1e-9)
    assert ndcg == pytest.approx(0.919721, abs=1e-6)


def test_ranking_report_keys():
    report = ranking_metrics.ranking_report(RANKED, RELEVANT, K)
    assert list(report) == ["P@3", "R@3", "F1@3", "NDCG@3", "MAP@3", "MRR@3", "HR@3"]
    assert report["MAP@3"] == pytest.approx(7 / 18, abs=1e-9)


def test_perfect_list_report_ceilings_by_hand():
    # k = 3: u has 1 relevant item (P 1/3, R 1), v has 5 (P 1, R 3/5), w has none (skipped)
    report = ranking_metrics.perfect_list_report({"u": {1}, "v": {1, 2, 3, 4, 5}, "w": set()}, 3)
    assert report["P@3"] == pytest.approx((1 / 3 + 1) / 2)
    assert report["R@3"] == pytest.approx((1 + 3 / 5) / 2)
    assert report["NDCG@3"] == report["MAP@3"] == report["HR@3"] == pytest.approx(1.0)
    as_lists = ranking_metrics.perfect_list_report([{1}, {1, 2, 3, 4, 5}], 3)
    assert as_lists == pytest.approx(report)


def test_ranking_errors():
    with pytest.raises(ValueError, match="repeats item 2"):
        ranking_metrics.precision_at_k({"u": [1, 2, 2]}, {"u": {1}}, 3)
    with pytest.raises(ValueError, match="positive integer"):
        ranking_metrics.recall_at_k(RANKED, RELEVANT, 0)
    with pytest.raises(ValueError, match="no user has a relevant item"):
        ranking_metrics.ndcg_at_k({"u": [1]}, {"u": set()}, 1)
    with pytest.raises(ValueError, match="both be dicts"):
        ranking_metrics.hit_rate_at_k([[1]], {0: {1}}, 1)


def test_ranked_and_relevant_from_frame():
    frame = pd.DataFrame(
        {
            "user_id": [1, 1, 1, 2, 2],
            "item_id": [10, 11, 12, 10, 13],
            "score": [0.2, 0.9, 0.2, 0.5, 0.7],
        }
    )
    # user 1: 11 (0.9), then the tie 10 / 12 at 0.2 broken by item id
    assert ranking_metrics.ranked_from_frame(frame) == {1: [11, 10, 12], 2: [13, 10]}
    assert ranking_metrics.ranked_from_frame(frame, k=2) == {1: [11, 10], 2: [13, 10]}
    ratings = frame.rename(columns={"score": "rating"}).assign(rating=[5, 3, 4, 2, 1])
    assert ranking_metrics.relevant_from_frame(ratings, col_rating="rating", threshold=4) == {1: {10, 12}, 2: set()}
    assert ranking_metrics.relevant_from_frame(ratings) == {1: {10, 11, 12}, 2: {10, 13}}
    with pytest.raises(ValueError, match=r"pair \(1, 10\)"):
        ranking_metrics.ranked_from_frame(pd.concat([frame, frame.iloc[:1]]))
    with pytest.raises(ValueError, match=r"missing column\(s\) \['score'\]"):
        ranking_metrics.ranked_from_frame(frame.drop(columns="score"))


def test_ranked_from_frame_ties_count_against_the_relevant_items():
    # user 1 scores items 10, 11, 12 all 0.5 and item 13 at 0.9; relevant {10}. Item-id order would put 10 first
    # among the ties (rank 2); the tie rule puts it after the other equal items: rank 1 + 1 higher + 2 equal = 4
    frame = pd.DataFrame({"user_id": [1, 1, 1, 1], "item_id": [10, 11, 12, 13], "score": [0.5, 0.5, 0.5, 0.9]})
    relevant = {1: {10}}
    assert ranking_metrics.ranked_from_frame(frame) == {1: [13, 10, 11, 12]}
    ranked = ranking_metrics.ranked_from_frame(frame, relevant=relevant)
    assert ranked == {1: [13, 11, 12, 10]}
    assert ranking_metrics.mrr(ranked, relevant) == pytest.approx(1 / 4)
    # the same rank as the one rule computed from the scores
    ranks = target_ranks(np.array([[0.5, 0.5, 0.5, 0.9]]), np.array([0]))
    assert ranks.tolist() == [4]
    assert ranking_metrics.hit_rate_at_k(ranked, relevant, 3) == 0.0


def test_catalog_coverage():
    ranked = {"a": [1, 2, 3], "b": [2, 4]}
    # top 2: {1, 2} and {2, 4} -> 3 distinct items of 8
    assert beyond_accuracy.catalog_coverage(ranked, 8, 2) == pytest.approx(3 / 8, abs=1e-9)
    assert beyond_accuracy.catalog_coverage(ranked, range(1, 7), 3) == pytest.approx(4 / 6, abs=1e-9)
    with pytest.raises(ValueError, match="not in the catalog"):
        beyond_accuracy.catalog_coverage(ranked, [1, 2, 3], 2)


def test_intra_list_diversity():
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    # user a [0, 1, 2]: cos(0,1) = 0, cos(0,2) = cos(1,2) = 1/sqrt2 -> mean cos sqrt2/3 -> ILD 1 - sqrt2/3 = 0.528595
    # user b [0, 3]: item 3 is the zero vector, cosine 0 -> ILD 1
    # user c [1]: no pair, skipped
    ranked = {"a": [0, 1, 2], "b": [0, 3], "c": [1]}
    expected = (1 - math.sqrt(2) / 3 + 1) / 2
    assert beyond_accuracy.intra_list_diversity(ranked, vectors, 3) == pytest.approx(expected, abs=1e-9)
    # same with string ids; k = 2 cuts a to [x, y] (orthogonal -> 1)
    ids = ["x", "y", "z", "w"]
    ranked_ids = {"a": ["x", "y", "z"], "b": ["x", "w"]}
    assert beyond_accuracy.intra_list_diversity(ranked_ids, vectors, 2, item_ids=ids) == pytest.approx(1.0, abs=1e-9)
    with pytest.raises(ValueError, match="has no vector"):
        beyond_accuracy.intra_list_diversity({"a": ["x", "q"]}, vectors, 2, item_ids=ids)


def test_novelty_and_popularity():
    train = pd.DataFrame({"user_id": [1, 2, 3, 4, 1, 1, 2, 3, 4], "item_id": [1, 1, 2, 3, 3, 3, 3, 3, 3]})
    # 4 users; item 1 by users 1, 2 -> 1/2; item 2 by user 3 -> 1/4; item 3 by all four -> 1 (duplicates once)
    pop = beyond_accuracy.item_popularity(train)
    assert pop == {1: 0.5, 2: 0.25, 3: 1.0}
    # the catalogue adds item 4 (no user): p = 0, or (0 + 1) / (4 + 1) = 0.2 with smoothing 1; item 1 -> 3/5
    assert beyond_accuracy.item_popularity(train, items=[1, 2, 3, 4]) == {1: 0.5, 2: 0.25, 3: 1.0, 4: 0.0}
    smooth = beyond_accuracy.item_popularity(train, items=[1, 2, 3, 4], smoothing=1)
    assert smooth[4] == pytest.approx(0.2, abs=1e-12) and smooth[1] == pytest.approx(0.6, abs=1e-12)
    with pytest.raises(ValueError, match="item 3 of the frame"):
        beyond_accuracy.item_popularity(train, items=[1, 2])
    # slots: item 1 -> -log2(1/2) = 1, item 2 -> 2, item 3 -> 0: mean (1 + 2 + 0) / 3 = 1
    assert beyond_accuracy.novelty({"a": [1, 2], "b": [3]}, pop, 2) == pytest.approx(1.0, abs=1e-9)
    with pytest.raises(ValueError, match="item 9"):
        beyond_accuracy.novelty({"a": [9]}, pop, 1)


def test_novelty_with_add_one_smoothing_three_users():
    # p(i) = (n_i + 1) / (n_users + 1) with 3 training users: "x" rated by all three -> 4/4 = 1, "y" by one (twice,
    # counted once) -> 2/4, "z" by nobody but in the catalogue -> 1/4; novelty -log2 p = 0, 1, 2 bits
    train = pd.DataFrame({"user_id": [1, 2, 3, 1, 1], "item_id": ["x", "x", "x", "y", "y"]})
    pop = beyond_accuracy.item_popularity(train, items=["x", "y", "z"], smoothing=1)
    assert pop == {"x": 1.0, "y": 0.5, "z": 0.25}
    # slots: a [x, y, z] -> 0, 1, 2; b [z] -> 2: mean over the four slots (0 + 1 + 2 + 2) / 4 = 1.25
    assert beyond_accuracy.novelty({"a": ["x", "y", "z"], "b": ["z"]}, pop, 3) == 1.25
    # k cuts a to [x, y]: (0 + 1 + 2) / 3 = 1
    assert beyond_accuracy.novelty({"a": ["x", "y", "z"], "b": ["z"]}, pop, 2) == pytest.approx(1.0, abs=1e-12)


def test_auc_matches_scikit_learn_on_tied_scores():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    s = rng.integers(0, 20, 500) / 20  # many ties
    assert classification_metrics.auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_auc_with_ties():
    # positives 0.9, 0.8, 0.3; negatives 0.8, 0.1; pairs won: 0.9 beats both (2), 0.8 ties 0.8 (1/2) and beats
    # 0.1 (1), 0.3 loses to 0.8 and beats 0.1 (1) -> 4.5 / 6 = 0.75
    assert classification_metrics.auc([1, 0, 1, 0, 1], [0.9, 0.8, 0.8, 0.1, 0.3]) == pytest.approx(0.75, abs=1e-9)
    assert classification_metrics.auc([0, 1], [0.2, 0.1]) == 0.0
    with pytest.raises(ValueError, match="both classes"):
        classification_metrics.auc([1, 1], [0.2, 0.1])


Y_TRUE = [0, 0, 1, 1, 2, 2, 2]
Y_PRED = [0, 1, 1, 1, 2, 0, 2]
# class 0: TP 1, predicted 2, support 2 -> P 1/2, R 1/2, F1 1/2
# class 1: TP 2, predicted 3, support 2 -> P 2/3, R 1, F1 2 (2/3) / (5/3) = 4/5
# class 2: TP 2, predicted 2, support 3 -> P 1, R 2/3, F1 4/5
# macro: P (1/2 + 2/3 + 1) / 3 = 13/18, R 13/18, F1 (1/2 + 4/5 + 4/5) / 3 = 7/10; accuracy = micro = 5/7


def test_classification_hand_computed():
    assert classification_metrics.accuracy(Y_TRUE, Y_PRED) == pytest.approx(5 / 7, abs=1e-9)
    report = classification_metrics.classification_report(Y_TRUE, Y_PRED)
    np.testing.assert_allclose(report.loc[0, ["precision", "recall", "f1"]].to_numpy(float), [0.5, 0.5, 0.5], atol=1e-9)
    np.testing.assert_allclose(report.loc[1, ["precision", "recall", "f1"]].to_numpy(float), [2 / 3, 1, 0.8], atol=1e-9)
    np.testing.assert_allclose(report.loc[2, ["precision", "recall", "f1"]].to_numpy(float), [1, 2 / 3, 0.8], atol=1e-9)
    assert report.loc[2, "support"] == 3
    assert all(report[c].dtype == np.float64 for c in ["precision", "recall", "f1"])
    assert classification_metrics.precision_score(Y_TRUE, Y_PRED) == pytest.approx(13 / 18, abs=1e-9)
    assert classification_metrics.recall_score(Y_TRUE, Y_PRED) == pytest.approx(13 / 18, abs=1e-9)
    assert classification_metrics.f1_score(Y_TRUE, Y_PRED) == pytest.approx(0.7, abs=1e-9)
    assert classification_metrics.f1_score(Y_TRUE, Y_PRED, average="micro") == pytest.approx(5 / 7, abs=1e-9)
    f1 = classification_metrics.f1_score(Y_TRUE, Y_PRED, average="binary", pos_label=1)
    assert f1 == pytest.approx(0.8, abs=1e-9)
    recall = classification_metrics.recall_score(Y_TRUE, Y_PRED, average=None)
    np.testing.assert_allclose(recall.to_numpy(float), [0.5, 1, 2 / 3])
    both = classification_metrics.accuracy_and_macro_f1(Y_TRUE, Y_PRED)
    assert both == pytest.approx({"accuracy": 5 / 7, "macro-F1": 0.7}, abs=1e-9)
    # a class never seen nor predicted still counts when named: its F1 0 pulls the mean to 0.7 * 3 / 4
    with_absent = classification_metrics.accuracy_and_macro_f1(Y_TRUE, Y_PRED, labels=[0, 1, 2, 3])
    assert with_absent["macro-F1"] == pytest.approx(0.525, abs=1e-9)


def test_confusion_matrix_and_zero_division():
    cm = classification_metrics.confusion_matrix(Y_TRUE, Y_PRED)
    np.testing.assert_array_equal(cm.to_numpy(), [[1, 1, 0], [0, 2, 0], [1, 0, 2]])
    # class 1 never predicted nor present: its precision and recall are 0 by convention, so macro-F1 = (1 + 0) / 2
    assert classification_metrics.f1_score([0, 0], [0, 0], labels=[0, 1]) == pytest.approx(0.5, abs=1e-9)
    with pytest.raises(ValueError, match="label 'b'"):
        classification_metrics.confusion_matrix(["a", "b"], ["a", "a"], labels=["a"])
    with pytest.raises(ValueError, match="same length"):
        classification_metrics.accuracy([1, 2], [1])

"""Bad input to the rec metrics, calibration and content vectors: each case raises ValueError naming the culprit.

One parametrized case per kind of bad input; each asserts the exact error type and that the message names the
argument, the user or position, and the value.
"""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from xlrec_lib.rec import beyond_accuracy, calibration, classification_metrics, content, ranking_metrics

M = ranking_metrics
NAN, INF = float("nan"), float("inf")
FRAME = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [10, 11, 10], "score": [0.5, 0.2, 0.9]})
ITEMS = pd.DataFrame({"item_id": [10, 11], "genres": [["Comedy"], ["Drama"]]})

CASES = {
    # ranking metrics: shapes of ranked / relevant
    "relevant not nested": (lambda: M.precision_at_k([[2]], [2], 1),
                            r"relevant\[0\] must be a collection \(set or list\) of item ids, got int 2 \(a list of "
                            r"lists is expected"),
    "ranked list is a string": (lambda: M.ndcg_at_k(["abc"], [{"a"}], 2),
                                r"ranked\[0\] must be an ordered list of item ids, got str 'abc'"),
    "ranked is one string": (lambda: M.mrr("abc", [{"a"}]), r"ranked must be a dict user -> ids or a list of lists, "
                                                             r"got str 'abc'"),
    "relevant set is a string": (lambda: M.recall_at_k({1: [1]}, {1: "12"}, 1),
                                 r"relevant\[1\] must be a collection \(set or list\) of item ids, got str '12'"),
    "ranked list is a set": (lambda: M.map_at_k({1: {3, 1}}, {1: {1}}, 1),
                             r"ranked\[1\] must be an ordered list of item ids, got set"),
    "users keyed 1 and '1'": (lambda: M.precision_at_k({1: [5]}, {"1": {5}}, 1),
                              r"user ids are of different kinds: int in ranked \(e.g. 1\), "
                              r"str in relevant \(e.g. '1'\)"),
    "items 5 and '5'": (lambda: M.hit_rate_at_k({1: [5]}, {1: {"5"}}, 1),
                        r"item ids are of different kinds: int in ranked \(e.g. 5\), str in relevant \(e.g. '5'\)"),
    "users of mixed kinds in one argument": (lambda: M.f1_at_k({1: [5], "2": [5]}, {1: {5}, "2": {5}}, 1),
                                             r"user ids are of different kinds: int in ranked \(e.g. 1\), "
                                             r"str in ranked"),
    "dict against list": (lambda: M.mrr({0: [1]}, [{1}]), r"ranked and relevant must both be dicts or both be lists"),
    "negative k": (lambda: M.precision_at_k({1: [1]}, {1: {1}}, -1), r"k must be a positive integer, got -1"),
    "zero k": (lambda: M.recall_at_k({1: [1]}, {1: {1}}, 0), r"k must be a positive integer, got 0"),
    "float k": (lambda: M.ndcg_at_k({1: [1]}, {1: {1}}, 2.0), r"k must be a positive integer, got 2.0"),
    "bool k": (lambda: M.map_at_k({1: [1]}, {1: {1}}, True), r"k must be a positive integer, got True"),
    "every relevant set empty": (lambda: M.mrr({1: [1]}, {1: set()}), r"no user has a relevant item"),
    "repeated item in a list": (lambda: M.precision_at_k({7: [1, 1]}, {7: {1}}, 2),
                                r"ranked list of user 7 repeats item 1 in its top 2"),
    "report with bad k": (lambda: M.ranking_report({1: [1]}, {1: {1}}, "10"),
                          r"k must be a positive integer, got '10'"),
    # frame adapters
    "NaN score in a frame": (lambda: M.ranked_from_frame(FRAME.assign(score=[0.5, NAN, 0.9])),
                             r"column 'score' is nan at row 1; scores must be finite"),
    "inf score in a frame": (lambda: M.ranked_from_frame(FRAME.assign(score=[0.5, 0.2, INF])),
                             r"column 'score' is inf at row 2; scores must be finite"),
    "text score in a frame": (lambda: M.ranked_from_frame(FRAME.assign(score=["a", 0.2, 0.1])),
                              r"column 'score' is 'a' at row 0; scores must be finite"),
    "missing column": (lambda: M.ranked_from_frame(FRAME, col_score="pred"), r"missing column\(s\) \['pred'\]"),
    "col_user == col_item": (lambda: M.ranked_from_frame(FRAME, col_user="item_id"),
                             r"must name different columns, got \['item_id', 'item_id', 'score'\]"),
    "not a frame": (lambda: M.relevant_from_frame({"user_id": [1]}), r"expected a pandas DataFrame, got dict"),
    "NaN rating": (lambda: M.relevant_from_frame(FRAME.assign(rating=[5, NAN, 4]), col_rating="rating", threshold=4),
                   r"column 'rating' is nan at row 1, not a number"),
    "NaN rating, labelled rows": (lambda: M.relevant_from_frame(FRAME.assign(rating=[5, NAN, 4]).set_axis([10, 20, 30]),
                                                        col_rating="rating", threshold=4),
                                  r"column 'rating' is nan at row 20, not a number"),
    "NaN score, labelled rows": (
        lambda: M.ranked_from_frame(FRAME.assign(score=[0.5, NAN, 0.9]).set_axis([10, 20, 30])),
        r"column 'score' is nan at row 20; scores must be finite"),
    "NaN threshold": (lambda: M.relevant_from_frame(FRAME.assign(rating=[5, 3, 4]), col_rating="rating",
                                                    threshold=NAN), r"threshold must be a number, got nan"),
    "frame ids against relevant ids of another kind": (
        lambda: M.ranked_from_frame(FRAME, relevant={"1": {10}}),
        r"user ids are of different kinds: int in frame \(e.g. 1\), str in relevant \(e.g. '1'\)"),
    # beyond accuracy
    "catalog given as a string": (lambda: beyond_accuracy.catalog_coverage({1: ["a"]}, "abc", 1),
                                  r"catalog must be the item ids or their number, got 'abc'"),
    "empty catalog": (lambda: beyond_accuracy.catalog_coverage({1: []}, 0, 1), r"the catalog is empty"),
    "NaN item vector": (lambda: beyond_accuracy.intra_list_diversity({1: [0, 1]}, [[1.0, 0.0], [NAN, 1.0]], 2),
                        r"item_vectors row 1 is not finite"),
    "item_ids given as a string": (lambda: beyond_accuracy.intra_list_diversity({1: ["a", "b"]}, np.eye(2), 2,
                                                                                item_ids="ab"),
                                   r"item_ids must be a list of ids, got the string 'ab'"),
    "popularity items as a string": (lambda: beyond_accuracy.item_popularity(FRAME, items="1011"),
                                     r"items must be a collection of item ids, got the string '1011'"),
    "NaN smoothing": (lambda: beyond_accuracy.item_popularity(FRAME, smoothing=NAN),
                      r"smoothing must be >= 0, got nan"),
    "empty interaction frame": (lambda: beyond_accuracy.item_popularity(FRAME.iloc[:0]), r"the frame has no rows"),
    "item without popularity": (lambda: beyond_accuracy.novelty({1: [99]}, {10: 0.5}, 1),
                                r"item 99 \(user 1\) has popularity 0.0, need 0 < p <= 1"),
    # AUC and classification metrics
    "NaN score in AUC": (lambda: classification_metrics.auc([0, 1], [0.1, NAN]),
                         r"auc: scores must be finite, got nan at position 1"),
    "inf score in AUC": (lambda: classification_metrics.auc([0, 1], [-INF, 0.2]),
                         r"auc: scores must be finite, got -inf at position 0"),
    "AUC labels not 0/1": (lambda: classification_metrics.auc([0, 2], [0.1, 0.2]), r"auc: labels must be 0/1, got 2"),
    "AUC arguments swapped": (lambda: classification_metrics.auc([0.9, 0.1], [1, 0]),
                              r"labels must be 0/1, got 0.9 \(did you pass \(scores, labels\)\?"),
    "AUC text labels": (lambda: classification_metrics.auc(["0", "1"], [0.1, 0.2]), r"labels must be 0/1, got '0'"),
    "AUC lengths differ": (lambda: classification_metrics.auc([0, 1, 1], [0.1, 0.2]),
                           r"labels \(3,\) and scores \(2,\) must be 1-D of the same length"),
    "AUC one class": (lambda: classification_metrics.auc([1, 1], [0.1, 0.2]),
                      r"need both classes, got 2 positives and 0 negatives"),
    "NaN predicted label": (lambda: classification_metrics.accuracy([0, 1], [0.0, NAN]),
                            r"y_pred has nan at position 1: labels must be finite"),
    # calibration
    "NaN score to Platt": (lambda: calibration.fit_platt([0, 1, 0, 1], [0.1, NAN, 0.3, 0.4]),
                           r"scores must be finite, got nan at position 1"),
    "inf score to a threshold": (lambda: calibration.choose_threshold([0, 1], [0.1, INF]),
                                 r"scores must be finite, got inf at position 1"),
    "NaN probability to ECE": (lambda: calibration.expected_calibration_error([0, 1], [0.1, NAN]),
                               r"probs must be finite, got nan at position 1"),
    "labels not 0/1 in Platt": (lambda: calibration.fit_platt([0, 1, 2, 1], [0.1, 0.2, 0.3, 0.4]),
                                r"labels must be 0/1, got 2.0 at position 2"),
    "NaN label": (lambda: calibration.reliability_table([0, NAN], [0.1, 0.2]),
                  r"labels must be finite, got nan at position 1"),
    "labels as a string": (lambda: calibration.choose_threshold("0101", [0.1, 0.2, 0.3, 0.4]),
                           r"labels must be numbers, got the string '0101'"),
    "probability above 1": (lambda: calibration.reliability_table([1], [1.5]),
                            r"probabilities must lie in \[0, 1\], got range \[1.5, 1.5\]"),
    "lengths differ": (lambda: calibration.fit_platt([0, 1], [0.1, 0.2, 0.3]),
                       r"labels \(2\) and scores \(3\) differ in length"),
    "empty scores": (lambda: calibration.choose_threshold([], []), r"labels is empty"),
    "zero bins": (lambda: calibration.reliability_table([0, 1], [0.1, 0.9], n_bins=0), r"n_bins must be >= 1, got 0"),
    "unknown strategy": (lambda: calibration.reliability_table([0, 1], [0.1, 0.9], strategy="equal"),
                         r"strategy must be 'uniform' or 'quantile', got 'equal'"),
    "unknown objective": (lambda: calibration.choose_threshold([0, 1], [0.1, 0.9], "auc"),
                          r"objective must be 'f1' or 'accuracy', got 'auc'"),
    "inf in the score matrix": (lambda: calibration.unseen_pairs(torch.tensor([[0.1, INF]]), ([], []), ([0], [0])),
                                r"score \(0, 1\) is inf; scores must be finite"),
    "pair index outside the matrix": (lambda: calibration.unseen_pairs(torch.zeros(2, 2), ([0], [5]), ([], [])),
                                      r"seen item indices must be integers in 0..1"),
    "seen pairs of unequal length": (lambda: calibration.unseen_pairs(torch.zeros(2, 2), ([0, 1], [1]), ([], [])),
                                     r"seen must be \(user indices, item indices\) of equal length"),
    # content vectors
    "content: missing column": (lambda: content.user_profiles(FRAME, content.item_features(ITEMS), col_item="movie"),
                                r"interactions: missing column\(s\) \['movie'\]"),
    "content: col_user == col_item": (lambda: content.index_pairs(FRAME, [1, 2], [10, 11], col_item="user_id"),
                                      r"must name different columns, got \['user_id', 'user_id'\]"),
    "content: user ids of another kind": (lambda: content.index_pairs(FRAME, ["1", "2"], [10, 11]),
                                          r"user_id 1 is not among the given ids \(ids are compared as they are"),
    "content: user_ids as a string": (lambda: content.user_profiles(FRAME, content.item_features(ITEMS),
                                                                    user_ids="12"),
                                      r"user_ids must be a list of ids, got the string '12'"),
    "content: unknown item": (lambda: content.item_features(ITEMS).rows([99]), r"item id 99 has no feature row"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_named(case):
    call, message = CASES[case]
    with pytest.raises(ValueError, match=message) as err:
        call()
    assert type(err.value) is ValueError


def test_k_larger_than_every_list_is_allowed_and_counted_over_k():
    # lists shorter than k are fine: precision divides by k (1 hit / 5), recall by |R| (1 / 2), MRR 1 / 1
    ranked, relevant = {1: [3, 4]}, {1: {3, 9}}
    assert M.precision_at_k(ranked, relevant, 5) == pytest.approx(0.2)
    assert M.recall_at_k(ranked, relevant, 5) == pytest.approx(0.5)
    assert M.mrr(ranked, relevant, 5) == 1.0
    assert math.isclose(beyond_accuracy.catalog_coverage(ranked, [3, 4, 5, 6], 50), 0.5)

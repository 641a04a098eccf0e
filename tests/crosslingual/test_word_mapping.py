"""Word-level mapping: Procrustes, CSLS, word translation and the MUSE evaluation."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from xlrec_lib.crosslingual.word_mapping import (
    csls_scores,
    fit_mapping,
    muse_evaluation,
    normalize_center,
    procrustes,
    reverse_test_pairs,
    translation_accuracy,
    word_translation,
)


def random_rotation(dim: int, seed: int = 0) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(dim, dim)))
    return q * np.sign(np.diag(r))


def test_procrustes_recovers_a_known_rotation():
    rng = np.random.default_rng(1)
    rotation = random_rotation(20)
    X = rng.normal(size=(200, 20))
    W = procrustes(X, X @ rotation)
    assert_allclose(W, rotation, atol=1e-10)
    # with noise it is still close, and W stays orthogonal
    W_noisy = procrustes(X, X @ rotation + 0.05 * rng.normal(size=X.shape))
    assert_allclose(W_noisy @ W_noisy.T, np.eye(20), atol=1e-10)
    assert np.abs(W_noisy - rotation).max() < 0.05


def test_procrustes_is_the_least_squares_orthogonal_map():
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(50, 5)), rng.normal(size=(50, 5))
    best = np.linalg.norm(X @ procrustes(X, Y) - Y)
    for seed in range(20):  # no random orthogonal map does better
        assert best <= np.linalg.norm(X @ random_rotation(5, seed) - Y) + 1e-12


def test_procrustes_rejects_unpaired_input():
    with pytest.raises(ValueError, match="paired"):
        procrustes(np.ones((3, 2)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="no pairs"):
        procrustes(np.ones((0, 2)), np.ones((0, 2)))


def test_csls_matches_a_hand_computed_case():
    src = np.array([[1.0, 0.0], [0.0, 1.0]])
    tgt = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    # cos: src0 -> [1, .6, 0], src1 -> [0, .8, 1]
    # k=1: r_T = [1, 1]; r_S = [1, .8, 1]
    assert_allclose(csls_scores(src, tgt, k=1), [[0.0, -0.6, -2.0], [-2.0, -0.2, 0.0]], atol=1e-12)
    # k=2: r_T = [(1+.6)/2, (1+.8)/2] = [.8, .9]; r_S = [(1+0)/2, (.8+.6)/2, (1+0)/2] = [.5, .7, .5]
    assert_allclose(csls_scores(src, tgt, k=2), [[0.7, -0.3, -1.3], [-1.4, 0.0, 0.6]], atol=1e-12)
    assert_allclose(csls_scores(src, tgt, k=2, rows=[1]), [[-1.4, 0.0, 0.6]], atol=1e-12)
    assert_allclose(csls_scores(src, tgt, k=2, chunk=1), csls_scores(src, tgt, k=2))
    with pytest.raises(ValueError, match="exceeds"):
        csls_scores(src, tgt, k=3)


def test_csls_demotes_a_hub():
    # sources at 0 and 40 degrees; a "hub" target at 20 degrees is the nearest neighbour (cos 0.940) of both;
    # each source's own partner lies 22 degrees away (cos 0.927), on the far side
    def at(deg):
        return [np.cos(np.radians(deg)), np.sin(np.radians(deg))]

    src = np.array([at(0), at(40)])
    tgt = np.array([at(20), at(-22), at(62)])  # hub, partner of source 0, partner of source 1
    cosine = src @ tgt.T
    assert (cosine.argmax(1) == 0).all()
    assert (csls_scores(src, tgt, k=2).argmax(1) == [1, 2]).all()


def test_translation_accuracy_counts_any_gold():
    scores = np.array([[0.9, 0.1, 0.5], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1]])
    gold = [{2}, {2, 1}, {1}]
    # row 0: ranking 0,2,1 -> gold 2 at rank 2; row 1: 2,1,0 -> rank 1; row 2: 0,1,2 -> rank 2
    assert translation_accuracy(scores, gold, ks=(1, 2)) == {"P@1": pytest.approx(1 / 3), "P@2": 1.0}


def test_translation_accuracy_ties_count_against():
    # row 0: gold 1 ties target 0 at the top -> rank 2 (a stable argsort would put target 0 first and say 2 too,
    #        but for gold 0 it would say 1); row 1: gold 0 ties targets 1 and 2 -> rank 3;
    # row 2: golds 0 and 1 tie each other at the top -> rank 1 (another gold never counts against a gold)
    scores = np.array([[0.5, 0.5, 0.1], [0.2, 0.2, 0.2], [0.9, 0.9, 0.1]])
    assert translation_accuracy(scores, [{1}, {0}, {0, 1}], ks=(1, 2, 3)) == {
        "P@1": pytest.approx(1 / 3), "P@2": pytest.approx(2 / 3), "P@3": 1.0}
    assert translation_accuracy(scores, [{0}, {0}, {0, 1}], ks=(1,)) == {"P@1": pytest.approx(1 / 3)}


@pytest.mark.parametrize(
    "scores, gold, ks, message",
    [
        (np.zeros((2, 3)), [{0}], (1,), r"2 score rows but gold"),
        (np.zeros((1, 3)), [set()], (1,), r"gold\[0\] must be a non-empty set of target indices in 0..2"),
        (np.zeros((1, 3)), [{3}], (1,), r"gold\[0\] must be a non-empty set .* got \{3\}"),
        (np.zeros((1, 3)), [1], (1,), r"gold\[0\] must be a set of target indices, got 1"),
        (np.zeros((1, 3)), ["ab"], (1,), r"gold\[0\] must be a set of target indices, got 'ab'"),
        (np.array([[0.1, np.nan, 0.2]]), [{0}], (1,), r"scores must be finite, got nan at row 0, column 1"),
        (np.zeros((1, 3)), [{0}], (0, 1), r"k must be a positive integer, got 0"),
        (np.zeros(3), [{0}], (1,), r"scores must be \(n_query, n_tgt\)"),
    ],
)
def test_translation_accuracy_bad_inputs(scores, gold, ks, message):
    with pytest.raises(ValueError, match=message):
        translation_accuracy(scores, gold, ks)


def test_word_translation_and_fit_mapping_on_a_rotated_copy():
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(60)]
    en = rng.normal(size=(60, 10))
    zh = en @ random_rotation(10, 4)
    zh_words = [f"z{i}" for i in range(60)]
    train = pd.DataFrame({"source": words[:40], "target": zh_words[:40]})
    test = pd.DataFrame({"source": words[40:] + ["unknown"], "target": zh_words[40:] + ["z0"]})
    W, n = fit_mapping(en, zh, words, zh_words, train)
    assert n == 40
    for method in ("nn", "csls"):
        out = word_translation(en @ W, zh, words, zh_words, test, method=method, k=5)
        assert out == {"P@1": 1.0, "P@5": 1.0, "n_queries": 20}
    with pytest.raises(ValueError, match="method"):
        word_translation(en, zh, words, zh_words, test, method="cosine")
    # per-query hits: unmapped vectors hit only by chance; their mean is P@1, one value per query
    out = word_translation(en, zh, words, zh_words, test, method="nn", k=5, hits=True)
    assert out["hits@1"].shape == (20,) and set(np.unique(out["hits@1"])) <= {0.0, 1.0}
    assert out["hits@1"].mean() == pytest.approx(out["P@1"]) and out["P@1"] < 0.5
    assert out["hits@1"].index.tolist() == words[40:]  # indexed by query word, "unknown" left out
    csls = word_translation(en, zh, words, zh_words, test, method="csls", k=5, hits=True)
    assert csls["hits@1"].index.equals(out["hits@1"].index)  # both methods score the same queries
    # each value sits on its own word: move w45 onto its translation, and only w45 (of w40-w59) is a sure hit
    moved = en.copy()
    moved[45] = zh[45] * 3.0
    one = word_translation(moved, zh, words, zh_words, test, method="nn", k=5, hits=True)["hits@1"]
    assert one.loc["w45"] == 1.0 and one.drop("w45").sum() < 5


def test_reverse_test_pairs_keeps_only_unseen_targets():
    train = pd.DataFrame({"source": ["a", "b"], "target": ["甲", "乙"]})
    test = pd.DataFrame({"source": ["c", "d", "e"], "target": ["甲", "丙", "丁"]})
    out = reverse_test_pairs(train, test)
    assert out.to_dict("list") == {"source": ["丙", "丁"], "target": ["d", "e"]}


def test_muse_evaluation_on_a_rotated_copy_both_ways():
    from xlrec_lib.crosslingual.word_vectors import WordVectors

    rng = np.random.default_rng(5)
    base = rng.normal(size=(80, 12))
    en = WordVectors([f"w{i}" for i in range(80)], base, np.ones(80))
    zh = WordVectors([f"z{i}" for i in range(80)], base @ random_rotation(12, 6), np.ones(80))
    train = pd.DataFrame({"source": en.words[:50], "target": zh.words[:50]})
    test = pd.DataFrame({"source": en.words[50:], "target": zh.words[50:]})
    rows, W = muse_evaluation(en, zh, train, test, k=5)
    assert [(r["direction"], r["method"]) for r in rows] == [("en→zh", "NN"), ("en→zh", "CSLS"), ("zh→en", "NN"),
                                                            ("zh→en", "CSLS")]
    assert all(r["P@1"] == 1.0 and r["n_queries"] == 30 and r["train_pairs"] == 50 for r in rows)
    with_hits, _ = muse_evaluation(en, zh, train, test, k=5, hits=True)
    assert all(r["hits@1"].tolist() == [1.0] * 30 for r in with_hits)
    assert_allclose(W @ W.T, np.eye(12), atol=1e-10)


def test_normalize_center_by_hand():
    # rows (3, 4) and (0, 2): unit (0.6, 0.8) and (0, 1); mean (0.3, 0.9); centred (0.3, -0.1) and (-0.3, 0.1)
    out = normalize_center(np.array([[3.0, 4.0], [0.0, 2.0]]))
    s = 1 / np.sqrt(10)
    np.testing.assert_allclose(out, [[3 * s, -s], [-3 * s, s]])


def test_normalize_center_keeps_zero_rows_zero():
    # two equal rows centre to zero: they stay zero (no division by a zero norm, no NaN)
    out = normalize_center(np.array([[1.0, 0.0], [1.0, 0.0]]))
    assert np.array_equal(out, np.zeros((2, 2)))
    # a row that is zero on input stays zero, not -mean/|mean| (where every such word would meet: a hub)
    out = normalize_center(np.array([[1.0, 0.0], [1.0, 0.2], [0.0, 0.0]]))
    assert np.array_equal(out[2], np.zeros(2)) and np.allclose(np.linalg.norm(out[:2], axis=1), 1)

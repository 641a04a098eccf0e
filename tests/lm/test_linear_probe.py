"""linear_probe: C chosen on validation (never on test), each C a fresh fit, a start from another probe's weights
(lbfgs stops at its tolerance, so a warm start agrees with a cold fit to that tolerance), the TF-IDF character
probe, and clear errors."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from xlrec_lib.lm import linear_probe


def blobs(n, k=3, d=16, spread=1.0, seed=0, offset=0.0):
    """``n`` points around ``k`` class means (shifted by ``offset`` and squeezed: anisotropic, as pooled BERT)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    means = np.random.default_rng(99).normal(size=(k, d))
    x = offset + 0.1 * (means[y] + spread * rng.normal(size=(n, d)))
    return x, y


def test_c_is_chosen_on_validation_and_ties_take_the_smallest():
    x, y = blobs(300)
    xv, yv = blobs(200, seed=1)
    p = linear_probe.probe(x, y, xv, yv, cs=(100.0, 0.001, 1.0))
    assert list(p.scores.index) == [0.001, 1.0, 100.0]
    assert p.scores[p.C] == p.scores.max() and p.C == min(c for c, s in p.scores.items() if s == p.scores.max())
    same = linear_probe.probe(x, y, xv, yv, cs=(1.0, 1.0 + 1e-12))  # equal scores: the first (smaller) C
    assert same.C == 1.0


def test_each_c_is_a_fresh_fit_identical_to_scikit_learns():
    x, y = blobs(400, offset=3.0)
    xv, yv = blobs(200, seed=1, offset=3.0)
    p = linear_probe.probe(x, y, xv, yv, cs=linear_probe.CS)
    same = LogisticRegression(C=p.C, max_iter=2000).fit(x, y)
    np.testing.assert_array_equal(p.model.coef_, same.coef_)
    for c in linear_probe.CS:  # every validation score is that of a cold fit at its C
        assert p.scores[c] == (LogisticRegression(C=c, max_iter=2000).fit(x, y).predict(xv) == yv).mean()


def test_init_starts_from_another_probe_and_gives_the_same_model():
    x, y = blobs(300, offset=3.0)
    xv, yv = blobs(100, seed=1, offset=3.0)
    first = linear_probe.probe(x, y, xv, yv, cs=(10.0,))
    start = first.model.coef_.copy()
    more_x, more_y = np.vstack([x, xv[:30]]), np.r_[y, yv[:30]]
    warm = linear_probe.probe(more_x, more_y, xv, yv, cs=(10.0,), init=first)
    cold = linear_probe.probe(more_x, more_y, xv, yv, cs=(10.0,))
    np.testing.assert_allclose(warm.model.predict_proba(xv), cold.model.predict_proba(xv), atol=0.05)
    assert (warm.predict(xv) == cold.predict(xv)).mean() > 0.97
    assert warm.model.n_iter_.max() < cold.model.n_iter_.max()  # the start was used: fewer lbfgs steps
    np.testing.assert_array_equal(first.model.coef_, start)  # the start is copied, never changed in place
    with pytest.raises(ValueError, match="init has classes"):
        linear_probe.probe(x[:, :8], y, xv[:, :8], yv, init=first)


def test_macro_f1_selection_and_errors():
    x, y = blobs(200)
    xv, yv = blobs(100, seed=1)
    p = linear_probe.probe(x, y, xv, yv, cs=(0.1, 10.0), select="macro_f1")
    assert p.scores.name == "validation macro_f1" and 0 <= p.scores.min() <= p.scores.max() <= 1
    with pytest.raises(ValueError, match="select must be"):
        linear_probe.probe(x, y, xv, yv, select="auc")
    with pytest.raises(ValueError, match="positive"):
        linear_probe.probe(x, y, xv, yv, cs=(0.0,))
    with pytest.raises(ValueError, match="199 labels"):
        linear_probe.probe(x, y[:199], xv, yv)


def test_frozen_probe_encodes_each_split_once_and_predicts_test():
    x, y = blobs(240)
    texts = [f"t{i}" for i in range(240)]  # each text names its row of x
    calls = []

    def encode(batch):
        calls.append(len(batch))
        return x[[int(t[1:]) for t in batch]]

    fitted, pred = linear_probe.frozen_probe(encode, (texts[:120], y[:120]), (texts[120:180], y[120:180]),
                                             texts[180:])
    assert calls == [120, 60, 60]
    direct = linear_probe.probe(x[:120], y[:120], x[120:180], y[120:180])
    assert fitted.C == direct.C and np.array_equal(pred, direct.predict(x[180:]))
    assert (pred == y[180:]).mean() > 0.8


def test_tfidf_char_probe_reads_texts():
    good, bad = ["很好 喜欢", "非常好", "好用 喜欢", "很喜欢"], ["很差 失望", "太差", "失望 退货", "差评"]
    texts, labels = good * 5 + bad * 5, [1] * 20 + [0] * 20
    p = linear_probe.tfidf_char_probe(texts, labels, good + bad, [1] * 4 + [0] * 4, cs=(1.0, 10.0))
    assert p.predict(["喜欢 很好", "失望 太差"]).tolist() == [1, 0]
    assert p.vectorizer is not None and p.features(["好"]).shape[0] == 1


def test_fingerprint_follows_the_weights():
    x, y = blobs(200)
    xv, yv = blobs(100, seed=1)
    a = linear_probe.probe(x, y, xv, yv, cs=(1.0,))
    b = linear_probe.probe(x, y, xv, yv, cs=(1.0,))
    c = linear_probe.probe(x, y, xv, yv, cs=(10.0,))
    assert linear_probe.fingerprint(a) == linear_probe.fingerprint(b) != linear_probe.fingerprint(c)
    b.model.coef_[0, 0] += 1e-9
    assert linear_probe.fingerprint(a) != linear_probe.fingerprint(b)

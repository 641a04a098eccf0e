import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from xlrec_lib.crosslingual import language_centring as lc


def accuracy(y, pred):
    return float(np.mean(np.asarray(y) == np.asarray(pred)))


def fit(x, y, x_valid, y_valid):
    return LogisticRegression(C=10.0).fit(x, y)


def two_classes(n, rng):
    """(n, 2) points of two classes apart along dim 0, and their labels."""
    y = np.arange(n) % 2
    x = np.c_[np.where(y == 1, 1.0, -1.0) + 0.1 * rng.standard_normal(n), rng.standard_normal(n)]
    return x, y


def test_centre_subtracts_the_mean_by_hand():
    out = lc.centre([[1.0, 2.0], [3.0, 6.0]], [2.0, 4.0])
    np.testing.assert_array_equal(out, [[-1.0, -2.0], [1.0, 2.0]])
    assert out.dtype == np.float64
    low = lc.centre(np.array([[1.0, 2.0]], dtype=np.float32), [0.5, 0.5])
    assert low.dtype == np.float32 and low.tolist() == [[0.5, 1.5]]


def test_centre_rejects_a_wrong_mean_and_bad_values():
    with pytest.raises(ValueError, match="mean has shape"):
        lc.centre(np.zeros((2, 3)), np.zeros(2))
    with pytest.raises(ValueError, match="NaN or inf"):
        lc.centre([[np.nan, 1.0]], [0.0, 0.0])
    with pytest.raises(ValueError, match="non-empty"):
        lc.centre(np.zeros((0, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="the mean holds NaN"):
        lc.centre(np.zeros((1, 2)), [np.nan, 0.0])


def test_language_means_encodes_each_language_once():
    vectors = {"a": [1.0, 0.0], "b": [3.0, 2.0], "c": [0.0, 4.0]}
    calls = []

    def encode(texts):
        calls.append(list(texts))
        return np.array([vectors[t] for t in texts])

    means = lc.language_means(encode, {"en": ["a", "b"], "zh": ["c"]})
    np.testing.assert_allclose(means["en"], [2.0, 1.0])
    np.testing.assert_allclose(means["zh"], [0.0, 4.0])
    assert calls == [["a", "b"], ["c"]]


def test_language_means_rejects_nan_and_mixed_sizes():
    with pytest.raises(ValueError, match="'zh' texts"):
        lc.language_means(lambda t: np.full((len(t), 2), np.nan), {"zh": ["x"]})
    sizes = {"en": 2, "zh": 3}
    with pytest.raises(ValueError, match="different sizes"):
        lc.language_means(lambda t: np.ones((1, sizes[t[0]])), {"en": ["en"], "zh": ["zh"]})


def test_lowest_ratio_by_hand():
    assert lc.lowest_ratio({"en": 0.5, "zh": 0.4, "fr": 0.45}) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="must be positive"):
        lc.lowest_ratio({"en": 0.0, "zh": 0.4})
    with pytest.raises(ValueError, match="no language besides"):
        lc.lowest_ratio({"en": 0.5})
    with pytest.raises(ValueError, match="no 'en' score"):
        lc.lowest_ratio({"zh": 0.5, "fr": 0.4})
    for bad in ({"en": 0.5, "zh": np.nan, "fr": 0.4}, {"en": np.nan, "zh": 0.4}, {"en": np.inf, "zh": 0.4}):
        with pytest.raises(ValueError, match="must be finite"):
            lc.lowest_ratio(bad)


def test_centring_removes_a_language_offset_and_is_chosen():
    rng = np.random.default_rng(0)
    (xt, yt), (xv, yv), (xs, ys) = (two_classes(n, rng) for n in (200, 100, 100))
    shift = np.array([3.0, 0.0])  # "zh" = the same texts, moved as a whole along the class direction
    valid = ({"en": xv, "zh": xv + shift}, yv)
    test = ({"en": xs, "zh": xs + shift}, ys)
    means = {"en": xt.mean(0), "zh": xt.mean(0) + shift}
    table, chosen = lc.zero_shot_centring(fit, accuracy, (xt, yt), valid, test, means)
    assert chosen == "centred"
    # as encoded, every shifted point lands on one side: half right
    assert table.loc[("as encoded", "test"), "zh"] == pytest.approx(0.5)
    assert table.loc[("centred", "test"), "zh"] > 0.95
    assert table.loc[("centred", "test"), "lowest ratio"] > 0.95
    # the "as encoded" source row is a plain fit
    direct = accuracy(ys, fit(xt, yt, xv, yv).predict(xs))
    assert table.loc[("as encoded", "test"), "en"] == pytest.approx(direct)


def test_without_an_offset_a_tie_keeps_the_vectors_as_encoded():
    rng = np.random.default_rng(1)
    (xt, yt), (xv, yv), (xs, ys) = (two_classes(n, rng) for n in (100, 50, 50))
    means = {"en": xt.mean(0), "zh": xt.mean(0)}
    table, chosen = lc.zero_shot_centring(
        fit, accuracy, (xt, yt), ({"en": xv, "zh": xv}, yv), ({"en": xs, "zh": xs}, ys), means
    )
    assert chosen == "as encoded"
    assert list(table.index) == [(v, s) for v in lc.VARIANTS for s in ("valid", "test")]


def test_zero_shot_centring_rejects_missing_languages_and_means():
    x, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="same ones"):
        lc.zero_shot_centring(fit, accuracy, (x, y), ({"en": x}, y), ({"en": x, "zh": x}, y), {})
    with pytest.raises(ValueError, match="no mean vector for \\['zh'\\]"):
        lc.zero_shot_centring(
            fit, accuracy, (x, y), ({"en": x, "zh": x}, y), ({"en": x, "zh": x}, y), {"en": np.zeros(2)}
        )


class RecordingFit:
    """A fit that records what it is given and predicts with a logistic regression."""

    def __init__(self):
        self.calls = []

    def __call__(self, x, y, x_valid, y_valid):
        self.calls.append({"x": x, "x_valid": x_valid})
        return LogisticRegression(C=10.0).fit(x, y)


def test_each_variant_fits_on_its_own_vectors_and_float32_stays_float32():
    rng = np.random.default_rng(2)
    (xt, yt), (xv, yv), (xs, ys) = (two_classes(n, rng) for n in (60, 30, 30))
    xt, xv = xt.astype(np.float32), xv.astype(np.float32)
    mean = np.array([0.5, -0.25])
    fit = RecordingFit()
    lc.zero_shot_centring(fit, accuracy, (xt, yt), ({"en": xv, "zh": xv}, yv), ({"en": xs, "zh": xs}, ys),
                          {"en": mean, "zh": mean})
    plain, centred = fit.calls
    assert plain["x"].dtype == np.float32 and centred["x"].dtype == np.float32
    np.testing.assert_array_equal(plain["x"], xt)
    np.testing.assert_array_equal(plain["x_valid"], xv)
    np.testing.assert_allclose(centred["x"], xt - mean, rtol=1e-6)
    np.testing.assert_allclose(centred["x_valid"], xv - mean, rtol=1e-6)


def test_the_choice_reads_validation_not_test():
    # validation: "zh" is English moved by an offset (centring wins); test: "zh" is English itself, so centring
    # by the validation-era mean moves it away (as encoded wins on test). The choice must follow validation.
    rng = np.random.default_rng(3)
    (xt, yt), (xv, yv), (xs, ys) = (two_classes(n, rng) for n in (200, 100, 100))
    shift = np.array([3.0, 0.0])
    means = {"en": xt.mean(0), "zh": xt.mean(0) + shift}
    table, chosen = lc.zero_shot_centring(
        fit, accuracy, (xt, yt), ({"en": xv, "zh": xv + shift}, yv), ({"en": xs, "zh": xs}, ys), means
    )
    ratio = table["lowest ratio"]
    assert ratio[("centred", "valid")] > ratio[("as encoded", "valid")]
    assert ratio[("centred", "test")] < ratio[("as encoded", "test")]
    assert chosen == "centred"


def test_a_nan_score_names_the_variant_and_split():
    x, y = np.eye(2)[[0, 1, 0, 1]], np.array([0, 1, 0, 1])
    calls = []

    def score(y_true, pred):
        calls.append(1)
        return np.nan if len(calls) == 4 else 0.5  # the 4th score: as encoded, test, zh

    with pytest.raises(ValueError, match="as encoded, test: .*must be finite"):
        lc.zero_shot_centring(fit, score, (x, y), ({"en": x, "zh": x}, y), ({"en": x, "zh": x}, y),
                              {"en": np.zeros(2), "zh": np.zeros(2)})


def test_a_model_fitted_as_encoded_is_used_not_refitted():
    rng = np.random.default_rng(4)
    (xt, yt), (xv, yv), (xs, ys) = (two_classes(n, rng) for n in (80, 40, 40))
    sets = (({"en": xv, "zh": xv}, yv), ({"en": xs, "zh": xs}, ys))
    means = {"en": xt.mean(0), "zh": xt.mean(0)}
    plain, _ = lc.zero_shot_centring(fit, accuracy, (xt, yt), *sets, means)
    recording = RecordingFit()
    given, _ = lc.zero_shot_centring(recording, accuracy, (xt, yt), *sets, means,
                                     fitted_as_encoded=fit(xt, yt, xv, yv))
    assert len(recording.calls) == 1  # the centred variant only
    pd.testing.assert_frame_equal(given, plain)

import numpy as np
import pytest

from xlrec_lib.intervals import accuracy_standard_error, bootstrap_mean, paired_difference, proportion_interval


def test_bootstrap_mean_brackets_the_mean_and_narrows_with_more_queries():
    rng = np.random.default_rng(0)
    small, large = rng.random(50) < 0.3, rng.random(5000) < 0.3
    m, lo, hi = bootstrap_mean(small)
    assert lo <= m <= hi and m == pytest.approx(small.mean())
    _, lo2, hi2 = bootstrap_mean(large)
    assert hi2 - lo2 < (hi - lo) / 3
    # binomial standard error sqrt(p(1-p)/n) ~ 0.0065 at n=5000: the 95% interval is about 4 of them wide
    assert hi2 - lo2 == pytest.approx(2 * 1.96 * np.sqrt(0.3 * 0.7 / 5000), rel=0.15)


def test_constant_values_have_a_zero_width_interval_and_seed_is_deterministic():
    assert bootstrap_mean(np.ones(10)) == (1.0, 1.0, 1.0)
    x = np.arange(20) % 3 == 0
    assert bootstrap_mean(x, seed=4) == bootstrap_mean(x, seed=4)


def test_paired_difference_uses_the_pairing():
    rng = np.random.default_rng(1)
    base = (rng.random(200) < 0.5).astype(float)
    better = base.copy()
    better[np.flatnonzero(base == 0)[:10]] = 1  # 10 more hits on the same queries, nothing else changes
    d, lo, hi = paired_difference(better, base)
    assert d == pytest.approx(10 / 200) and 0 < lo <= d <= hi
    with pytest.raises(ValueError, match="same queries"):
        paired_difference(base, base[:-1])
    with pytest.raises(ValueError):
        bootstrap_mean([])


def test_proportion_interval_is_clopper_pearson():
    # 0 hits: the upper end solves (1 - p)^n = 0.025, in closed form
    share, low, high = proportion_interval(0, 878)
    assert (share, low) == (0.0, 0.0) and high == pytest.approx(1 - 0.025 ** (1 / 878), rel=1e-9)
    assert proportion_interval(878, 878)[1:] == pytest.approx((0.025 ** (1 / 878), 1.0), rel=1e-9)
    # each end: the binomial tail beyond the observed count is 2.5% (checked on the distribution itself)
    from scipy.stats import binom

    share, low, high = proportion_interval(1, 200)
    assert share == 0.005
    assert binom.sf(0, 200, low) == pytest.approx(0.025, rel=1e-6)  # P(X >= 1 | low)
    assert binom.cdf(1, 200, high) == pytest.approx(0.025, rel=1e-6)  # P(X <= 1 | high)
    with pytest.raises(ValueError, match="hits=5, n=3"):
        proportion_interval(5, 3)
    assert proportion_interval(np.int64(1), np.int64(200)) == proportion_interval(1, 200)
    for bad in ((True, 10), (1.0, 10), (1, 0)):
        with pytest.raises(ValueError, match="integers"):
            proportion_interval(*bad)
    with pytest.raises(ValueError, match="level"):
        proportion_interval(1, 10, level=1.0)


def test_bootstrap_over_clusters_draws_whole_clusters():
    # clusters A = [1, 1] and B = [0]: a resample of two clusters is AA (mean 1), BB (0) or AB (2/3)
    from xlrec_lib.intervals import _cluster_means

    means = _cluster_means(np.array([1.0, 1.0, 0.0]), ["A", "A", "B"], 500, np.random.default_rng(0))
    assert len(means) == 500 and set(np.round(means, 6)) == {0.0, round(2 / 3, 6), 1.0}
    with pytest.raises(ValueError, match="2 cluster labels for 3 values"):
        bootstrap_mean([1.0, 1.0, 0.0], clusters=["A", "B"])
    for bad, match in ((["A", None, "B"], "label 1 is missing"), ([1, "b", 2], "of one kind"),
                       (["A", "A", "A"], "one cluster")):
        with pytest.raises(ValueError, match=match):
            bootstrap_mean([1.0, 1.0, 0.0], clusters=bad)
    with pytest.raises(ValueError, match="n_boot must be a positive integer"):
        bootstrap_mean([1.0, 0.0], n_boot=0)


def test_correlated_clusters_widen_the_interval():
    rng = np.random.default_rng(2)
    users = np.repeat(np.arange(40), 25)  # 40 readers, 25 page views each
    values = rng.normal(size=40)[users] + 0.1 * rng.normal(size=len(users))  # a reader's views move together
    m, lo, hi = bootstrap_mean(values)
    mc, loc, hic = bootstrap_mean(values, clusters=users)
    assert mc == pytest.approx(values.mean()) and hic - loc > 3 * (hi - lo)
    one_each = bootstrap_mean(values, clusters=np.arange(len(values)))  # a cluster per value: the plain bootstrap
    assert one_each[2] - one_each[1] == pytest.approx(hi - lo, rel=0.15)


def test_accuracy_standard_error_is_the_binomial_one():
    # hand case: 0.9 * 0.1 / 300 = 0.0003, whose square root is 0.01732
    assert accuracy_standard_error(0.9, 300) == pytest.approx(0.0173205, rel=1e-5)
    assert accuracy_standard_error(1.0, 10) == 0.0 and accuracy_standard_error(np.float64(0.5), np.int64(4)) == 0.25
    # against simulated accuracies of 400 examples at p = 0.7
    draws = np.random.default_rng(0).binomial(400, 0.7, size=20000) / 400
    assert accuracy_standard_error(0.7, 400) == pytest.approx(draws.std(), rel=0.03)
    for bad in ((0.5, 0), (0.5, 2.0), (0.5, True), (1.5, 10), (float("nan"), 10)):
        with pytest.raises(ValueError, match="accuracy_standard_error"):
            accuracy_standard_error(*bad)

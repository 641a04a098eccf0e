import numpy as np
import pandas as pd
import pytest
from scipy import stats

from xlrec_lib.crosslingual.pair_sampling import language_pairs, pair_probabilities, sample_pairs
from xlrec_lib.lm.tokenization import language_sampling_probs

LANGS = ("en", "zh", "fr", "de")


def verses(n_train=50, n_valid=5, n_test=5):
    split = ["train"] * n_train + ["valid"] * n_valid + ["test"] * n_test
    ids = np.arange(len(split)) + np.repeat([1_000_000, 41_000_000, 43_000_000], [n_train, n_valid, n_test])
    return pd.DataFrame({"verse_id": ids, "split": split,
                         **{lang: [f"{lang}{i}" for i in ids] for lang in LANGS}})


def test_language_pairs_pivot_and_all():
    assert language_pairs(("zh", "fr"), "pivot") == [("en", "zh"), ("en", "fr")]
    assert language_pairs(("zh", "fr", "de"), "all") == [("en", "zh"), ("en", "fr"), ("en", "de"), ("zh", "fr"),
                                                        ("zh", "de"), ("fr", "de")]
    assert len(language_pairs(("zh", "fr", "es", "de", "ru"), "all")) == 15
    with pytest.raises(ValueError, match="mix"):
        language_pairs(("zh",), "every")
    with pytest.raises(ValueError, match="besides the pivot"):
        language_pairs(("en",))


def test_pivot_cancels_in_pair_probabilities():
    q = {"en": 0.5, "zh": 0.3, "fr": 0.2}
    p = pair_probabilities([("en", "zh"), ("en", "fr")], q)
    assert p == pytest.approx({("en", "zh"): 0.6, ("en", "fr"): 0.4})
    with pytest.raises(ValueError, match="no probability"):
        pair_probabilities([("en", "ru")], q)


def test_sample_never_draws_held_out_books_and_pairs_match():
    v = verses()
    pairs = language_pairs(LANGS[1:], "all")
    sample = sample_pairs(v, pairs, pair_probabilities(pairs, dict.fromkeys(LANGS, 0.25)), n=500, seed=3)
    assert len(sample.src) == len(sample.tgt) == len(sample.pair) == 500
    train_ids = set(v.loc[v["split"] == "train", "verse_id"])
    assert set(sample.verse_id) <= train_ids  # Mark and John (and Psalms) never sampled
    for s, t, pair, vid in zip(sample.src, sample.tgt, sample.pair, sample.verse_id, strict=True):
        a, b = pair.split("-")
        assert (s, t) == (f"{a}{vid}", f"{b}{vid}")  # both sides are the same verse, in the pair's languages


def test_sample_uses_each_verse_once_per_pair_until_exhausted():
    v = verses(n_train=20)
    pairs = [("en", "zh")]
    sample = sample_pairs(v, pairs, {("en", "zh"): 1.0}, n=20)
    assert sorted(sample.verse_id) == sorted(v.loc[v["split"] == "train", "verse_id"])
    longer = sample_pairs(v, pairs, {("en", "zh"): 1.0}, n=30)
    assert pd.Series(longer.verse_id).value_counts().max() == 2


def test_sample_shares_match_probabilities():
    # a chi-square test of the drawn pair counts against the requested probabilities
    v = verses()
    sizes = {"en": 1000, "zh": 4000, "fr": 1000, "de": 250}
    pairs = language_pairs(LANGS[1:], "pivot")
    probs = pair_probabilities(pairs, language_sampling_probs(sizes, 0.5))
    n = 6000
    sample = sample_pairs(v, pairs, probs, n=n, seed=7)
    counts = sample.shares().reindex([f"{a}-{b}" for a, b in pairs]).to_numpy() * n
    expected = np.array([probs[p] for p in pairs]) * n
    assert stats.chisquare(counts, expected).pvalue > 0.001
    np.testing.assert_allclose(counts / n, expected / n, atol=0.02)  # zh 0.5, fr 0.25, de 0.125 -> renormalised


def test_sample_is_seeded_and_checks_inputs():
    v = verses()
    pairs = [("en", "zh"), ("en", "fr")]
    probs = {("en", "zh"): 0.5, ("en", "fr"): 0.5}
    a, b = sample_pairs(v, pairs, probs, 40, seed=1), sample_pairs(v, pairs, probs, 40, seed=1)
    assert a.src == b.src and a.pair == b.pair
    assert sample_pairs(v, pairs, probs, 40, seed=2).src != a.src
    with pytest.raises(ValueError, match="no column"):
        sample_pairs(v.drop(columns="fr"), pairs, probs, 10)
    with pytest.raises(ValueError, match="sum to 1"):
        sample_pairs(v, pairs, {("en", "zh"): 0.5, ("en", "fr"): 0.2}, 10)
    with pytest.raises(ValueError, match="no verses"):
        sample_pairs(v, pairs, probs, 10, split="dev")


def test_sample_refuses_a_leaking_split_and_missing_texts():
    pairs, probs = [("en", "zh")], {("en", "zh"): 1.0}
    leaky = verses()
    leaky.loc[leaky["verse_id"] // 1_000_000 == 43, "split"] = "train"  # John labelled as training
    with pytest.raises(ValueError, match="train split holds 5 verses of held-out book 43"):
        sample_pairs(leaky, pairs, probs, 10)
    psalms = verses()
    psalms.loc[psalms.index[:3], "verse_id"] += 18_000_000  # three training rows moved into Psalms (book 19)
    with pytest.raises(ValueError, match="train split holds 3 verses of held-out book 19"):
        sample_pairs(psalms, pairs, probs, 10)
    for blank in (None, "  "):
        v = verses()
        v.loc[7, "zh"] = blank
        with pytest.raises(ValueError, match=r"column 'zh' has no text for verse 1000007 \(1 verses\)"):
            sample_pairs(v, pairs, probs, 10)
    with pytest.raises(ValueError, match=r"no column \['split'\]"):
        sample_pairs(verses().drop(columns="split"), pairs, probs, 10)


def test_sample_skips_pairs_with_no_draws():
    v = verses()
    pairs = [("en", "zh"), ("en", "fr")]
    sample = sample_pairs(v, pairs, {("en", "zh"): 1.0, ("en", "fr"): 0.0}, n=10)
    assert set(sample.pair) == {"en-zh"} and len(sample.src) == 10
    few = sample_pairs(v, language_pairs(LANGS[1:], "all"), dict.fromkeys(language_pairs(LANGS[1:], "all"), 1 / 6), 2)
    assert len(few.src) == 2  # fewer draws than pairs


def test_sample_shares_hand_values():
    # sizes 4:1:... -> alpha 0.5 gives weights 2, 1, 0.5 for zh, fr, de: shares 4/7, 2/7, 1/7
    probs = pair_probabilities(language_pairs(("zh", "fr", "de")),
                               language_sampling_probs({"en": 1, "zh": 16, "fr": 4, "de": 1}, 0.5))
    assert list(probs.values()) == pytest.approx([4 / 7, 2 / 7, 1 / 7])


@pytest.mark.parametrize("probs, message", [({"en": -1.0, "zh": 1.0}, "finite and >= 0"),
                                            ({"en": float("nan"), "zh": 1.0}, "finite and >= 0"),
                                            ({"en": 0.0, "zh": 0.0}, "probability 0")])
def test_pair_probabilities_refuses_bad_language_probabilities(probs, message):
    with pytest.raises(ValueError, match=message):
        pair_probabilities([("en", "zh")], probs)

from collections import Counter

import pytest

from xlrec_lib.data.cedict import (
    bilingual_lexicon,
    cedict,
    entry_candidates,
    gloss_words,
    is_cross_reference,
    lexicon_pairs,
    parse_cedict,
    split_lexicon,
    word_frequencies,
)


@pytest.fixture
def entries(fixtures_dir):
    return parse_cedict((fixtures_dir / "cedict-tiny.txt").read_text(encoding="utf-8"), "cedict-tiny.txt")


def test_parse_keeps_every_entry_and_splits_glosses(entries):
    assert len(entries) == 7
    row = entries.iloc[0]
    assert (row["traditional"], row["simplified"], row["pinyin"]) == ("愛", "爱", "ai4")
    assert row["glosses"] == ["to love; to be fond of", "affection"]


def test_parse_names_a_bad_line():
    with pytest.raises(ValueError, match=r"x.txt: line 2 is not"):
        parse_cedict("# c\nnot an entry\n", "x.txt")


@pytest.mark.parametrize(
    "gloss, words",
    [
        ("to love; to be fond of", ["love"]),
        ("son", ["son"]),
        ("CL:本[ben3]", []),
        ("you (Wu dialect)", []),
        ("variant of 現|现[xian4]", []),
        ("computers, communications", []),
        ("king (of a country)", ["king"]),
    ],
)
def test_gloss_words(gloss, words):
    assert gloss_words(gloss) == words


def test_cross_references_and_entry_candidates():
    assert is_cross_reference("CL:條|条[tiao2]") and is_cross_reference("variant of 現|现[xian4]")
    assert not is_cross_reference("road")
    assert entry_candidates(["road", "path", "CL:條|条[tiao2]", "to say"]) == ["road", "path", "say"]
    assert entry_candidates(["the absolute beginning"]) == ["the absolute beginning"]
    assert entry_candidates(["see 道[dao4]"]) == []


def test_lexicon_pairs_by_script(entries):
    simp = lexicon_pairs(entries, "simplified")
    assert set(map(tuple, simp.to_numpy())) == {
        ("love", "爱"), ("affection", "爱"), ("son", "儿子"), ("book", "书"), ("letter", "书"), ("king", "国王"),
        ("see", "见"),
    }
    trad = lexicon_pairs(entries, "traditional")
    assert ("king", "國王") in set(map(tuple, trad.to_numpy()))
    with pytest.raises(ValueError, match="script"):
        lexicon_pairs(entries, "pinyin")


def test_split_is_disjoint_deterministic_and_frequency_based(entries):
    pairs = lexicon_pairs(entries)
    freq = word_frequencies(["The king loved his son. The son saw a book.", "king king son"])
    assert freq["king"] == 3 and freq["son"] == 3
    parts = split_lexicon(pairs, freq, n_test=2, top=4, skip_top=1, seed=0)
    test_words = set(parts["test"]["source"])
    assert len(test_words) == 2
    assert not test_words & set(parts["train"]["source"])
    assert len(parts["train"]) + len(parts["test"]) == len(pairs)
    # ranked by frequency then word: king(3), son(3), book(1); skip 1 -> candidates son, book: both drawn
    assert test_words == {"son", "book"}
    again = split_lexicon(pairs, freq, n_test=2, top=4, skip_top=1, seed=0)
    assert again["test"].equals(parts["test"])
    # one of two candidates: the seed decides which, and the same seed the same one
    draws = {seed: set(split_lexicon(pairs, freq, n_test=1, top=4, skip_top=1, seed=seed)["test"]["source"])
             for seed in range(6)}
    assert len({frozenset(d) for d in draws.values()}) == 2
    assert set(split_lexicon(pairs, freq, n_test=1, top=4, skip_top=1, seed=3)["test"]["source"]) == draws[3]


def test_split_refuses_too_few_candidates(entries):
    with pytest.raises(ValueError, match="fewer than n_test"):
        split_lexicon(lexicon_pairs(entries), Counter({"king": 1}), n_test=5)


@pytest.mark.data
def test_real_cedict_counts_and_lexicon_split():
    entries = cedict()
    assert len(entries) == 122_143  # the file's own "#! entries=122143"
    train, test = bilingual_lexicon("train"), bilingual_lexicon("test")
    assert test["source"].nunique() == 1_500
    assert not set(train["source"]) & set(test["source"])
    assert len(bilingual_lexicon("all")) == len(train) + len(test)
    import importlib

    # computed afresh, not the cached frame compared with itself
    importlib.import_module("xlrec_lib.data.cedict")._lexicon.cache_clear()
    assert bilingual_lexicon("test").equals(test)

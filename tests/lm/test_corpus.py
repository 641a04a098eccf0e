import pandas as pd

from xlrec_lib.lm import corpus


def _verses():
    ids = [41001001, 41001002, 43001001, 1001001, 1001002, 1002001, 1002002, 1002003, 19001001]
    frame = pd.DataFrame({"verse_id": ids, "en": [f"en {i}" for i in ids], "zh": [f"中 {i}" for i in ids]})
    return frame.assign(split=corpus.book_split(frame["verse_id"]))


def test_book_split_holds_out_mark_john_and_psalms():
    assert _verses()["split"].tolist() == ["valid", "valid", "test"] + ["train"] * 5 + ["held"]
    assert corpus.HELD_OUT_BOOKS == (41, 43, 19)
    # Psalms is in no split any text or pair is drawn from
    for split in ("train", "valid", "test"):
        assert "en 19001001" not in corpus.monolingual_texts(_verses(), ("en",), split)["en"]


def test_monolingual_texts_with_extra_only_where_asked():
    texts = corpus.monolingual_texts(_verses(), ("en", "zh"), "train", extra={"zh": ["好评"]})
    assert len(texts["en"]) == 5 and texts["zh"][-1] == "好评"
    assert corpus.monolingual_texts(_verses(), ("en",), "test") == {"en": ["en 43001001"]}


def test_translation_pairs_random_order_but_aligned():
    pairs = corpus.translation_pairs(_verses(), ("en", "zh"), "train", seed=0)["en-zh"]
    assert len(pairs) == 5
    for a, b in pairs:
        assert {a.split()[0], b.split()[0]} == {"en", "中"} and a.split()[1] == b.split()[1]
    assert pairs == corpus.translation_pairs(_verses(), ("en", "zh"), "train", seed=0)["en-zh"]


def test_next_sentence_pairs_labels():
    triples = corpus.next_sentence_pairs(_verses(), "en", "train", seed=1)
    # train verses: 1:1:1, 1:1:2 | 1:2:1, 1:2:2, 1:2:3 -> 3 consecutive pairs inside a chapter
    assert len(triples) == 3
    for a, b, label in triples:
        ia, ib = int(a.split()[1]), int(b.split()[1])
        assert (label == 0) == (ib == ia + 1)


def test_next_sentence_pairs_never_bridge_a_missing_verse():
    # 1:2:2 left out (a subsample, or a verse one translation lacks): 1:2:1 and 1:2:3 are neighbouring rows of
    # one chapter but not a continuation, so only 1:1:1 -> 1:1:2 starts a pair
    verses = _verses()
    verses = verses[verses["verse_id"] != 1002002]
    labels = set()
    for seed in range(20):
        triples = corpus.next_sentence_pairs(verses, "en", "train", seed=seed)
        assert [a for a, _, _ in triples] == ["en 1001001"]
        a, b, label = triples[0]
        assert (label == 0) == (b == "en 1001002")  # a random "not next" verse is never the next one
        labels.add(label)
    assert labels == {0, 1}
    # rows out of order are read in verse order
    shuffled = _verses().sample(frac=1.0, random_state=0)
    assert corpus.next_sentence_pairs(shuffled, "en", "train", seed=1) == corpus.next_sentence_pairs(
        _verses(), "en", "train", seed=1)

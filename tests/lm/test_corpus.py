import pandas as pd

from xlrec_lib.lm import corpus


def _verses():
    ids = [41001001, 41001002, 43001001, 1001001, 1001002, 1002001, 1002002, 1002003]
    frame = pd.DataFrame({"verse_id": ids, "en": [f"en {i}" for i in ids], "zh": [f"中 {i}" for i in ids]})
    return frame.assign(split=corpus.book_split(frame["verse_id"]))


def test_book_split_holds_out_mark_and_john():
    assert _verses()["split"].tolist() == ["valid", "valid", "test"] + ["train"] * 5


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

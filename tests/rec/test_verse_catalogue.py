import numpy as np
import pandas as pd
import pytest
import torch

from xlrec_lib.rec import verse_catalogue


def _every(script="traditional"):
    frame = pd.DataFrame({
        "code": ["k", "k", "k", "l", "l", "cuv", "cuv"],
        "lang": ["en", "en", "en", "fr", "fr", "zh", "zh"],
        "verse_id": [1001001, 43001001, 44001001, 1001001, 43001001, 1001001, 19001001],  # 19: Psalms
        "text": ["a", "bb", "ccc", "dddd", "eeeee", "起初", "诗"],
    })
    frame.attrs["placeholders"] = {"k": 0, "l": 1, "cuv": 0}
    return frame


def test_every_translation_leaves_out_held_out_books_and_keeps_rows_in_order(tmp_path, monkeypatch,
                                                                            length_encoder):
    monkeypatch.setenv("XLREC_CACHE", str(tmp_path))
    monkeypatch.setattr(verse_catalogue, "every_translation", _every)
    enc = length_encoder
    rows, vectors = verse_catalogue.encode_every_translation(enc, exclude_books=(43,), progress=False)
    assert rows["text"].tolist() == ["a", "ccc", "dddd", "起初", "诗"]
    assert not (rows["verse_id"] // 1_000_000 == 43).any()
    assert enc.calls == [["a", "ccc"], ["dddd"], ["起初", "诗"]]  # one call (and cache entry) per translation
    assert vectors.dtype == np.float32 and vectors.flags.c_contiguous and vectors.shape == (5, 2)
    expected = torch.nn.functional.normalize(torch.tensor([[1.0, 1], [3, 1], [4, 1], [2, 1], [1, 1]]), dim=1)
    torch.testing.assert_close(torch.from_numpy(vectors), expected)  # row i is the vector of rows' text i
    assert rows.attrs["placeholders"] == {"k": 0, "l": 1, "cuv": 0}
    again = verse_catalogue.encode_every_translation(enc, exclude_books=(43,), progress=False)[1]
    assert len(enc.calls) == 3 and np.array_equal(again, vectors)  # read back from the cache


def test_the_test_books_are_left_out_by_default(tmp_path, monkeypatch, length_encoder):
    monkeypatch.setenv("XLREC_CACHE", str(tmp_path))
    monkeypatch.setattr(verse_catalogue, "every_translation", _every)
    rows, _ = verse_catalogue.encode_every_translation(length_encoder, progress=False)
    # chapter 9's test books out: John (43) and Psalms (19)
    assert rows["verse_id"].tolist() == [1001001, 44001001, 1001001, 1001001]
    every, _ = verse_catalogue.encode_every_translation(length_encoder, exclude_books=(), progress=False)
    assert len(every) == 7


def test_excluded_books_may_come_from_a_generator(tmp_path, monkeypatch, length_encoder):
    monkeypatch.setenv("XLREC_CACHE", str(tmp_path))
    monkeypatch.setattr(verse_catalogue, "every_translation", _every)
    rows, _ = verse_catalogue.encode_every_translation(length_encoder, (b for b in (43,)), progress=False)
    assert not (rows["verse_id"] // 1_000_000 == 43).any()


@pytest.mark.parametrize("books", ["43", (0,), (67,), (43.0,), (True,)])
def test_excluded_books_must_be_book_numbers(books, monkeypatch, length_encoder):
    monkeypatch.setattr(verse_catalogue, "every_translation", _every)
    with pytest.raises(ValueError, match="book numbers 1..66"):
        verse_catalogue.encode_every_translation(length_encoder, exclude_books=books, progress=False)


def test_every_translation_stacks_each_translation_without_empty_verses(monkeypatch):
    from xlrec_lib.data import bible

    frames = {
        "k": pd.DataFrame({"verse_id": [1001001, 1001002], "text": ["In the beginning.", "Light."]}),
        bible.CUV: pd.DataFrame({"verse_id": [1001001, 1001002], "text": ["起初。", ""]}),
    }
    monkeypatch.setattr(bible, "TRANSLATIONS", {c: bible.TRANSLATIONS[c] for c in frames})
    monkeypatch.setattr(bible, "translation", lambda code, script="traditional": frames[code].copy())
    out = bible.every_translation()
    assert out.columns.tolist() == ["code", "lang", "verse_id", "text"]
    assert out["code"].tolist() == ["k", "k", bible.CUV] and out["lang"].tolist() == ["en", "en", "zh"]
    assert out["verse_id"].tolist() == [1001001, 1001002, 1001001]
    assert out["text"].tolist() == ["In the beginning.", "Light.", "起初。"]
    assert out.attrs["placeholders"] == {"k": 0, bible.CUV: 1}


def test_placeholders_are_texts_without_a_verse():
    from xlrec_lib.data.bible import is_placeholder

    texts = pd.Series(["-", " ... ", "[]", "(1:1)", "", "(aynı)", "并入上节", "Light.", "耶稣哭了。", "Tena,"])
    assert is_placeholder(texts).tolist() == [True] * 7 + [False] * 3


@pytest.mark.data
def test_real_every_translation_has_32_translations():
    from xlrec_lib.data.bible import every_translation

    out = every_translation("simplified")
    counts = out.groupby("code").size()
    assert len(counts) == 32
    # placeholders (counted when the list was made) have no row: Turkish "(aynı)", Bengali "-", ...
    assert out.attrs["placeholders"] == {**dict.fromkeys(counts.index, 0), "3": 38, "e": 1, "y": 1, "j": 16,
                                         "b": 800, "t": 893, "n": 23, "p": 13, "g": 8, "cuv": 71}
    assert (counts + pd.Series(out.attrs["placeholders"]) == 31_102).drop("cuv").all()
    assert counts["cuv"] + out.attrs["placeholders"]["cuv"] == 31_103  # CUV versification: 1 more
    assert not out["text"].str.strip().eq("").any() and not out["text"].isin(["-", "(aynı)"]).any()

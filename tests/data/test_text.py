import pytest

from xlrec_lib.data import text


def test_cjk_rules():
    assert text.is_cjk("神") and text.is_cjk("㐀") and text.is_cjk("豈")  # URO, Ext. A, Compatibility
    assert not any(text.is_cjk(c) for c in "aか한，")  # Latin, kana, hangul, CJK punctuation
    assert text.cjk_chars("起初，神创造天地。") == list("起初神创造天地")
    assert text.has_cjk("a神") and not text.has_cjk("abc，")


def test_english_and_letter_words():
    assert text.english_words("In the beginning, God's Word (John 1:1).") == ["in", "the", "beginning", "god", "s",
                                                                               "word", "john"]
    assert text.english_words("naïve") == ["na", "ve"]  # ASCII only: CC-CEDICT's glosses are ASCII
    assert text.is_english_word("king") and not text.is_english_word("Beijing") and not text.is_english_word("a b")
    assert text.letter_words("Être ou ne pas être, 2 fois") == ["être", "ou", "ne", "pas", "être", "fois"]


def test_chinese_words_and_words_by_language():
    pieces = text.segment_zh("太初有道，道与神同在。")
    assert "".join(pieces) == "太初有道，道与神同在。" and "，" in pieces
    words = text.words("太初有道，道与神同在。", "zh")
    assert "".join(words) == "太初有道道与神同在" and "，" not in words and "太初" in words
    assert text.words("Слово было", "ru") == ["слово", "было"]
    with pytest.raises(TypeError, match="one text"):
        text.words(["a"], "en")

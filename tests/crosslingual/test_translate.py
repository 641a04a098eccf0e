from collections import Counter

import pandas as pd

from xlrec_lib.crosslingual.translate import TranslatedText, translate_all, translate_zh_en, zh_en_dictionary
from xlrec_lib.data.cedict import parse_cedict

CEDICT = """# tiny
太初 太初 [tai4 chu1] /the absolute beginning/
道 道 [dao4] /road/path/CL:條|条[tiao2]/to say/doctrine/word/
神 神 [shen2] /deity/god/
有 有 [you3] /to have/there is/
與 与 [yu3] /and/to give/
同 同 [tong2] /like/same/with/
在 在 [zai4] /(located) at/to exist/
"""


def entries():
    return parse_cedict(CEDICT)


def test_dictionary_prefers_words_frequent_in_the_english_text():
    first = zh_en_dictionary(entries())
    assert first["道"] == "road" and first["神"] == "deity"
    ranked = zh_en_dictionary(entries(), english_counts=Counter({"word": 50, "say": 20, "god": 9, "deity": 0}))
    assert ranked["道"] == "word" and ranked["神"] == "god"
    assert zh_en_dictionary(entries(), script="traditional")["與"] == "and"


def test_translate_word_by_word_with_character_fallback():
    d = zh_en_dictionary(entries(), english_counts=Counter({"word": 5, "god": 5, "with": 3}))
    out = translate_zh_en("太初有道，道与神同在。", d)
    assert out.text.split()[:3] == ["the", "absolute", "beginning"]
    # jieba: 太初 / 有 / 道 / ， / 道 / 与 / 神 / 同 / 在 / 。
    assert out.text == "the absolute beginning have word word and god with at"
    assert out.words == 8 and out.dropped == []
    odd = translate_zh_en("神鵰", d)  # 鵰 has no entry: dropped and counted
    assert "god" in odd.text and "鵰" in odd.dropped
    assert translate_all(["神", "道"], d) == [TranslatedText("god", 1), TranslatedText("word", 1)]


def test_frame_input_is_not_modified():
    e = entries()
    before = e.copy()
    zh_en_dictionary(e)
    pd.testing.assert_frame_equal(e, before)


def test_words_without_chinese_characters_pass_through_unless_punctuation():
    dictionary = {"电影": "movie", "好看": "good-looking", "股": "share"}
    out = translate_zh_en("这部3D电影，好看iPhone！", dictionary)
    assert "3d" in out.text.split() and "iphone" in out.text.split() and "movie" in out.text.split()
    assert "，" not in out.text and "！" not in out.text
    from xlrec_lib.data.text import chinese_words

    assert out.words == len(chinese_words("这部3D电影，好看iPhone！"))  # the words passed through are not counted
    # letters inside a Chinese word pass through too, full-width ones in their plain form
    mixed = translate_zh_en("A股ＡＢ", dictionary)
    assert mixed.text.split() == ["a", "share", "a", "b"]  # jieba cuts the full-width letters one by one

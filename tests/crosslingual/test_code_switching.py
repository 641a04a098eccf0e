import numpy as np
import pandas as pd
import pytest

from xlrec_lib.crosslingual.code_switching import code_switch_en, code_switch_zh, code_switcher, lexicon_dict

LEX = pd.DataFrame({"source": ["god", "word", "word"], "target": ["神", "道", "话"]})


def test_lexicon_dict_both_ways():
    assert lexicon_dict(LEX) == {"god": ["神"], "word": ["道", "话"]}
    assert lexicon_dict(LEX, reverse=True) == {"神": ["god"], "道": ["word"], "话": ["word"]}


def test_code_switch_rates():
    rng = np.random.default_rng(0)
    en_zh = lexicon_dict(LEX)
    assert code_switch_en("The Word was God.", en_zh, 0.0, rng) == "The Word was God."
    out = code_switch_en("The Word was God.", en_zh, 1.0, rng)
    assert out in ("The 道 was 神.", "The 话 was 神.")
    zh_en = lexicon_dict(LEX, reverse=True)
    assert code_switch_zh("道就是神", zh_en, 1.0, rng) == "word 就是 god"
    assert code_switch_zh("道就是神", zh_en, 0.0, rng) == "道就是神"


def test_code_switcher_keeps_pairs_and_is_seeded():
    augment = code_switcher(LEX, rate=1.0, share=1.0)
    a, b = augment(["the word", "god"], ["道", "神"], np.random.default_rng(1))
    assert len(a) == len(b) == 2 and a[1] == "神" and b == ["word", "god"]
    x = code_switcher(LEX, rate=0.5, share=0.5)(["word god"] * 20, ["道神"] * 20, np.random.default_rng(2))
    y = code_switcher(LEX, rate=0.5, share=0.5)(["word god"] * 20, ["道神"] * 20, np.random.default_rng(2))
    assert x == y
    with pytest.raises(ValueError, match="rate"):
        code_switcher(LEX, rate=2.0)

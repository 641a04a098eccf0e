import pandas as pd
import torch

from xlrec_lib.crosslingual.aligned_encoder import AlignConfig, load_or_align, training_pairs


def verses():
    return pd.DataFrame({
        "split": ["train", "train", "train", "valid", "test", "train"],
        "en": ["a b", "c d", "e f", "g h", "x y", "a c"],
        "zh": ["甲 b", "丙 d", "e f z", "g h z", "x y z", "甲 丙"],
        "fr": ["a", "c", "e", "g", "x", "y"],
    })


def test_training_pairs_use_the_train_split_only():
    src, tgt = training_pairs(verses(), ("zh", "fr"))
    assert len(src) == 8 and "g h" not in src and "x y" not in src
    assert sorted(zip(src, tgt, strict=True))[:2] == [("a b", "a"), ("a b", "甲 b")]
    assert len(training_pairs(verses(), ("zh",), fraction=0.5)[0]) == 2


def test_load_or_align_trains_once_then_loads(tiny_tokenizer, tiny_bert, tmp_path, monkeypatch):
    monkeypatch.setenv("XLREC_CACHE", str(tmp_path))
    before = {k: v.clone() for k, v in tiny_bert.state_dict().items()}
    cfg = AlignConfig(steps=4, batch_size=2, lr=1e-3)
    enc, info = load_or_align(tiny_tokenizer, tiny_bert, "tiny", verses(), cfg, progress=False)
    assert info["pairs"] == 4 and len(info["losses"]) == 4
    for k, v in tiny_bert.state_dict().items():  # the base model is untouched
        torch.testing.assert_close(v, before[k])
    again, info2 = load_or_align(tiny_tokenizer, tiny_bert, "tiny", verses(), cfg, progress=False)
    assert info2["losses"] == info["losses"]
    for k, v in enc.state_dict().items():
        torch.testing.assert_close(again.state_dict()[k], v)
    assert cfg.key("tiny") != AlignConfig(lr=1e-3, steps=4, batch_size=2, seed=1).key("tiny")

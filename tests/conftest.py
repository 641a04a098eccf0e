"""Shared fixtures: a tiny word-level tokenizer, a tiny randomly initialised BERT, and a tiny course checkpoint
pretrained on twenty fake verses in a temporary cache (no download)."""

from __future__ import annotations

import pytest

TINY_WORDS = ["a", "b", "c", "d", "e", "f", "g", "h", "x", "y", "z", "甲", "乙", "丙", "丁"]


def make_tiny_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *TINY_WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                       special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                                   sep_token="[SEP]")


def make_tiny_bert(vocab_size: int, seed: int = 0):
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    return BertModel(BertConfig(vocab_size=vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=32, max_position_embeddings=32), add_pooling_layer=False).eval()


@pytest.fixture
def tiny_tokenizer():
    return make_tiny_tokenizer()


@pytest.fixture
def tiny_bert(tiny_tokenizer):
    return make_tiny_bert(len(tiny_tokenizer))


@pytest.fixture
def tiny_bert_factory():
    """``make_tiny_bert`` itself, for tests that need several fresh models (import it through this fixture:
    ``from conftest import ...`` would pick whichever conftest module Python imported first)."""
    return make_tiny_bert


class LengthEncoder:
    """A fake sentence encoder: the unit vector of ``(len(text), 1)`` per text (distinct lengths, distinct rows); it
    records each call's texts in ``calls``."""

    name, key = "length", "length-test-encoder"

    def __init__(self):
        self.calls = []

    def encode(self, texts):
        import torch

        self.calls.append(list(texts))
        return torch.nn.functional.normalize(torch.tensor([[float(len(t)), 1.0] for t in texts]), dim=1)


@pytest.fixture
def length_encoder():
    """A fresh ``LengthEncoder`` (through this fixture, for the reason ``tiny_bert_factory`` gives)."""
    return LengthEncoder()


EN = ["in the beginning god created the heaven and the earth", "and the earth was without form and void",
      "and god said let there be light", "and there was light", "and god saw the light that it was good"]
ZH = ["起初神创造天地", "地是空虚混沌", "神说要有光", "就有了光", "神看光是好的"]


def fake_verses(langs=("en", "zh")):
    """Five verses in each of Genesis, Exodus (train), Mark (valid) and John (test), with a ``split`` column."""
    import pandas as pd

    from xlrec_lib.lm import corpus

    ids = [b * 1_000_000 + 1000 + v for b in (1, 2, 41, 43) for v in range(1, 6)]
    frame = pd.DataFrame({"verse_id": ids, "en": EN * 4, "zh": ZH * 4})
    return frame.assign(split=corpus.book_split(frame["verse_id"]))


@pytest.fixture
def tiny_pretrain(monkeypatch, tmp_path):
    """A ``PretrainConfig`` of a 1-layer, 32-wide BERT that trains in seconds on ``fake_verses``, in a temporary
    cache (``XLREC_CACHE``)."""
    from xlrec_lib.lm import pretrained

    monkeypatch.setenv("XLREC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(pretrained, "load_verses", fake_verses)
    monkeypatch.setattr(pretrained, "extra_training_texts", lambda: {"zh": ["好评"], "en": ["Toy Story (1995)"]})
    return pretrained.PretrainConfig(langs=("en", "zh"), vocab_size=120, hidden_size=32, num_layers=1,
                                     num_heads=2, intermediate_size=64, max_length=64, batch_size=4, steps=8,
                                     eval_every=4)


@pytest.fixture
def fake_verses_factory():
    """``fake_verses`` itself (see ``tiny_bert_factory`` for why a fixture)."""
    return fake_verses

"""Shared fixtures: a tiny word-level tokenizer and a tiny randomly initialised BERT (no download)."""

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

"""Fine-tuning only the top layers: cached lower-layer states plus the copied top layers give the encoder's output."""

import pytest
import torch
from transformers import BertConfig, BertModel

from xlrec_lib.encoders.pooling import embed_texts
from xlrec_lib.encoders.top_layers import TopLayers, lower_states
from xlrec_lib.vectors import normalize_rows

TEXTS = ["a b c", "x", "甲 乙 丙 丁 a b", "d e f g h"]


def two_layer_bert(vocab_size: int) -> BertModel:
    torch.manual_seed(0)
    return BertModel(BertConfig(vocab_size=vocab_size, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                intermediate_size=32, max_position_embeddings=32), add_pooling_layer=False).eval()


@pytest.mark.parametrize("n_top", [1, 2])
def test_top_layers_over_cached_states_equal_the_encoder(tiny_tokenizer, n_top):
    model = two_layer_bert(len(tiny_tokenizer))
    states, mask = lower_states(model, tiny_tokenizer, TEXTS, n_top=n_top, batch_size=3)
    assert states.shape[:2] == mask.shape and states.shape[0] == len(TEXTS)
    expected = normalize_rows(embed_texts(model, tiny_tokenizer, TEXTS))
    torch.testing.assert_close(TopLayers(model, n_top)(states, mask), expected, rtol=1e-5, atol=1e-5)


def test_only_the_copies_train(tiny_tokenizer):
    model = two_layer_bert(len(tiny_tokenizer))
    states, mask = lower_states(model, tiny_tokenizer, TEXTS)
    top = TopLayers(model)
    top(states, mask).sum().backward()
    assert all(p.grad is not None for p in top.parameters())
    assert all(p.grad is None for p in model.parameters())  # the copies, not the model's own layers
    for n_top in (0, 3):
        with pytest.raises(ValueError, match="n_top must be an integer between 1 and the model's 2 layers"):
            lower_states(model, tiny_tokenizer, TEXTS, n_top=n_top)
        with pytest.raises(ValueError, match="between 1 and the model's 2 layers"):
            TopLayers(model, n_top)

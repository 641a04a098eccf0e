"""Mean pooling, batched sentence vectors and HFEncoder (the protocol over any transformers encoder)."""

import pytest
import torch
from torch.testing import assert_close

from xlrec_lib.encoders.pooling import HFEncoder, embed_texts, mean_pool


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    assert_close(mean_pool(hidden, torch.tensor([[1, 1, 0]])), torch.tensor([[2.0, 3.0]]))
    with pytest.raises(ValueError, match="no tokens"):
        mean_pool(hidden, torch.tensor([[0, 0, 0]]))


def test_embed_texts_keeps_order_and_matches_unbatched(tiny_tokenizer, tiny_bert):
    texts = ["a b c a b", "c", "b a", "a"]
    batched = embed_texts(tiny_bert, tiny_tokenizer, texts, batch_size=2)
    one_by_one = torch.cat([embed_texts(tiny_bert, tiny_tokenizer, [t], batch_size=1) for t in texts])
    assert batched.shape == (4, 16)
    assert_close(batched, one_by_one, atol=1e-5, rtol=1e-5)
    with pytest.raises(TypeError, match="one string"):
        embed_texts(tiny_bert, tiny_tokenizer, "a b")


def test_hf_encoder_gives_unit_rows_and_a_key_that_follows_the_weights(tiny_tokenizer, tiny_bert_factory):
    model = tiny_bert_factory(len(tiny_tokenizer))
    enc = HFEncoder(model, tiny_tokenizer, "tiny")
    out = enc.encode(["a b", "甲 乙 丙"])
    assert out.shape == (2, 16) and out.dtype == torch.float32
    assert_close(out.norm(dim=1), torch.ones(2))
    key = enc.key
    assert key == HFEncoder(tiny_bert_factory(len(tiny_tokenizer)), tiny_tokenizer, "other name").key
    assert key != HFEncoder(tiny_bert_factory(len(tiny_tokenizer), seed=1), tiny_tokenizer, "tiny").key
    assert key != HFEncoder(model, tiny_tokenizer, "tiny", prefix="query: ").key
    with torch.no_grad():
        model.embeddings.word_embeddings.weight[5] += 1.0  # trained in place: the key must change
    assert enc.key != key
    named = HFEncoder(model, tiny_tokenizer, "tiny", weights_key="folder-abc")
    assert named.key == HFEncoder(tiny_bert_factory(len(tiny_tokenizer), seed=3), tiny_tokenizer, "x",
                                  weights_key="folder-abc").key

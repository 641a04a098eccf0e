"""Mean pooling and batched sentence vectors."""

import pytest
import torch
from torch.testing import assert_close

from xlrec_lib.encoders.pooling import embed_texts, mean_pool


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    assert_close(mean_pool(hidden, torch.tensor([[1, 1, 0]])), torch.tensor([[2.0, 3.0]]))
    with pytest.raises(ValueError, match="no tokens"):
        mean_pool(hidden, torch.tensor([[0, 0, 0]]))


def test_embed_texts_keeps_order_and_matches_unbatched():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[UNK]": 1, "a": 2, "b": 3, "c": 4}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]")
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=5, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=16, max_position_embeddings=16)).eval()
    texts = ["a b c a b", "c", "b a", "a"]
    batched = embed_texts(model, tokenizer, texts, batch_size=2)
    one_by_one = torch.cat([embed_texts(model, tokenizer, [t], batch_size=1) for t in texts])
    assert batched.shape == (4, 8)
    assert_close(batched, one_by_one, atol=1e-5, rtol=1e-5)
    with pytest.raises(TypeError):
        embed_texts(model, tokenizer, "a b")

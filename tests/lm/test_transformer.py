"""Every piece of xlrec_lib.transformer against torch's own implementation or a hand-computed case."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from xlrec_lib.lm import losses, model_size, rnn
from xlrec_lib.lm import transformer as T


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_sinusoidal_positions_hand_values():
    pe = T.sinusoidal_positions(seq=3, dim=4)
    assert pe.shape == (3, 4)
    # position 0: sin(0)=0, cos(0)=1; position 1, i=0: sin(1), cos(1); i=1: frequency 10000^(-2/4) = 0.01
    assert_close(pe[0], torch.tensor([0.0, 1.0, 0.0, 1.0]))
    assert_close(pe[1], torch.tensor([math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)]))
    with pytest.raises(ValueError, match="even"):
        T.sinusoidal_positions(3, 5)


def test_embeddings_adds_scaled_tokens_and_positions():
    emb = T.Embeddings(vocab=10, dim=8, max_len=6)
    ids = torch.tensor([[1, 2, 3], [4, 5, 6]])
    expected = emb.tokens(ids) * math.sqrt(8) + T.sinusoidal_positions(3, 8)
    assert_close(emb(ids), expected)
    with pytest.raises(ValueError, match="max_len"):
        emb(torch.zeros(1, 7, dtype=torch.long))
    big = T.Embeddings(vocab=1000, dim=64)
    scaled = big.tokens.weight * math.sqrt(64)
    assert 0.9 < scaled.std().item() < 1.1  # token part on the scale of the position codes


def test_masks():
    pm = T.padding_mask(torch.tensor([[1, 1, 0]]))
    assert pm.shape == (1, 1, 1, 3) and pm.dtype == torch.bool
    assert pm.flatten().tolist() == [True, True, False]
    cm = T.causal_mask(3)
    assert cm.tolist() == [[True, False, False], [True, True, False], [True, True, True]]


def test_attention_weights_hand_case():
    # one query [1, 0], keys [1, 0] and [0, 1]; d_k = 2: scores 1/sqrt(2) and 0
    q = torch.tensor([[[1.0, 0.0]]])
    k = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    a = math.exp(1 / math.sqrt(2))
    assert_close(T.attention_weights(q, k), torch.tensor([[[a / (a + 1), 1 / (a + 1)]]]))


@pytest.mark.parametrize("kind", ["none", "padding", "causal", "both"])
def test_scaled_dot_product_attention_matches_torch(kind):
    q, k, v = (torch.randn(2, 3, 5, 8) for _ in range(3))
    masks = {
        "none": None,
        "padding": T.padding_mask(torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])),
        "causal": T.causal_mask(5),
        "both": T.padding_mask(torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])) & T.causal_mask(5),
    }
    mask = masks[kind]
    assert_close(T.scaled_dot_product_attention(q, k, v, mask), F.scaled_dot_product_attention(q, k, v, attn_mask=mask))


def test_fully_masked_query_gets_zero_output_not_nan():
    q, k, v = (torch.randn(1, 1, 2, 4) for _ in range(3))
    mask = torch.tensor([[True, True], [False, False]])  # second query may attend to nothing
    out = T.scaled_dot_product_attention(q, k, v, mask)
    assert not out.isnan().any()
    assert_close(out[0, 0, 1], torch.zeros(4))


def test_split_and_merge_heads_are_inverse():
    x = torch.randn(2, 5, 12)
    h = T.split_heads(x, 3)
    assert h.shape == (2, 3, 5, 4)
    assert_close(h[:, 1, :, :], x[:, :, 4:8])
    assert_close(T.merge_heads(h), x)


def test_multi_head_attention_matches_torch_with_padding():
    torch_mha = nn.MultiheadAttention(16, 4, batch_first=True).eval()
    ours = T.MultiHeadAttention(16, 4).load_from_torch(torch_mha).eval()
    x = torch.randn(2, 6, 16)
    attn = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]])
    expected, expected_w = torch_mha(x, x, x, key_padding_mask=attn == 0, average_attn_weights=False)
    got, w = ours(x, mask=T.padding_mask(attn), need_weights=True)
    assert_close(got, expected)
    assert_close(w, expected_w)
    with pytest.raises(ValueError, match="divisible"):
        T.MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match="shape mismatch"):
        T.MultiHeadAttention(16, 2).load_from_torch(torch_mha)


def test_multi_head_attention_cross_attention_shapes():
    mha = T.MultiHeadAttention(8, 2)
    out = mha(torch.randn(2, 3, 8), torch.randn(2, 7, 8))
    assert out.shape == (2, 3, 8)


def test_layer_norm_matches_torch():
    ref = nn.LayerNorm(10)
    nn.init.normal_(ref.weight)
    nn.init.normal_(ref.bias)
    ours = T.LayerNorm(10)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(3, 4, 10) * 5 + 2
    assert_close(ours(x), ref(x))


def test_gelu_matches_torch_and_hand_value():
    x = torch.linspace(-6, 6, 101)
    assert_close(T.gelu(x), F.gelu(x))
    # GELU(1) = Phi(1) = 0.841344746...
    assert_close(T.gelu(torch.tensor(1.0)), torch.tensor(0.8413447460685429))


def test_feed_forward_is_linear_gelu_linear():
    ffn = T.FeedForward(6, 24)
    x = torch.randn(2, 3, 6)
    assert_close(ffn(x), F.linear(F.gelu(F.linear(x, ffn.linear1.weight, ffn.linear1.bias)),
                                  ffn.linear2.weight, ffn.linear2.bias))


def test_encoder_block_matches_torch_encoder_layer():
    ref = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.0, activation="gelu",
                                     batch_first=True).eval()
    ours = T.EncoderBlock(16, 4, 32).load_from_torch(ref).eval()
    x = torch.randn(2, 5, 16)
    assert_close(ours(x), ref(x))
    attn = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    with torch.no_grad():
        expected = ref(x, src_key_padding_mask=attn == 0)
        got = ours(x, mask=T.padding_mask(attn))
    keep = attn.bool()  # torch's fast path may zero the padded positions: compare real tokens only
    assert_close(got[keep], expected[keep])
    with pytest.raises(ValueError, match="post-norm"):
        T.EncoderBlock(16, 4, 32).load_from_torch(nn.TransformerEncoderLayer(16, 4, 32, norm_first=True))


def test_encoder_block_matches_a_transformers_bert_layer():
    from transformers import BertConfig, BertModel

    cfg = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=4,
                     intermediate_size=32, max_position_embeddings=16, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0)
    bert = BertModel(cfg).eval()
    ours = T.EncoderBlock(16, 4, 32).load_from_bert_layer(bert.encoder.layer[0]).eval()
    ids = torch.randint(0, 50, (2, 7))
    with torch.no_grad():
        out = bert(ids, output_hidden_states=True)
        assert_close(ours(out.hidden_states[0]), out.hidden_states[1])


def test_logsumexp_log_softmax_stable_and_match_torch():
    x = torch.tensor([[1000.0, 1000.0, -1000.0], [1.0, 2.0, 3.0]])
    assert_close(losses.logsumexp(x), torch.logsumexp(x, -1))
    assert_close(losses.logsumexp(x)[0], torch.tensor(1000.0 + math.log(2)))  # naive exp(1000) overflows
    assert_close(losses.log_softmax(x), F.log_softmax(x, -1))
    assert losses.logsumexp(torch.full((1, 3), float("-inf"))).item() == float("-inf")


def test_cross_entropy_matches_torch_with_ignore_index():
    logits = torch.randn(8, 11) * 10
    targets = torch.randint(0, 11, (8,))
    targets[[1, 4]] = -100
    assert_close(losses.cross_entropy(logits, targets), F.cross_entropy(logits, targets))
    # hand case: two equal logits -> loss log 2
    assert_close(losses.cross_entropy(torch.zeros(1, 2), torch.tensor([1])), torch.tensor(math.log(2)))
    with pytest.raises(ValueError, match="ignore_index"):
        losses.cross_entropy(logits, torch.full((8,), -100))


def test_elman_rnn_matches_torch_rnn():
    ref = nn.RNN(5, 7, batch_first=True)
    ours = rnn.ElmanRNN(5, 7).load_from_torch(ref)
    x = torch.randn(3, 4, 5)
    assert_close(ours(x), ref(x)[0])


def test_input_influence_rnn_is_causal_attention_is_not():
    x = torch.randn(1, 6, 8)
    model = rnn.ElmanRNN(8, 8)
    infl = rnn.input_influence(model, x, position=3)
    assert infl.shape == (6,)
    assert (infl[4:] == 0).all() and (infl[:4] > 0).all()
    block = T.EncoderBlock(8, 2, 16).eval()
    assert (rnn.input_influence(block, x, position=3) > 0).all()


def test_bert_parameter_count_matches_transformers():
    from transformers import BertConfig, BertModel

    n_params = sum(p.numel() for p in BertModel(BertConfig()).parameters())
    assert model_size.bert_parameter_count() == n_params == 109_482_240
    small = dict(vocab_size=100, hidden_size=32, num_hidden_layers=3, intermediate_size=64,
                 max_position_embeddings=40, type_vocab_size=2)
    model = BertModel(BertConfig(num_attention_heads=4, **small), add_pooling_layer=False)
    assert model_size.bert_parameter_count(pooler=False, **small) == sum(p.numel() for p in model.parameters())
    small.pop("num_hidden_layers"), small.pop("intermediate_size")
    assert model_size.bert_embedding_count(**small) == sum(p.numel() for p in model.embeddings.parameters())


def test_attention_cost_reports_quadratic_weights_memory():
    rows = model_size.attention_cost([16, 32], batch=2, heads=3, head_dim=8, repeats=1)
    assert [r["seq_len"] for r in rows] == [16, 32]
    assert [r["weights_bytes"] for r in rows] == [2 * 3 * 16 * 16 * 4, 2 * 3 * 32 * 32 * 4]
    assert all(r["ours_s"] > 0 and r["torch_sdpa_s"] > 0 for r in rows)


def test_blocks_from_bert_and_run_blocks_reproduce_the_whole_encoder():
    from transformers import BertConfig, BertModel

    cfg = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=32, max_position_embeddings=16)
    bert = BertModel._from_config(cfg, attn_implementation="eager").eval()
    blocks = T.blocks_from_bert(bert)
    assert len(blocks) == 2
    ids = torch.randint(0, 50, (2, 6))
    attn = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]])
    with torch.no_grad():
        out = bert(ids, attention_mask=attn, output_hidden_states=True, output_attentions=True)
        hidden, weights = T.run_blocks(blocks, out.hidden_states[0], T.padding_mask(attn))
    assert_close(hidden, out.last_hidden_state)
    assert_close(torch.stack(weights), torch.stack(out.attentions))
    cfg.hidden_act = "relu"
    with pytest.raises(ValueError, match="hidden_act"):
        T.blocks_from_bert(BertModel(cfg))


def test_attention_habits_read_hand_made_heads():
    seq = 5  # [CLS] w w w [SEP]
    previous = torch.zeros(seq, seq)
    previous[0, 0] = 1.0
    for i in range(1, seq):
        previous[i, i - 1] = 1.0
    on_specials = torch.zeros(seq, seq)
    on_specials[:, 0], on_specials[:, 4] = 0.25, 0.75
    uniform = torch.full((seq, seq), 1 / seq)
    habits = T.attention_habits(torch.stack([previous, on_specials, uniform]), special=[0, 4])
    assert habits.shape == (3, len(T.ATTENTION_HABITS))
    assert_close(habits[0], torch.tensor([1.0, 0.0, 0.0, 1 / 3]))  # word 1's previous token is [CLS]
    # word 1's previous token is [CLS] (0.25), word 3's next is [SEP] (0.75): a third of each
    assert_close(habits[1], torch.tensor([0.25 / 3, 0.0, 0.25, 1.0]))
    assert_close(habits[2], torch.tensor([0.2, 0.2, 0.2, 0.4]))


def test_attention_habits_refuse_bad_input():
    with pytest.raises(ValueError, match="heads, seq, seq"):
        T.attention_habits(torch.ones(2, 3, 4), special=[0])
    with pytest.raises(ValueError, match="outside"):
        T.attention_habits(torch.ones(1, 3, 3), special=[3])
    with pytest.raises(ValueError, match="every position is special"):
        T.attention_habits(torch.ones(1, 2, 2), special=[0, 1])


"""Seed 003's scorer made to work: variants, unknown items, the gate, negatives, batches and training."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from xlrec_lib.rec import hybrid

# 6 users x 8 items; items 6 and 7 have no training interaction (cold)
ROWS = [0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 5]
COLS = [0, 1, 2, 0, 3, 1, 4, 2, 5, 0, 5, 3, 4, 5]
TRAIN = sp.csr_matrix((np.ones(len(ROWS), np.float32), (ROWS, COLS)), shape=(6, 8))
TEXT = torch.nn.functional.normalize(torch.randn(8, 5, generator=torch.Generator().manual_seed(0)), dim=1)


def model(variant, **kw):
    return hybrid.HybridScorer(variant, TRAIN, None if variant == "id" else hybrid.FixedText(TEXT), dim=4,
                               hidden=6, **kw)


@pytest.mark.parametrize("variant", hybrid.VARIANTS)
def test_score_matrix_equals_the_pairwise_forward(variant):
    m = model(variant).eval()
    users, items = torch.tensor([0, 3, 5]), torch.tensor([7, 2, 4])
    torch.testing.assert_close(m.score_matrix(users_per_chunk=4)[users, items], m(users, items))


def test_an_item_without_interactions_gets_no_id_part():
    m = model("id")
    with torch.no_grad():
        m.item_id[6:] = 5.0
        m.item_bias[6:] = 5.0
    scores = m.score_matrix()
    assert torch.all(scores[:, 6] == 0) and torch.all(scores[:, 7] == 0)  # chance: every user scores them alike
    dropped = m(torch.tensor([0, 0]), torch.tensor([1, 1]), drop=torch.tensor([False, True]))
    assert dropped[1] == 0 and dropped[0] != 0


def test_history_weights_average_the_users_items():
    h = hybrid.history_weights(TRAIN)
    torch.testing.assert_close(h.sum(1), torch.ones(6))
    torch.testing.assert_close((h @ TEXT)[1], (TEXT[0] + TEXT[3]) / 2)


def test_gate_is_in_zero_one_and_follows_the_count():
    m = model("gate")
    assert torch.all(m.gate(torch.tensor([0.0, 5.0, 500.0])) == 0.5)  # it starts flat: the data make it move
    with torch.no_grad():
        m.gate_slope.fill_(50.0)
        m.gate_shift.fill_(-20.0)
    g = m.gate(torch.tensor([0.0, 1.0, 10.0, 1e6]))
    assert torch.all((g >= 0) & (g <= 1)) and torch.all(g[1:] >= g[:-1])


def test_a_cold_or_dropped_item_is_scored_by_the_text_part_alone():
    m = model("gate").eval()
    with torch.no_grad():
        m.gate_shift.fill_(float(np.log(0.3 / 0.7)))  # g(0) = 0.3: a missing (1 - g) factor would show
        m.gate_slope.fill_(1.0)
        m.user_taste.normal_()
    g0 = m.gate(0.0)
    torch.testing.assert_close(g0, torch.tensor(0.3))
    users, items = torch.tensor([1, 2, 3]), torch.tensor([6, 7, 1])  # two cold items, one warm item dropped
    drop = torch.tensor([False, False, True])
    user_text, item_text = m._texts()
    a_u = m.user_map(user_text)[users] + m.user_taste[users]
    text_part = (a_u * m.item_map(item_text)[items]).sum(-1) + m.text_bias(item_text)[items, 0]
    torch.testing.assert_close(m(users, items, drop), (1 - g0) * text_part)
    assert m(users[2:], items[2:]) != m(users[2:], items[2:], drop[2:])  # not dropped: the ID part counts


def test_a_seed_fixes_every_weight_and_the_training():
    first, second = model("concat", seed=3), model("concat", seed=3)
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    torch.manual_seed(123)  # whatever ran before must not matter
    hybrid.train_scorer(first, TRAIN, epochs=3, lr=0.05, batch_size=8, seed=1, progress=False)
    torch.manual_seed(456)
    hybrid.train_scorer(second, TRAIN, epochs=3, lr=0.05, batch_size=8, seed=1, progress=False)
    torch.testing.assert_close(first.score_matrix(), second.score_matrix(), rtol=0, atol=0)
    assert not torch.are_deterministic_algorithms_enabled()  # the global switch is given back
    assert not torch.equal(model("concat", seed=4).mlp[1].weight, first.mlp[1].weight)


def test_tuned_text_trains_the_top_layers_through_the_scorer(tiny_tokenizer):
    from transformers import BertConfig, BertModel

    from xlrec_lib.encoders.top_layers import TopLayers, lower_states

    torch.manual_seed(0)
    bert = BertModel(BertConfig(vocab_size=len(tiny_tokenizer), hidden_size=8, num_hidden_layers=2,
                                num_attention_heads=2, intermediate_size=16, max_position_embeddings=16),
                     add_pooling_layer=False).eval()
    texts = ["a b", "c", "d e f", "g", "h x", "y z", "a", "b c"]
    states, mask = lower_states(bert, tiny_tokenizer, texts)
    tuned = hybrid.TunedText(TopLayers(bert), states, mask, extra=np.ones((8, 2)))
    m = hybrid.HybridScorer("text", TRAIN, tuned, dim=4)
    assert m.user_text is None and tuned().dtype == torch.float32 and tuned().shape == (8, 10)
    before = [p.detach().clone() for p in tuned.top.parameters()]
    hybrid.train_scorer(m, TRAIN, epochs=2, lr=0.01, batch_size=8, progress=False)
    assert any(not torch.equal(b, p) for b, p in zip(before, tuned.top.parameters(), strict=True))
    assert "text.states" not in m.state_dict()  # the cached states are not saved with the weights
    with pytest.raises(ValueError, match="one row per item"):
        hybrid.TunedText(TopLayers(bert), states, mask, extra=np.ones((3, 2)))


def test_variants_are_checked():
    with pytest.raises(ValueError, match="variant must be one of"):
        model("mlp")
    with pytest.raises(ValueError, match="needs text"):
        hybrid.HybridScorer("text", TRAIN)
    with pytest.raises(ValueError, match="text has 3 rows"):
        hybrid.HybridScorer("text", TRAIN, hybrid.FixedText(TEXT[:3]))


def test_negatives_are_never_positives_and_come_from_the_candidates():
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(6), 200)
    candidates = np.arange(6)
    neg = hybrid.sample_negatives(users, TRAIN, candidates, 3, rng)
    assert neg.shape == (1200, 3) and np.isin(neg, candidates).all()
    dense = TRAIN.toarray() > 0
    assert not dense[users[:, None], neg].any()
    with pytest.raises(ValueError, match="has every candidate"):
        hybrid.sample_negatives(np.array([0]), TRAIN, np.array([0, 1, 2]), 1, rng)
    with pytest.raises(ValueError, match="has every candidate"):  # repeated candidates count once
        hybrid.sample_negatives(np.array([0]), TRAIN, np.array([0, 0, 1, 2]), 1, rng)


def test_batches_hold_positives_then_negatives_from_known_items():
    batch = next(hybrid.interaction_batches(TRAIN, negatives=2, batch_size=5, id_dropout=0.5, seed=1))
    u, i, y = batch["users"].numpy(), batch["items"].numpy(), batch["labels"].numpy()
    assert len(u) == 15 and y.tolist() == [1.0] * 5 + [0.0] * 10
    dense = TRAIN.toarray() > 0
    assert dense[u[:5], i[:5]].all() and not dense[u[5:], i[5:]].any()
    assert (i < 6).all()  # the cold items 6 and 7 are never drawn as negatives
    assert batch["drop"].dtype == torch.bool
    with pytest.raises(ValueError, match="id_dropout"):
        next(hybrid.interaction_batches(TRAIN, 1, 5, id_dropout=1.0))
    with pytest.raises(ValueError, match="no interaction"):
        next(hybrid.interaction_batches(sp.csr_matrix((6, 8)), 1, 5))


def test_the_text_loss_adds_the_text_parts_bce():
    m = model("gate", text_weight=0.5).eval()
    batch = next(hybrid.interaction_batches(TRAIN, 2, 14, seed=0))
    loss, parts = hybrid.bce_loss(m, batch)
    logits, text_logits = m(batch["users"], batch["items"], batch["drop"], with_text=True)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    torch.testing.assert_close(loss, bce(logits, batch["labels"]) + 0.5 * bce(text_logits, batch["labels"]))
    assert parts["text loss"] == pytest.approx(bce(text_logits, batch["labels"]).item())
    with pytest.raises(ValueError, match="text_weight"):
        model("gate", text_weight=-1.0)


def test_bce_loss_is_torchs_and_training_lowers_it():
    m = model("concat").eval()  # no dropout, so that both calls see the same network
    batch = next(hybrid.interaction_batches(TRAIN, 2, 14, seed=0))
    loss, _ = hybrid.bce_loss(m, batch)
    logits = m(batch["users"], batch["items"], batch["drop"])
    p = torch.sigmoid(logits)
    y = batch["labels"]
    torch.testing.assert_close(loss, -(y * p.log() + (1 - y) * (1 - p).log()).mean())
    history = hybrid.train_scorer(m, TRAIN, epochs=60, lr=0.05, batch_size=14, progress=False)
    assert history["loss"].tail(5).mean() < history["loss"].head(5).mean() - 0.1

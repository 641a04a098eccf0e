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
    with torch.no_grad():
        m.gate_slope.fill_(50.0)
        m.gate_shift.fill_(-20.0)
    g = m.gate(torch.tensor([0.0, 1.0, 10.0, 1e6]))
    assert torch.all((g >= 0) & (g <= 1)) and torch.all(g[1:] >= g[:-1])
    # a cold item's gate sees a count of 0, so its score is the text part alone
    m.eval()
    text_only = model("text").eval()
    text_only.load_state_dict({k: v for k, v in m.state_dict().items() if not k.startswith("gate")}, strict=False)
    items = torch.tensor([6, 7])
    gate0 = m.gate(torch.tensor(0.0))
    torch.testing.assert_close(m(torch.tensor([1, 2]), items), (1 - gate0) * text_only(torch.tensor([1, 2]), items))


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

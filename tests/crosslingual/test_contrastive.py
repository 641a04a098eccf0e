"""InfoNCE and contrastive training of a tiny BERT."""

import numpy as np
import pytest
import torch

from xlrec_lib.crosslingual.contrastive import info_nce, train_contrastive
from xlrec_lib.crosslingual.retrieval import paired_retrieval
from xlrec_lib.encoders.pooling import embed_texts


def test_info_nce_equals_cross_entropy_of_scaled_cosines():
    torch.manual_seed(0)
    a, b = torch.randn(4, 3), torch.randn(4, 3)
    logits = torch.nn.functional.normalize(a, dim=-1) @ torch.nn.functional.normalize(b, dim=-1).T / 0.1
    one_way = -torch.log_softmax(logits, dim=1).diagonal().mean()
    other_way = -torch.log_softmax(logits.T, dim=1).diagonal().mean()
    torch.testing.assert_close(info_nce(a, b, 0.1, symmetric=False), one_way)
    torch.testing.assert_close(info_nce(a, b, 0.1), (one_way + other_way) / 2)
    assert info_nce(a, a, 0.01) < 1e-3  # identical pairs, distinct rows: nearly zero loss
    with pytest.raises(ValueError, match="paired"):
        info_nce(a, b[:3])


def test_centred_info_nce_subtracts_one_mean_for_both_sides():
    torch.manual_seed(0)
    a, b = torch.randn(5, 4), torch.randn(5, 4)
    mean = torch.cat([a, b]).mean(0)
    torch.testing.assert_close(info_nce(a, b, 0.1, center=True), info_nce(a - mean, b - mean, 0.1))
    shared = 10 * torch.randn(4)  # a vector every sentence shares: centring removes it, the plain loss sees it
    torch.testing.assert_close(info_nce(a + shared, b + shared, 0.1, center=True), info_nce(a, b, 0.1, center=True))
    assert abs(info_nce(a + shared, b + shared, 0.1) - info_nce(a, b, 0.1)) > 0.1
    b_close = a + 0.1 * torch.randn(5, 4)
    offset = 3 * torch.randn(4)  # a gap between the two sides (languages) is kept: it still costs loss
    assert info_nce(a + offset, b_close - offset, 0.1, center=True) > info_nce(a, b_close, 0.1, center=True) + 0.5


def test_train_contrastive_aligns_a_tiny_bert(tiny_tokenizer, tiny_bert):
    # "languages": latin letters and their CJK stand-ins, the same "sentences" in both
    src = ["a b", "c d", "e f", "g h", "a c", "b d", "x y", "z a"]
    swap = {"a": "甲", "b": "乙", "c": "丙", "d": "丁"}
    tgt = [" ".join(swap.get(w, w) for w in s.split()) + " z" for s in src]
    before = paired_retrieval(embed_texts(tiny_bert, tiny_tokenizer, src), embed_texts(tiny_bert, tiny_tokenizer, tgt))
    calls = []

    def augment(a, b, rng):
        calls.append(len(a))
        return a, b

    losses = train_contrastive(tiny_bert, tiny_tokenizer, src, tgt, epochs=40, batch_size=8, lr=3e-3,
                               temperature=0.1, augment=augment, progress=False)["loss"].tolist()
    after = paired_retrieval(embed_texts(tiny_bert, tiny_tokenizer, src), embed_texts(tiny_bert, tiny_tokenizer, tgt))
    assert len(losses) == 40 and calls == [8] * 40
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) / 2
    assert after["MRR"] > before["MRR"] and after["P@1"] == 1.0
    assert not tiny_bert.training


def test_train_contrastive_batches_hold_each_pair_at_most_once(tiny_tokenizer, tiny_bert):
    # pairs of many lengths, 10 pairs in batches of 4: twelve steps cross five epoch boundaries
    words = ["a", "b", "c", "d", "e", "f", "g", "h", "x", "y"]
    src = [" ".join(words[: i + 1]) for i in range(10)]
    swap = {"a": "甲", "b": "乙", "c": "丙", "d": "丁"}
    tgt = [" ".join(swap.get(w, w) for w in s.split()) for s in src]
    batches = []

    def record(a, b, rng):
        batches.append(list(zip(a, b, strict=True)))
        return a, b

    losses = train_contrastive(tiny_bert, tiny_tokenizer, src, tgt, steps=12, batch_size=4, lr=1e-3, augment=record,
                               progress=False)["loss"]
    assert len(losses) == 12 and len(batches) == 12
    assert all(len(b) == 4 and len(set(b)) == 4 for b in batches)  # no pair is its own negative
    pairs = set(zip(src, tgt, strict=True))
    assert all(p in pairs for b in batches for p in b)
    assert len({p for b in batches[:2] for p in b}) == 8  # an epoch: 2 full batches of distinct pairs


def test_pair_batch_indices_are_the_batches_train_contrastive_trains_on(tiny_tokenizer, tiny_bert):
    # 10 pairs in batches of 4 for 7 steps (three epochs), seed 3: every batch recorded must be the replayed one
    from itertools import islice

    from xlrec_lib.crosslingual.contrastive import pair_batch_indices

    words = ["a", "b", "c", "d", "e", "f", "g", "h", "x", "y"]
    src = [" ".join(words[: i % 5 + 1]) + f" {i}" for i in range(10)]
    tgt = [s + " z" * (i % 3) for i, s in enumerate(src)]
    seen = []
    train_contrastive(tiny_bert, tiny_tokenizer, src, tgt, steps=7, batch_size=4, seed=3, progress=False,
                      augment=lambda a, b, rng: (seen.append(a) or a, b))
    replayed = [[src[i] for i in idx] for idx in islice(pair_batch_indices(src, tgt, 4, seed=3), 7)]
    assert seen == replayed


def test_train_contrastive_is_deterministic(tiny_tokenizer, tiny_bert_factory):
    make_tiny_bert = tiny_bert_factory
    src, tgt = ["a b", "c d", "e f", "g h"], ["甲 b", "丙 d", "e f z", "g h z"]
    runs = []
    for _ in range(2):
        model = make_tiny_bert(len(tiny_tokenizer))
        runs.append(train_contrastive(model, tiny_tokenizer, src, tgt, epochs=3, batch_size=2, progress=False))
    assert runs[0]["loss"].tolist() == runs[1]["loss"].tolist()
    with pytest.raises(ValueError, match="targets"):
        train_contrastive(model, tiny_tokenizer, src, tgt[:3])


def test_train_contrastive_seeds_dropout_and_restores_the_generator(tiny_tokenizer, tiny_bert_factory):
    src, tgt = ["a b", "c d", "e f", "g h"], ["甲 b", "丙 d", "e f z", "g h z"]
    runs = []
    for draws in (0, 5):  # whatever drew random numbers before, the run is the same
        model = tiny_bert_factory(len(tiny_tokenizer))
        model.config.hidden_dropout_prob = 0.3  # dropout draws from torch's generator at every step
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.3
        torch.rand(draws)
        before = torch.get_rng_state()
        runs.append(train_contrastive(model, tiny_tokenizer, src, tgt, steps=4, batch_size=2, seed=1,
                                      progress=False)["loss"].tolist())
        assert torch.equal(torch.get_rng_state(), before)  # and what comes after is not changed either
    assert runs[0] == runs[1]
    for steps in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="steps must be a positive integer"):
            train_contrastive(model, tiny_tokenizer, src, tgt, steps=steps, progress=False)


def test_train_contrastive_evaluates_every_k_steps(tiny_tokenizer, tiny_bert_factory):
    src, tgt = ["a b", "c d", "e f", "g h"], ["甲 b", "丙 d", "e f z", "g h z"]
    calls = []

    def evaluate(model):
        calls.append(model.training)
        model.eval()  # as embed_texts does; training must go on in train mode (dropout) afterwards
        return {"score": float(len(calls))}

    plain = train_contrastive(tiny_bert_factory(len(tiny_tokenizer)), tiny_tokenizer, src, tgt, steps=5,
                              batch_size=2, progress=False)
    model = tiny_bert_factory(len(tiny_tokenizer))
    history = train_contrastive(model, tiny_tokenizer, src, tgt, steps=5, batch_size=2, progress=False,
                                evaluate=evaluate, eval_every=2)
    assert history["score"].notna().tolist() == [False, True, False, True, True]  # steps 2, 4 and the last
    assert history["score"].dropna().tolist() == [1.0, 2.0, 3.0] and calls == [True, True, True]
    assert history["loss"].tolist() == plain["loss"].tolist()  # evaluating changes nothing in training
    assert not model.training


def test_plateau_steps_counts_the_longest_run_in_the_band():
    from xlrec_lib.crosslingual.contrastive import plateau_steps

    log_b = 4.0
    losses = [6.0, 4.02, 5.0, 4.01, 3.99, 4.04, 4.0, 3.0, 4.01, 2.0]
    assert plateau_steps(losses, log_b) == 4  # steps 3-6; the single visits before and after are shorter
    assert plateau_steps(losses, log_b, tol=0.001) == 1
    assert plateau_steps([], log_b) == 0
    assert plateau_steps([1.0, 2.0], log_b) == 0


def test_final_gap_to_log_b_reads_the_last_losses():
    import math

    import pandas as pd
    import pytest

    from xlrec_lib.crosslingual.contrastive import final_gap_to_log_b

    losses = [9.0, 9.0, math.log(8) + 0.1, math.log(8) - 0.1, math.log(8) - 0.3]
    assert final_gap_to_log_b(losses, 8, last=3) == pytest.approx(-0.1)
    # a Series is read by position, whatever its index
    assert final_gap_to_log_b(pd.Series(losses, index=[50, 40, 30, 20, 10]), 8, last=3) == pytest.approx(-0.1)
    assert final_gap_to_log_b([math.log(4)] * 5, 4) == pytest.approx(0.0)  # collapsed: on the plateau
    for bad, message in [
        (dict(losses=[1.0, 2.0], batch_size=8), "at least 5"),
        (dict(losses=losses, batch_size=8, last=0), "last must be a positive integer"),
        (dict(losses=losses, batch_size=8, last=-2), "last must be a positive integer"),
        (dict(losses=losses, batch_size=1), "batch_size must be an integer >= 2"),
        (dict(losses=[*losses[:4], float("nan")], batch_size=8), "must be finite"),
    ]:
        with pytest.raises(ValueError, match=message):
            final_gap_to_log_b(**bad)


def test_run_outcome_reads_the_gap_against_the_plateau_band():
    from xlrec_lib.crosslingual.contrastive import run_outcome

    assert run_outcome(-1.09) == "learned"
    assert run_outcome(-0.04) == run_outcome(0.0) == run_outcome(0.04) == "collapsed"
    assert run_outcome(1.99) == "ended above log B"
    assert run_outcome(-0.04, tol=0.01) == "learned"  # a stricter band


def test_run_outcome_refuses_a_gap_that_is_not_finite():
    from xlrec_lib.crosslingual.contrastive import run_outcome

    assert [run_outcome(g) for g in (-1.0, 0.0, 1.0)] == ["learned", "collapsed", "ended above log B"]
    with pytest.raises(ValueError, match="gap must be a finite number"):
        run_outcome(float("nan"))

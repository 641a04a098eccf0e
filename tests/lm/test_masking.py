import pytest
import torch

from xlrec_lib.lm.masking import IGNORE, apply_mask, choose_positions, mask_tokens

MASK, VOCAB, FIRST = 4, 1000, 5


def _batch(rows=400, seq=50):
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(FIRST, VOCAB, (rows, seq), generator=gen)
    ids[:, 0], ids[:, -1] = 2, 3  # [CLS], [SEP]
    ids[: rows // 2, -10:] = 0  # padding in half the rows
    word_ids = torch.arange(seq).expand(rows, seq).clone() - 1
    word_ids[:, 0] = -1
    word_ids[:, -1] = -1
    word_ids[: rows // 2, -10:] = -1
    return ids, word_ids


def test_rates_are_15_percent_then_80_10_10():
    ids, word_ids = _batch()
    inputs, labels = mask_tokens(ids, word_ids, MASK, VOCAB, FIRST, generator=torch.Generator().manual_seed(1))
    eligible = word_ids >= 0
    chosen = labels != IGNORE
    n = chosen.sum().item()
    rate = n / eligible.sum().item()
    assert abs(rate - 0.15) < 4 * (0.15 * 0.85 / eligible.sum().item()) ** 0.5  # within 4 standard errors
    masked = (inputs == MASK) & chosen
    unchanged = (inputs == ids) & chosen
    randomised = chosen & ~masked & ~unchanged
    for share, p in ((masked.sum().item() / n, 0.8), (unchanged.sum().item() / n, 0.1)):
        assert abs(share - p) < 4 * (p * (1 - p) / n) ** 0.5
    # a random replacement can equal the original by chance (1 / 995): the "random" share is just under 10%
    assert abs(randomised.sum().item() / n - 0.1) < 4 * (0.09 / n) ** 0.5 + 0.001
    assert (labels[chosen] == ids[chosen]).all()


def test_special_and_padding_never_chosen_or_inserted():
    ids, word_ids = _batch()
    inputs, labels = mask_tokens(ids, word_ids, MASK, VOCAB, FIRST, probability=0.9,
                                 generator=torch.Generator().manual_seed(2))
    assert (labels[word_ids < 0] == IGNORE).all()
    assert (inputs[word_ids < 0] == ids[word_ids < 0]).all()
    changed = inputs != ids
    assert ((inputs[changed] == MASK) | (inputs[changed] >= FIRST)).all()


def test_whole_word_masking_takes_all_pieces():
    word_ids = torch.tensor([[-1, 0, 0, 0, 1, 2, 2, -1]] * 500)
    chosen = choose_positions(word_ids, 0.5, torch.Generator().manual_seed(3))
    assert (chosen[:, 1:4] == chosen[:, 1:2]).all() and (chosen[:, 5:7] == chosen[:, 5:6]).all()
    assert not chosen[:, [0, 7]].any()
    assert 0.4 < chosen[:, 1].float().mean() < 0.6


def test_deterministic_with_generator_and_rejects_bad_probability():
    ids, word_ids = _batch(20, 10)
    a = mask_tokens(ids, word_ids, MASK, VOCAB, FIRST, generator=torch.Generator().manual_seed(5))
    b = mask_tokens(ids, word_ids, MASK, VOCAB, FIRST, generator=torch.Generator().manual_seed(5))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    with pytest.raises(ValueError):
        choose_positions(word_ids, 1.5)


def test_apply_mask_labels_only_at_chosen():
    ids = torch.tensor([[10, 11, 12]])
    inputs, labels = apply_mask(ids, torch.tensor([[False, True, False]]), MASK, VOCAB, FIRST)
    assert labels.tolist() == [[IGNORE, 11, IGNORE]]
    assert inputs[0, 0] == 10 and inputs[0, 2] == 12


def test_apply_mask_shares_scoring_rule_and_bad_shares():
    ids = torch.arange(20, 2020).reshape(4, 500)
    chosen = torch.ones_like(ids, dtype=torch.bool)
    inputs, labels = apply_mask(ids, chosen, MASK, VOCAB, FIRST, torch.Generator().manual_seed(0), mask_share=1.0,
                                random_share=0.0)
    assert (inputs == MASK).all() and torch.equal(labels, ids)  # the scoring rule: every chosen token hidden
    inputs, _ = apply_mask(ids, chosen, MASK, VOCAB, FIRST, torch.Generator().manual_seed(0))
    kept = (inputs == ids).float().mean().item()
    assert 0.07 < kept < 0.13 and 0.75 < (inputs == MASK).float().mean().item() < 0.85  # 80/10/10
    with pytest.raises(ValueError, match="mask_share"):
        apply_mask(ids, chosen, MASK, VOCAB, FIRST, mask_share=0.95, random_share=0.1)

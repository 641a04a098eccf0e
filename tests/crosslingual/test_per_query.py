import numpy as np
import pytest
import torch

from xlrec_lib.crosslingual.per_query import hits_at, partner_ranks
from xlrec_lib.crosslingual.retrieval import paired_retrieval


def test_ranks_hand_case_and_ties_count_against_the_partner():
    src = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    tgt = torch.tensor([[1.0, 0.1], [1.0, 0.0], [1.0, 1.0]])
    # row 0: partner cos .995, below (1,0) at cos 1 -> 2; row 1: partner (1,0) scores 0, below (1,.1) and (1,1)
    # -> 3; row 2: partner (1,1) at cos 1 is best -> 1
    assert partner_ranks(src, tgt).tolist() == [2, 3, 1]
    tie = partner_ranks(torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.tensor([[1.0, 0.0], [1.0, 0.0]]))
    assert tie.tolist() == [2, 2]


def test_agrees_with_paired_retrieval():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(50, 8, generator=gen)
    b = a + 0.8 * torch.randn(50, 8, generator=gen)
    summary = paired_retrieval(a, b, ks=(1, 5))
    ranks = partner_ranks(a, b)
    assert hits_at(a, b).mean() == pytest.approx(summary["P@1"])
    assert hits_at(a, b, 5).mean() == pytest.approx(summary["P@5"])
    assert np.mean(1 / ranks) == pytest.approx(summary["MRR"], rel=1e-6)
    with pytest.raises(ValueError):
        partner_ranks(a, b[:-1])


@pytest.mark.parametrize("k", [0, -1, True, 1.5])
def test_hits_at_needs_a_positive_integer_k(k):
    with pytest.raises(ValueError, match="k must be a positive integer"):
        hits_at(torch.eye(3), torch.eye(3), k=k)

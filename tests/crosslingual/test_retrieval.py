"""Parallel-sentence retrieval: P@k, MRR and the tie rule; pair similarities."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from xlrec_lib.crosslingual.retrieval import (
    bidirectional_retrieval,
    pair_similarities,
    paired_retrieval,
    retrieval_matrix,
    retrieval_scores,
)


def test_paired_retrieval_hand_case():
    # partners: 0->0 ranks 1; 1->1 ranks 2 (target 0 is closer); 2->2 ranks 1
    src = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0]])
    tgt = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 2.0]])
    # cosines of src1=[1,.1]: tgt0 0.995, tgt1 0.0995, tgt2 ~-0.355 -> partner tgt1 ranks 2
    # src2=[0,1]: tgt0 0, tgt1 1, tgt2 0.894 -> partner tgt2 ranks 2
    out = paired_retrieval(src, tgt, ks=(1, 2))
    assert out["P@1"] == pytest.approx(1 / 3)
    assert out["P@2"] == pytest.approx(1.0)
    assert out["MRR"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    with pytest.raises(ValueError, match="paired"):
        paired_retrieval(src, tgt[:2])
    # numpy input gives the same answer
    assert paired_retrieval(src.numpy(), tgt.numpy(), ks=(1, 2)) == out


def test_paired_retrieval_ties_count_against():
    # every cosine is 1: each partner ties with all 3 targets -> rank 1 + 0 higher + 2 equal others = 3
    out = paired_retrieval(torch.ones(3, 2), torch.ones(3, 2))
    assert out["P@1"] == 0.0 and out["MRR"] == pytest.approx(1 / 3)
    # src 0 ties its partner with target 2 (same direction): rank 2; src 1 and 2 are unique: rank 1
    src = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    tgt = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    # src 2 = [1, 1]: cos to tgt0 and tgt2 = 0.707, to tgt1 = 0.707 -> its partner tgt2 ties both: rank 3
    out = paired_retrieval(src, tgt, ks=(1, 2))
    assert out == {"P@1": pytest.approx(1 / 3), "P@2": pytest.approx(2 / 3),
                   "MRR": pytest.approx((1 / 2 + 1 + 1 / 3) / 3)}


@pytest.mark.parametrize(
    "src, tgt, ks, message",
    [
        (torch.ones(3, 2), torch.ones(2, 2), (1,), "paired row by row"),
        (torch.tensor([[1.0, float("nan")], [0.0, 1.0]]), torch.eye(2), (1,), "src row 0 is not finite"),
        (torch.eye(2), torch.tensor([[1.0, 0.0], [float("inf"), 1.0]]), (1,), "tgt row 1 is not finite"),
        (torch.eye(2), torch.eye(2), (0,), "positive integer"),
        (torch.eye(2), torch.eye(2), "1", "ks must be positive integers"),
        (torch.zeros(0, 2), torch.zeros(0, 2), (1,), "no pairs"),
    ],
)
def test_paired_retrieval_bad_inputs(src, tgt, ks, message):
    with pytest.raises(ValueError, match=message):
        paired_retrieval(src, tgt, ks)



def test_bidirectional_retrieval_and_pair_similarities():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    b = torch.tensor([[1.0, 0.1], [0.1, 1.0], [1.0, 0.9]])
    out = bidirectional_retrieval(a, b, "en", "fr", ks=(1,))
    assert set(out) == {"en→fr P@1", "en→fr MRR", "fr→en P@1", "fr→en MRR"}
    assert out["en→fr P@1"] == paired_retrieval(a, b, (1,))["P@1"]
    true, rand = pair_similarities(a, b, n_random=50)
    assert true.shape == (3,) and rand.shape == (50,)
    assert_allclose(true, torch.nn.functional.cosine_similarity(a, b).numpy(), rtol=1e-6)
    assert rand.max() < true.max()


def test_retrieval_matrix_every_directed_pair():
    src = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0]])
    tgt = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 2.0]])
    emb = {"en": src, "zh": tgt, "fr": src.clone()}
    table = retrieval_matrix(emb, ks=(1, 2))
    assert len(table) == 6 and set(zip(table["src"], table["tgt"], strict=True)) == {
        ("en", "zh"), ("zh", "en"), ("en", "fr"), ("fr", "en"), ("zh", "fr"), ("fr", "zh")}
    row = table[(table["src"] == "en") & (table["tgt"] == "zh")].iloc[0]
    assert row[["P@1", "P@2", "MRR"]].to_dict() == paired_retrieval(src, tgt, ks=(1, 2))
    en_fr = table[(table["src"] == "en") & (table["tgt"] == "fr")].iloc[0]
    assert en_fr["P@1"] == 1.0  # identical spaces retrieve every partner
    square = table.pivot(index="src", columns="tgt", values="P@1")
    assert square.shape == (3, 3) and square.isna().sum().sum() == 3  # the diagonal is left empty
    with pytest.raises(ValueError, match="two languages"):
        retrieval_matrix({"en": src})


def test_pair_summary_hand_case():
    import pandas as pd

    from xlrec_lib.crosslingual.retrieval import pair_summary

    table = pd.DataFrame({"src": ["en", "zh", "en", "fr", "zh", "fr"], "tgt": ["zh", "en", "fr", "en", "fr", "zh"],
                          "P@1": [0.9, 0.8, 0.7, 0.6, 0.3, 0.2], "MRR": [1.0, 0.9, 0.8, 0.7, 0.4, 0.3]})
    out = pair_summary(table, trained=[("en", "zh"), ("fr", "en")])
    assert out["P@1"] == pytest.approx(3.5 / 6) and out["MRR"] == pytest.approx(4.1 / 6)
    assert out["P@1 with en"] == pytest.approx(0.75) and out["P@1 without en"] == pytest.approx(0.25)
    assert out["min trained"] == 0.6 and out["min untrained"] == 0.2
    assert out["P@1 en-zh"] == pytest.approx(0.85) and out["worst / best"] == pytest.approx(0.2 / 0.9)
    every = pair_summary(table, trained=[("en", "zh"), ("en", "fr"), ("zh", "fr")])
    assert np.isnan(every["min untrained"]) and every["min trained"] == 0.2
    with pytest.raises(ValueError, match="no pair"):
        pair_summary(table, trained=[], focus=("en", "ru"))


def test_undirected_means_both_directions():
    import pandas as pd

    from xlrec_lib.crosslingual.retrieval import undirected

    table = pd.DataFrame({"src": ["en", "zh", "zh", "fr"], "tgt": ["zh", "en", "fr", "zh"],
                          "P@1": [0.9, 0.7, 0.4, 0.2]})
    assert undirected(table).to_dict() == pytest.approx({"en-zh": 0.8, "fr-zh": 0.3})
    assert undirected(table, without="en").to_dict() == pytest.approx({"fr-zh": 0.3})
    with pytest.raises(ValueError, match="no pair"):
        undirected(table[table["src"] == "en"], without="en")


def test_csls_retrieval_takes_back_what_a_hub_wins():
    # target 0 is a hub: by cosine it is the nearest target of all three sources (0.58, 0.16, 0.44), so only
    # source 0 finds its partner. CSLS with k=1 subtracts each target's best cosine to any source (the hub's 0.58,
    # target 1's -0.15, target 2's 0.35): source 1 then scores -0.27 for the hub against -0.15 for its partner,
    # source 2 0.30 against 0.35, and every source finds its own
    src = torch.tensor([[-1.4, 1.4], [-0.6, 0.2], [1.0, 0.3]])
    tgt = torch.tensor([[0.3, 1.8], [-0.4, -2.3], [0.6, -0.8]])
    cos = paired_retrieval(src, tgt, ks=(1,))
    csls = paired_retrieval(src, tgt, ks=(1,), scoring="csls", csls_k=1)
    assert cos["P@1"] == pytest.approx(1 / 3) and csls["P@1"] == 1.0
    # source 1 against the hub and its partner, by hand: 2 cos - r_T(x) - r_S(y), r_T(x) = 0.156 for both
    scores = retrieval_scores(src, tgt, "csls", k=1)
    cos = torch.nn.functional.normalize(src, dim=1) @ torch.nn.functional.normalize(tgt, dim=1).T
    r_s = cos.max(0).values  # each target's best cosine to any source
    np.testing.assert_allclose(scores[1], (2 * cos[1] - cos[1].max() - r_s).numpy(), atol=1e-6)
    unit = torch.nn.functional.normalize
    np.testing.assert_allclose(retrieval_scores(src, tgt), (unit(src, dim=1) @ unit(tgt, dim=1).T).numpy(), atol=1e-6)
    table = retrieval_matrix({"a": src, "b": tgt}, ks=(1,), scoring="csls", csls_k=1)
    assert table.set_index(["src", "tgt"]).loc[("a", "b"), "P@1"] == 1.0
    with pytest.raises(ValueError, match="scoring must be one of"):
        paired_retrieval(src, tgt, scoring="margin")


def test_pair_similarities_checks_its_inputs():
    from xlrec_lib.crosslingual.retrieval import pair_similarities

    a = torch.eye(3)
    with pytest.raises(ValueError, match="paired row by row"):
        pair_similarities(a, a[:2])
    with pytest.raises(ValueError, match="b row 1 is not finite"):
        pair_similarities(a, torch.tensor([[1.0, 0, 0], [float("nan"), 0, 0], [0, 0, 1.0]]))
    with pytest.raises(ValueError, match="n_random must be a positive integer"):
        pair_similarities(a, a, n_random=0)
    true, rand = pair_similarities(a.numpy(), a.numpy(), n_random=5)  # numpy in, as torch
    assert true.tolist() == [1.0, 1.0, 1.0] and rand.shape == (5,) and (rand == 0).all()

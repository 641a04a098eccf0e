"""rec.diversity: MMR at its two ends and against a brute-force greedy; the genre-coverage constraint by hand."""

import itertools

import numpy as np
import pandas as pd
import pytest
import torch

from xlrec_lib.rec import beyond_accuracy, diversity, ranking_metrics


def _toy(seed=0, n_users=7, n_items=30, m=12, dim=5):
    g = torch.Generator().manual_seed(seed)
    vectors = torch.rand(n_items, dim, generator=g)
    scores = torch.rand(n_users, n_items, generator=g)
    top = torch.topk(scores, m, dim=1)
    return top.indices, top.values, vectors


def test_mmr_with_lambda_one_is_plain_top_k():
    cand, scores, vectors = _toy()
    torch.testing.assert_close(diversity.mmr_rerank(cand, scores, vectors, 5, lam=1.0), cand[:, :5])


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_mmr_with_lambda_zero_picks_the_most_diverse():
    cand, scores, vectors = _toy(seed=1)
    picks = diversity.mmr_rerank(cand, scores, vectors, 4, lam=0.0)
    unit = _unit(vectors.double().numpy())
    for u in range(len(cand)):
        c = cand[u].tolist()
        chosen = [c[0]]  # every candidate ties at 0 for the first slot: the top-ranked one
        for _ in range(3):  # then each time the candidate least similar to the list so far
            rest = [i for i in c if i not in chosen]
            chosen.append(min(rest, key=lambda i: max(unit[i] @ unit[s] for s in chosen)))
        assert picks[u].tolist() == chosen


def test_mmr_lambda_zero_beats_every_other_pair_on_a_clustered_toy():
    # two tight clusters (items 0-2 near e1, items 3-5 near e2): lam=0 must take one from each
    vectors = torch.tensor([[1, 0.01], [1, 0.02], [1, 0.03], [0.01, 1], [0.02, 1], [0.03, 1]])
    cand = torch.tensor([[0, 1, 2, 3, 4, 5]])
    scores = torch.tensor([[6.0, 5, 4, 3, 2, 1]])
    pair = diversity.mmr_rerank(cand, scores, vectors, 2, lam=0.0)[0].tolist()
    unit = _unit(vectors.numpy())
    best = min(itertools.combinations(range(6), 2), key=lambda p: unit[p[0]] @ unit[p[1]])
    assert unit[pair[0]] @ unit[pair[1]] == pytest.approx(unit[best[0]] @ unit[best[1]], abs=1e-3)
    assert pair == [0, 3]
    assert diversity.mmr_rerank(cand, scores, vectors, 2, lam=1.0)[0].tolist() == [0, 1]


def test_mmr_middle_lambda_by_hand():
    # relevance rescaled: [1, 0.5, 0]; sim(0,1) = 1, sim(0,2) = 0; lam = 0.5:
    # slot 2: item 1 gains 0.5*0.5 - 0.5*1 = -0.25, item 2 gains 0 - 0 = 0 -> item 2
    vectors = torch.tensor([[1.0, 0], [1.0, 0], [0, 1.0]])
    picks = diversity.mmr_rerank(torch.tensor([[0, 1, 2]]), torch.tensor([[3.0, 2.0, 1.0]]), vectors, 2, lam=0.5)
    assert picks.tolist() == [[0, 2]]


def test_mmr_pads_users_with_few_candidates_and_rejects_bad_input():
    vectors = torch.eye(3)
    cand = torch.tensor([[0, 1, 2], [2, -1, -1]])
    scores = torch.tensor([[1.0, 0.5, 0.2], [0.3, -torch.inf, -torch.inf]])
    assert diversity.mmr_rerank(cand, scores, vectors, 2, lam=0.3).tolist() == [[0, 1], [2, -1]]
    with pytest.raises(ValueError, match="lam"):
        diversity.mmr_rerank(cand, scores, vectors, 2, lam=1.5)
    with pytest.raises(ValueError, match="k must be"):
        diversity.mmr_rerank(cand, scores, vectors, 4, lam=0.5)
    with pytest.raises(ValueError, match="shape of candidates"):
        diversity.mmr_rerank(cand, scores[:1], vectors, 2, lam=0.5)
    with pytest.raises(ValueError, match="finite"):
        diversity.mmr_rerank(cand, torch.tensor([[1.0, torch.nan, 0], [0.3, 0, 0]]), vectors, 2, lam=0.5)


def test_rescale_scores():
    s = torch.tensor([[3.0, 1.0, 2.0], [5.0, 5.0, 0.0]])
    valid = torch.tensor([[True, True, True], [True, True, False]])
    torch.testing.assert_close(diversity.rescale_scores(s, valid),
                               torch.tensor([[1.0, 0.0, 0.5], [1.0, 1.0, 0.0]], dtype=torch.float64))


def test_genre_coverage_by_hand():
    # genres: A B C
    genres = np.array([[1, 0, 0], [1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 1]])
    cand = torch.tensor([[0, 1, 2, 3, 4, 5]])
    # min 1 genre: plain ranking
    assert diversity.genre_coverage_rerank(cand, genres, 3, 1).tolist() == [[0, 1, 2]]
    # min 2: slots 1-2 by rank (0, 1); last slot forced to add a genre: item 3 (first with one new genre)
    assert diversity.genre_coverage_rerank(cand, genres, 3, 2).tolist() == [[0, 1, 3]]
    # min 3: slot 1 by rank (0); 2 genres missing with 2 slots: item 3 adds B, then item 4 adds C
    assert diversity.genre_coverage_rerank(cand, genres, 3, 3).tolist() == [[0, 3, 4]]
    # min 3 in 2 slots: the first slot is already forced to add two genres (item 5: B and C), then A (item 0)
    assert diversity.genre_coverage_rerank(cand, genres, 2, 3).tolist() == [[5, 0]]
    # asking for more genres than exist: the list of the floor the candidates can reach (here all three)
    assert diversity.genre_coverage_rerank(cand, genres, 3, 5).tolist() == [[0, 3, 4]]
    # two genres among the candidates: G = 3 gives G = 2's list, not the genre-adding film earlier ([0, 3, 1])
    two = np.array([[1, 0], [1, 0], [1, 0], [0, 1], [1, 0], [1, 0]])
    assert (diversity.genre_coverage_rerank(cand, two, 3, 3).tolist()
            == diversity.genre_coverage_rerank(cand, two, 3, 2).tolist() == [[0, 1, 3]])
    padded = diversity.genre_coverage_rerank(torch.tensor([[4, -1, -1]]), genres, 2, 2)
    assert padded.tolist() == [[4, -1]]
    with pytest.raises(ValueError, match="min_genres"):
        diversity.genre_coverage_rerank(cand, genres, 3, -1)


def test_rerank_sweep_rows_against_direct_computation():
    rng = np.random.default_rng(0)
    genres = (rng.random((30, 5)) < 0.3).astype(float)
    genres[genres.sum(1) == 0, 0] = 1
    cand, scores, _ = _toy(seed=2, n_users=8, n_items=30, m=12)
    users, items = [f"u{u}" for u in range(8)], [100 + i for i in range(30)]
    relevant = {u: {100 + int(i) for i in rng.choice(30, 4, replace=False)} for u in users}
    table = diversity.rerank_sweep(cand, scores, genres, 5, [1.0, 0.0], [1, 4], relevant, users, items)
    assert table[["method", "setting"]].values.tolist() == [["MMR", 1.0], ["MMR", 0.0], ["genre coverage", 1],
                                                            ["genre coverage", 4]]
    plain = {u: [items[i] for i in cand[r, :5].tolist()] for r, u in enumerate(users)}
    for row in (0, 2):  # MMR at lambda 1 and at least one genre: the plain top 5
        assert table["NDCG@5"].iloc[row] == pytest.approx(ranking_metrics.ndcg_at_k(plain, relevant, 5))
    mmr0 = {u: [items[i] for i in row] for u, row in
            zip(users, diversity.mmr_rerank(cand, scores, genres, 5, lam=0.0).tolist(), strict=True)}
    assert table["diversity"].iloc[1] == pytest.approx(
        beyond_accuracy.intra_list_diversity(mmr0, genres, 5, item_ids=items))
    assert table["coverage"].iloc[1] == pytest.approx(beyond_accuracy.catalog_coverage(mmr0, items, 5))
    assert table["diversity"].iloc[1] > table["diversity"].iloc[0]


def test_choose_mmr_lambda_takes_the_most_diverse_within_the_loss():
    sweep = pd.DataFrame({"method": ["MMR"] * 4 + ["genre coverage"], "setting": [1.0, 0.8, 0.5, 0.0, 12],
                          "NDCG@10": [0.40, 0.39, 0.37, 0.20, 0.40], "diversity": [0.5, 0.6, 0.7, 0.9, 0.95]})
    assert diversity.choose_mmr_lambda(sweep, 10) == 0.8  # 0.37 < 0.95 * 0.40 = 0.38
    assert diversity.choose_mmr_lambda(sweep, 10, max_loss=0.1) == 0.5
    with pytest.raises(ValueError, match="lambda = 1"):
        diversity.choose_mmr_lambda(sweep.iloc[1:], 10)

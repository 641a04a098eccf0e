"""The related-verse task: held-out books never reach the training edges, relevant sets and the catalogue cut,
co-citation and the graph-through-text score worked by hand, and evaluation that never returns the query."""

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from xlrec_lib.data.bible import verse_id
from xlrec_lib.rec import related_verses as rv

GEN, EXO, PSALMS, MARK, JOHN = 1, 2, 19, 41, 43
G1, G2, G3, G4 = (verse_id(GEN, 1, v) for v in (1, 2, 3, 4))
E1, E2 = verse_id(EXO, 1, 1), verse_id(EXO, 1, 2)
M1, M2 = verse_id(MARK, 1, 1), verse_id(MARK, 1, 2)
J1, J2, J3 = verse_id(JOHN, 1, 1), verse_id(JOHN, 1, 2), verse_id(JOHN, 1, 3)
CATALOGUE = [G1, G2, G3, G4, E1, E2, M1, M2, J1, J2, J3]
# undirected pairs, listed one way only (the task makes them symmetric); one self-reference, ignored
PAIRS = [(G1, G2), (G2, G3), (G1, E1), (E1, E2), (J1, G1), (J1, J2), (J1, M1), (M1, G3), (M2, E2), (J3, J3)]


def toy_task(**kwargs):
    refs = pd.DataFrame(PAIRS, columns=["verse_id", "related_id"])
    return rv.related_verse_task(kwargs.pop("verse_ids", CATALOGUE), refs, **kwargs)


def test_task_splits_relevant_sets_and_training_edges():
    task = toy_task()
    # the course's held-out books by default (this toy catalogue holds no verse of Psalms)
    assert task.test_books == (JOHN, PSALMS) and task.valid_books == (MARK,)
    assert task.catalogue.tolist() == sorted(CATALOGUE)
    assert task.test_queries.tolist() == [J1, J2]  # J3 only references itself: no query
    assert task.valid_queries.tolist() == [M1, M2]
    assert task.relevant_for("test") == {J1: {G1, J2, M1}, J2: {J1}}
    assert task.relevant_for("valid") == {M1: {G3}, M2: {E2}}  # M1 - J1 is a test label, not a validation one
    assert task.dropped["valid_pairs_into_test"] == 1
    edges = {tuple(e) for e in task.train_edges.tolist()}
    assert edges == {(G1, G2), (G2, G1), (G2, G3), (G3, G2), (G1, E1), (E1, G1), (E1, E2), (E2, E1)}
    assert task.summary()["train_edges"] == 4
    with pytest.raises(ValueError, match="not a query of this task"):
        task.relevant_for([G1])


def test_no_held_out_verse_reaches_the_training_edges():
    for test_books, valid_books in [((JOHN,), (MARK,)), ((JOHN, GEN), (MARK,)), ((EXO,), (JOHN,))]:
        task = toy_task(test_books=test_books, valid_books=valid_books)
        books = task.train_edges // 1_000_000
        assert not np.isin(books, test_books + valid_books).any()
        assert len(task.train_edges) > 0
        # and no query is ever a node of the training graph
        queries = np.concatenate([task.test_queries, task.valid_queries])
        assert not np.isin(task.train_edges, queries).any()
        a = task.adjacency()
        assert (a != a.T).nnz == 0 and a.diagonal().sum() == 0
        assert a[task.index(queries)].nnz == 0


def test_catalogue_cut_drops_pairs_and_reports_it():
    task = toy_task(verse_ids=[v for v in CATALOGUE if v not in (G1, E2)])
    # J1's link to G1 is gone, M2's only link (to E2) too: M2 is no query
    assert task.relevant_for("test") == {J1: {J2, M1}, J2: {J1}}
    assert task.valid_queries.tolist() == [M1]
    assert task.dropped == {"pairs_outside_catalogue": 5, "valid_pairs_into_test": 1, "queries_without_relevant": 1,
                            "queries_outside_catalogue": 0}
    assert {tuple(e) for e in task.train_edges.tolist()} == {(G2, G3), (G3, G2)}


def test_bad_task_inputs_are_named():
    refs = pd.DataFrame(PAIRS, columns=["verse_id", "related_id"])
    with pytest.raises(ValueError, match="share a book"):
        rv.related_verse_task(CATALOGUE, refs, test_books=(JOHN,), valid_books=(JOHN,))
    with pytest.raises(ValueError, match="missing column"):
        rv.related_verse_task(CATALOGUE, refs.rename(columns={"related_id": "to"}))
    with pytest.raises(ValueError, match="not a verse id"):
        rv.related_verse_task(CATALOGUE + [99_001_001], refs)
    with pytest.raises(ValueError, match="integer verse ids"):
        rv.related_verse_task(np.array(CATALOGUE, dtype=float), refs)
    with pytest.raises(ValueError, match="book numbers"):
        rv.related_verse_task(CATALOGUE, refs, test_books=(70,))
    with pytest.raises(ValueError, match="not in the catalogue"):
        toy_task().index([verse_id(GEN, 9, 9)])
    with pytest.raises(ValueError, match="split must be one of"):
        toy_task().queries("train")


def test_cocitation_by_hand():
    # path 0-1-2 plus edge 1-3: N(0) = {1}, N(1) = {0, 2, 3}, N(2) = {1}, N(3) = {1}
    a = sp.csr_matrix(np.array([[0, 1, 0, 0], [1, 0, 1, 1], [0, 1, 0, 0], [0, 1, 0, 0]], dtype=np.float32))
    c = rv.cocitation(a).toarray()
    # 0, 2 and 3 share their one neighbour: |{1}| / sqrt(1 * 1) = 1; 1 shares nothing with anyone
    expected = np.array([[0, 0, 1, 1], [0, 0, 0, 0], [1, 0, 0, 1], [1, 0, 1, 0]], dtype=np.float32)
    np.testing.assert_allclose(c, expected)
    # a square 0-1-2-3-0: opposite corners share both neighbours, 2 / sqrt(2 * 2) = 1; with shrink 1: 2 / 3
    sq = sp.csr_matrix(np.array([[0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0]], dtype=np.float32))
    np.testing.assert_allclose(rv.cocitation(sq, shrink=1.0).toarray()[0], [0, 0, 2 / 3, 0], rtol=1e-6)
    with pytest.raises(ValueError, match="symmetric"):
        rv.cocitation(sp.csr_matrix(np.triu(np.ones((3, 3)), 1)))
    with pytest.raises(ValueError, match="scipy sparse"):
        rv.cocitation(np.eye(3))


def test_graph_via_text_by_hand():
    # catalogue of 4 verses on the unit circle; graph: 1-2 (weight 1), 2-3 (weight 1); verse 0 has no edge
    angles = [0.0, 0.3, 1.2, 2.0]
    items = torch.tensor([[math.cos(t), math.sin(t)] for t in angles])
    graph = sp.csr_matrix(np.array([[0, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0]], dtype=np.float32))
    query = items[:1]  # the query is verse 0 itself
    g = rv.graph_via_text(query, items, graph, n_neighbors=2, own=np.array([0]))
    # neighbours among verses with an edge: 1 (cos 0.3) and 2 (cos 1.2); 1 votes for 2, 2 votes for 1 and 3
    c1, c2 = math.cos(0.3), math.cos(1.2)
    torch.testing.assert_close(g, torch.tensor([[0.0, c2, c1, c2]]))
    # one neighbour only: verse 1, which links to 2
    g1 = rv.graph_via_text(query, items, graph, n_neighbors=1, own=np.array([0]))
    torch.testing.assert_close(g1, torch.tensor([[0.0, 0.0, c1, 0.0]]))
    # the query's own verse is never its neighbour: query = verse 1 (own = 1); 0 has no edge, so the neighbours
    # are 2 (cos 0.9), which links to 1 and 3, and 3 (cos 1.7 < 0: weight 0)
    g2 = rv.graph_via_text(items[1:2], items, graph, n_neighbors=2, own=np.array([1]))
    torch.testing.assert_close(g2, torch.tensor([[0.0, math.cos(0.9), 0.0, math.cos(0.9)]]))
    # chunking changes nothing
    many = items[[0, 1, 0]]
    torch.testing.assert_close(rv.graph_via_text(many, items, graph, 2, own=np.array([0, 1, 0]), chunk=1),
                               rv.graph_via_text(many, items, graph, 2, own=np.array([0, 1, 0])))
    with pytest.raises(ValueError, match="square"):
        rv.graph_via_text(query, items, graph[:3, :3], 2)
    with pytest.raises(ValueError, match="not finite"):
        rv.graph_via_text(torch.tensor([[float("nan"), 0.0]]), items, graph, 2)
    with pytest.raises(ValueError, match="no edge"):
        rv.graph_via_text(query, items, sp.csr_matrix((4, 4), dtype=np.float32), 2)


def test_graph_via_text_on_the_task_uses_only_training_edges():
    task = toy_task()
    rng = np.random.default_rng(0)
    vectors = torch.from_numpy(rng.normal(size=(len(task.catalogue), 8)).astype(np.float32))
    queries = task.test_queries
    g = rv.graph_via_text(vectors[task.index(queries)], vectors, task.adjacency(), n_neighbors=3,
                          own=task.index(queries))
    # only verses with a training edge (G1, G2, G3, E1, E2) can be reached; held-out verses get 0
    reachable = np.isin(task.catalogue, np.unique(task.train_edges))
    assert (g[:, torch.from_numpy(~reachable)] == 0).all()
    assert (g[:, torch.from_numpy(reachable)] > 0).any()


def perfect_scores(task, queries):
    """1 for each relevant verse, 2 for the query's own verse (which must still never be returned)."""
    scores = np.zeros((len(queries), len(task.catalogue)), dtype=np.float32)
    for row, q in enumerate(queries):
        scores[row, task.index(sorted(task.relevant[int(q)]))] = 1
        scores[row, task.index([q])] = 2
    return torch.from_numpy(scores)


def test_a_perfect_scorer_scores_one_and_the_query_is_never_returned():
    task = toy_task()
    for split in rv.SPLITS:
        queries = task.queries(split)
        result = rv.evaluate_related(task, split, k=3, scores=perfect_scores(task, queries))
        assert result == {"R@3": 1.0, "NDCG@3": 1.0, "MRR@3": 1.0}
        ranked = rv.rank_related(task, split, k=3, scores=perfect_scores(task, queries))
        assert all(q not in top for q, top in ranked.items())
    # reversed scores: the relevant verses last; J1 has 3 relevant of 10 candidates, so none in its top 3
    queries = task.queries("test")
    worst = rv.evaluate_related(task, "test", k=3, scores=-perfect_scores(task, queries), per_query=True)
    assert worst.loc[J1].tolist() == [0.0, 0.0, 0.0]


def test_rank_related_by_vectors_excludes_the_query_translation():
    task = toy_task()
    rng = np.random.default_rng(1)
    vectors = torch.from_numpy(rng.normal(size=(len(task.catalogue), 4)).astype(np.float32))
    queries = task.queries("test")
    # the query vectors are the catalogue's own rows: the nearest verse is the query itself, which must be skipped
    ranked = rv.rank_related(task, queries, k=4, query_vectors=vectors[task.index(queries)],
                             catalogue_vectors=vectors)
    assert set(ranked) == set(queries.tolist())
    assert all(len(top) == 4 and q not in top for q, top in ranked.items())
    metrics = rv.evaluate_related(task, "test", k=10, query_vectors=vectors[task.index(queries)],
                                  catalogue_vectors=vectors)
    assert metrics["R@10"] == 1.0  # 10 of the 10 other verses are returned: every relevant one is in
    with pytest.raises(ValueError, match="either scores"):
        rv.rank_related(task, "test", scores=perfect_scores(task, queries), query_vectors=vectors[:2],
                        catalogue_vectors=vectors)
    with pytest.raises(ValueError, match=r"scores must be \(n_queries, n_catalogue\)"):
        rv.rank_related(task, "test", scores=torch.zeros(2, 3))


def test_queries_per_book():
    task = toy_task()
    names = {JOHN: "John", PSALMS: "Psalms", MARK: "Mark"}
    assert rv.queries_per_book(task, names).to_dict() == {"John": 2, "Psalms": 0, "Mark": 2}


@pytest.mark.data
def test_real_task_holds_out_mark_john_and_psalms_from_the_training_graph():
    from xlrec_lib.data.bible import parallel_verses, verse_cross_references

    refs = verse_cross_references()
    task = rv.related_verse_task(parallel_verses(("en",))["verse_id"], refs)
    assert not np.isin(task.train_edges // 1_000_000, (MARK, JOHN, PSALMS)).any()
    s = task.summary()
    # measured on the KJV's 31,102 verses: 342 John and 828 Psalms verses have cross-references (the protocol asks
    # for at least 1,000 test queries), 112 Mark verses have some outside John and Psalms; 8,265 training edges. In
    # chapter 9's six-language catalogue two Psalms verses drop out (one of the six translations lacks them): 1,168
    six = parallel_verses(("en", "zh", "fr", "es", "de", "ru"))["verse_id"]
    assert len(rv.related_verse_task(six, refs).test_queries) == 1168
    names = {JOHN: "John", PSALMS: "Psalms", MARK: "Mark"}
    assert rv.queries_per_book(task, names).to_dict() == {"John": 342, "Psalms": 828, "Mark": 112}
    assert (s["test_queries"], s["valid_queries"], s["train_edges"]) == (1170, 112, 8265)
    assert s["catalogue"] == 31102


def _unit(x):
    return torch.nn.functional.normalize(torch.as_tensor(x, dtype=torch.float32), dim=1)


def test_language_grid_and_the_crosslingual_penalty():
    task = toy_task()
    rng = np.random.default_rng(2)
    en = _unit(rng.normal(size=(len(task.catalogue), 6)))
    # "zh" is en rotated: the same geometry within the language, not across
    rotation = torch.linalg.qr(torch.from_numpy(rng.normal(size=(6, 6))).float())[0]
    vectors = {"en": en, "zh": en @ rotation}
    grid = rv.language_grid(task, {"en": vectors["en"], "zh": vectors["zh"]}, queries="test", k=3)
    assert len(grid) == 4 and set(zip(grid["src"], grid["tgt"], strict=True)) == {
        ("en", "en"), ("en", "zh"), ("zh", "en"), ("zh", "zh")}
    cell = grid.set_index(["src", "tgt"])["NDCG@3"]
    assert cell["en", "en"] == cell["zh", "zh"]  # rotating both sides changes no cosine
    torch.testing.assert_close(rv.text_scores(task, "test", vectors["zh"], vectors["zh"]),
                               rv.text_scores(task, "test", en, en))
    penalty = rv.crosslingual_penalty(pd.DataFrame({"src": ["a", "a", "b", "b"], "tgt": ["a", "b", "a", "b"],
                                                    "NDCG@10": [0.4, 0.15, 0.2, 0.2]}))
    assert penalty["penalty"].round(6).tolist() == [0.0, 0.5, round(1 - 0.2 / 0.3, 6), 0.0]
    with pytest.raises(ValueError, match="no monolingual cell"):
        rv.crosslingual_penalty(pd.DataFrame({"src": ["a"], "tgt": ["b"], "NDCG@10": [0.1]}))
    with pytest.raises(ValueError, match="n_catalogue"):
        rv.text_scores(task, "test", en[:3], en)


def test_fusion_of_graph_and_text_by_alpha():
    task = toy_task()
    rng = np.random.default_rng(3)
    en = _unit(rng.normal(size=(len(task.catalogue), 5)))
    graph = task.adjacency()
    text = rv.text_scores(task, "test", en, en)
    # a huge alpha ranks by the text alone; alpha 0 by the graph (ties by verse id)
    text_only = rv.fused_score_fn(graph, alpha=1e6)(task, "test", en, en)
    assert rv.rank_related(task, "test", 5, scores=text_only) == rv.rank_related(task, "test", 5, scores=text)
    g = rv.graph_scores(task, "test", en, en, graph, n_neighbors=3)
    graph_only = rv.fused_score_fn(graph, alpha=0.0, n_neighbors=3)(task, "test", en, en)
    assert rv.rank_related(task, "test", 5, scores=graph_only) == rv.rank_related(task, "test", 5, scores=g)
    sweep = rv.alpha_grid(task, {"en": en, "de": en}, graph, alphas=[0.0, 1.0, 1e6], n_neighbors=3)
    assert sweep.shape == (4, 3) and list(sweep.index.names) == ["src", "tgt"]
    assert ((sweep >= 0) & (sweep <= 1)).all().all()


def test_choose_alpha_reads_the_validation_sweep_only():
    task = toy_task()
    rng = np.random.default_rng(4)
    en = _unit(rng.normal(size=(len(task.catalogue), 5)))
    vectors, graph = {"en": en, "de": en}, task.adjacency()
    alpha, sweep = rv.choose_alpha(task, vectors, graph, alphas=[0.0, 1.0, 1e6], n_neighbors=3, k=5)
    expected = rv.alpha_grid(task, vectors, graph, [0.0, 1.0, 1e6], 3, queries="valid", k=5)
    pd.testing.assert_frame_equal(sweep, expected)
    assert alpha == float(expected.mean().idxmax())


def test_per_query_cell_matches_the_grid_and_pairs_by_query():
    task = toy_task()
    rng = np.random.default_rng(5)
    vectors = {"en": _unit(rng.normal(size=(len(task.catalogue), 4))),
               "zh": _unit(rng.normal(size=(len(task.catalogue), 4)))}
    grid = rv.language_grid(task, vectors, queries="test", k=3).set_index(["src", "tgt"])["NDCG@3"]
    for src, tgt in [("en", "zh"), ("zh", "zh")]:
        values = rv.per_query_cell(task, vectors, src, tgt, k=3)
        assert sorted(values.index) == sorted(task.test_queries.tolist())
        assert values.index.equals(rv.per_query_cell(task, vectors, "en", "en", k=3).index)  # paired by position
        assert math.isclose(values.mean(), grid[src, tgt], rel_tol=1e-9)
    perfect_fn = lambda t, q, a, b: perfect_scores(t, t.test_queries)  # noqa: E731
    perfect = rv.per_query_cell(task, vectors, "en", "en", score_fn=perfect_fn, k=3)
    assert (perfect == 1.0).all()


def test_sample_catalogue_keeps_the_held_out_books_and_ignores_the_labels():
    small = rv.sample_catalogue(CATALOGUE, size=8, seed=0)
    assert len(small) == 8 and np.all(np.diff(small) > 0)
    assert {J1, J2, J3, M1, M2} <= set(small.tolist())  # the held-out books, whole
    assert set(rv.sample_catalogue(CATALOGUE, size=8, seed=0).tolist()) == set(small.tolist())  # seeded
    assert set(rv.sample_catalogue(CATALOGUE, size=11, seed=1).tolist()) == set(CATALOGUE)
    with pytest.raises(ValueError, match="below the 5 verses"):
        rv.sample_catalogue(CATALOGUE, size=4)


def test_cocitation_leaves_its_input_alone():
    weighted = sp.csr_matrix(np.array([[0, 2, 0], [2, 0, 3], [0, 3, 0]], dtype=np.float32))
    before = weighted.toarray().copy()
    rv.cocitation(weighted)
    assert np.array_equal(weighted.toarray(), before)


def test_plot_language_grids_draws_one_panel_per_grid():
    import matplotlib

    matplotlib.use("Agg")
    grid = pd.DataFrame({"src": ["a", "a", "b", "b"], "tgt": ["a", "b", "a", "b"], "NDCG@10": [0.4, 0.1, 0.2, 0.3]})
    fig = rv.plot_language_grids({"one": grid, "two": grid}, ["a", "b"], title="t")
    assert len(fig.axes) == 2 and fig.axes[1].get_title() == "two"
    assert [t.get_text() for t in fig.axes[0].texts] == ["0.400", "0.100", "0.200", "0.300"]


@pytest.mark.parametrize("books", ["43", (), (0,), (67,), (43.0,), (True,)])
def test_held_out_books_must_be_book_numbers(books):
    refs = pd.DataFrame({"verse_id": [CATALOGUE[0]], "related_id": [CATALOGUE[1]]})
    with pytest.raises(ValueError, match="test_books must be one or more book numbers 1..66"):
        rv.related_verse_task(CATALOGUE, refs, test_books=books)


def test_text_scores_needs_unit_rows():
    task = toy_task()
    rng = np.random.default_rng(5)
    en = _unit(rng.normal(size=(len(task.catalogue), 4)))
    long = en.clone()
    long[3] *= 10  # a dot product would rank this verse first for every query
    with pytest.raises(ValueError, match="catalogue_vectors row 3 has norm 10.0000, not 1"):
        rv.text_scores(task, "test", en, long)
    zero = en.clone()
    zero[3] = 0.0  # a text without tokens encodes to 0: allowed, it scores 0
    assert (rv.text_scores(task, "test", en, zero)[:, 3] == 0).all()


def test_crosslingual_penalty_needs_both_monolingual_cells_and_a_positive_base():
    with pytest.raises(ValueError, match=r"no monolingual cell for \['b'\]"):  # b only as a target
        rv.crosslingual_penalty(pd.DataFrame({"src": ["a", "a"], "tgt": ["a", "b"], "NDCG@10": [0.4, 0.1]}))
    with pytest.raises(ValueError, match="positive base"):
        rv.crosslingual_penalty(pd.DataFrame({"src": ["a", "a", "b", "b"], "tgt": ["a", "b", "a", "b"],
                                              "NDCG@10": [0.0, 0.0, 0.0, 0.0]}))


def test_graph_via_text_checks_own_and_drops_stored_zeros():
    items = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [0.8, 0.6]])
    graph = sp.csr_matrix(np.array([[0, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0]], dtype=np.float32))
    for own, message in (([-1], r"own\[0\] = -1 is not a catalogue position"),
                         ([4], r"own\[0\] = 4 is not a catalogue position"), ([0.0], "integer")):
        with pytest.raises(ValueError, match=message):
            rv.graph_via_text(items[:1], items, graph, 2, own=np.array(own))
    # a stored 0 between verses 0 and 1 is no edge: verse 0 stays outside the neighbourhood
    coo = graph.tocoo()
    stored = sp.csr_matrix((np.r_[coo.data, 0.0, 0.0], (np.r_[coo.row, 0, 1], np.r_[coo.col, 1, 0])), shape=(4, 4))
    assert stored.nnz == graph.nnz + 2  # two explicit zeros kept in the structure
    # the query sits on verse 0: were 0 an edge end it would be the one neighbour, and would bring nothing
    g = rv.graph_via_text(items[:1], items, stored, 1)
    torch.testing.assert_close(g, torch.tensor([[0.0, 0.0, 0.8, 0.0]]))  # neighbour 3 (cos 0.8) links to 2
    assert (rv.cocitation(stored) != rv.cocitation(graph)).nnz == 0  # never binarised into an edge
    assert stored.nnz == graph.nnz + 2  # the caller's matrix is not changed


def test_hub_scores_by_hand_and_csls_text(monkeypatch, tmp_path):
    monkeypatch.setenv("XLREC_CACHE", str(tmp_path / "cache"))  # CSLSText stores its hub scores there
    # k = 1: each catalogue verse's best cosine to the other verses of the source language, its own left out
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    b = torch.tensor([[0.8, 0.6], [1.0, 0.0], [0.0, 1.0]])
    # b0: a1 0.6, a2 0.96 -> 0.96; b1: a0 1.0, a2 0.6 -> 1.0; b2: a0 0.0, a1 1.0 -> 1.0 (a2's 0.8 is its own)
    torch.testing.assert_close(rv.hub_scores(a, b, k=1), torch.tensor([0.96, 1.0, 1.0]))
    torch.testing.assert_close(rv.hub_scores(a, b, k=2), torch.tensor([(0.6 + 0.96) / 2, 0.8, 0.5]))
    torch.testing.assert_close(rv.hub_scores(a, b, k=2, chunk=1), rv.hub_scores(a, b, k=2))
    for k in (0, 3, 1.5):
        with pytest.raises(ValueError, match="k must be an integer"):
            rv.hub_scores(a, b, k=k)
    with pytest.raises(ValueError, match="must both be"):
        rv.hub_scores(a, b[:2], k=1)
    task = toy_task()
    rng = np.random.default_rng(6)
    en, zh = (_unit(rng.normal(size=(len(task.catalogue), 4))) for _ in range(2))
    fn = rv.CSLSText(k=3)
    r = rv.hub_scores(en, zh, k=3)
    assert torch.equal(fn(task, "test", en, zh), 2 * rv.text_scores(task, "test", en, zh) - r[None, :])
    assert fn.hubs(en, zh) is fn.hubs(en, zh) and len(fn._kept) == 1  # computed once per pair of tensors
    fused = rv.fused_score_fn(task.adjacency(), alpha=1e6, n_neighbors=3, text_fn=fn)(task, "test", en, zh)
    assert rv.rank_related(task, "test", 5, scores=fused) == rv.rank_related(
        task, "test", 5, scores=fn(task, "test", en, zh))  # a huge alpha ranks by the CSLS text alone
    sweep = rv.alpha_grid(task, {"en": en, "zh": zh}, task.adjacency(), [1e6], 3, text_fn=fn)
    expected = rv.language_grid(task, {"en": en, "zh": zh}, fn, queries="valid", k=10)
    np.testing.assert_allclose(sweep[1e6].to_numpy(), expected["NDCG@10"].to_numpy(), atol=1e-9)


def test_cached_hub_scores_are_stored_read_back_and_checked(monkeypatch, tmp_path):
    from xlrec_lib.cache import CacheWarning

    monkeypatch.setenv("XLREC_CACHE", str(tmp_path / "cache"))
    derived = tmp_path / "cache" / "derived"
    rng = np.random.default_rng(8)
    en, zh = (_unit(rng.normal(size=(12, 4))) for _ in range(2))
    calls = []
    real = rv.hub_scores
    monkeypatch.setattr(rv, "hub_scores", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    first = rv.cached_hub_scores(en, zh, k=3)
    (folder,) = derived.glob("hubs-*")
    torch.testing.assert_close(first, real(en, zh, k=3), rtol=0, atol=0)
    # a second scorer, as in a rerun of the chapter: read back, not computed
    torch.testing.assert_close(rv.CSLSText(k=3).hubs(en, zh), first, rtol=0, atol=0)
    assert len(calls) == 1
    # another k, the pair the other way round, other vectors: computed, each in its own folder
    rv.cached_hub_scores(en, zh, k=2)
    rv.cached_hub_scores(zh, en, k=3)
    rv.cached_hub_scores(en, zh.flip(0), k=3)
    assert len(calls) == 4 and len(list(derived.glob("hubs-*"))) == 4
    # use_cache=False computes every time and writes nothing
    rv.CSLSText(k=3, use_cache=False).hubs(en, zh)
    assert len(calls) == 5 and len(list(derived.glob("hubs-*"))) == 4
    # a damaged file is named, removed and computed again, never read back
    (folder / rv.HUBS_FILE).write_bytes(b"not safetensors")
    with pytest.warns(CacheWarning, match="bytes"):
        again = rv.cached_hub_scores(en, zh, k=3)
    torch.testing.assert_close(again, first, rtol=0, atol=0)
    assert len(calls) == 6
    # the same vectors as hub_scores reads them (float64, a strided view, a numpy k) share the stored scores
    again = rv.cached_hub_scores(en.numpy().astype(np.float64), zh.T.contiguous().T, k=np.int64(3))
    torch.testing.assert_close(again, first, rtol=0, atol=0)
    assert len(calls) == 6
    # bad input is refused before anything is hashed or stored
    with pytest.raises(ValueError, match="k must be an integer"):
        rv.cached_hub_scores(en, zh, k=12)
    with pytest.raises(ValueError, match="must both be"):
        rv.cached_hub_scores(en, zh[:0], k=3)


def test_cached_hub_scores_refuse_an_intact_file_of_the_wrong_shape(monkeypatch, tmp_path):
    from safetensors.torch import save_file

    from xlrec_lib import cache

    monkeypatch.setenv("XLREC_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(9)
    en, zh = (_unit(rng.normal(size=(6, 4))) for _ in range(2))
    rv.cached_hub_scores(en, zh, k=2)
    (folder,) = (tmp_path / "cache" / "derived").glob("hubs-*")
    save_file({"hubs": torch.zeros(5)}, str(folder / rv.HUBS_FILE))
    cache.write_manifest(folder)  # intact by its manifest, but not 6 scores
    with pytest.raises(ValueError, match="expected 6 finite float32 hub scores"):
        rv.cached_hub_scores(en, zh, k=2)


def test_rank_related_refuses_a_repeated_query_and_a_float_k():
    task = toy_task()
    queries = task.queries("test")
    twice = np.array([queries[0], queries[0], *queries[1:]])
    with pytest.raises(ValueError, match=f"user id {int(queries[0])} appears more than once"):
        rv.rank_related(task, twice, k=2, scores=perfect_scores(task, twice))
    vectors = {"en": _unit(np.random.default_rng(0).normal(size=(len(task.catalogue), 3)))}
    with pytest.raises(ValueError, match="appears more than once"):  # choosing alpha on repeated queries too
        rv.alpha_grid(task, vectors, task.adjacency(), [0.5, 1.0], 2, queries=twice, k=2)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        rv.rank_related(task, "test", k=2.0, scores=perfect_scores(task, queries))


def test_rank_related_keeps_float64_scores_apart():
    # two scores equal in float32 but not in float64: the higher must rank first, not the lower index
    task = toy_task()
    queries = task.queries("test")
    scores = torch.zeros(len(queries), len(task.catalogue), dtype=torch.float64)
    scores[:, 0], scores[:, 1] = 1.0, 1.0 + 1e-12
    assert torch.equal(scores[:, 0].float(), scores[:, 1].float())
    ranked = rv.rank_related(task, queries, k=1, scores=scores)
    assert all(top == [int(task.catalogue[1])] for top in ranked.values())


def test_graph_scores_and_chunks_are_checked():
    task = toy_task()
    vectors = torch.nn.functional.normalize(torch.rand(len(task.catalogue), 3), dim=1)
    graph = task.adjacency()
    with pytest.raises(ValueError, match=r"query_vectors must be the whole catalogue"):
        rv.graph_scores(task, "test", vectors[:3], vectors, graph)
    for chunk in (0, -1, 2.0):  # -1 once filled nothing, or left uninitialised values, without an error
        with pytest.raises(ValueError, match="chunk must be a positive integer"):
            rv.graph_via_text(vectors[:2], vectors, graph, chunk=chunk)
        with pytest.raises(ValueError, match="chunk must be a positive integer"):
            rv.hub_scores(vectors, vectors, k=2, chunk=chunk)


def test_language_grid_per_query_agrees_with_the_grid_and_with_per_query_cell():
    task = toy_task()
    rng = np.random.default_rng(5)
    vectors = {"en": _unit(rng.normal(size=(len(task.catalogue), 4))),
               "zh": _unit(rng.normal(size=(len(task.catalogue), 4)))}
    grid = rv.language_grid(task, vectors, queries="test", k=3)
    for _, row in grid.iterrows():  # every metric of every cell, as evaluate_related computes it
        expected = rv.evaluate_related(task, "test", 3, scores=rv.text_scores(task, "test", vectors[row["src"]],
                                                                              vectors[row["tgt"]]))
        assert {m: row[m] for m in expected} == expected
    same, per_query = rv.language_grid(task, vectors, queries="test", k=3, per_query=True)
    pd.testing.assert_frame_equal(same, grid)
    assert list(per_query.columns) == [("en", "en"), ("en", "zh"), ("zh", "en"), ("zh", "zh")]
    np.testing.assert_allclose(per_query.mean().to_numpy(), grid["NDCG@3"].to_numpy())
    pd.testing.assert_series_equal(per_query[("zh", "en")], rv.per_query_cell(task, vectors, "zh", "en", k=3),
                                   check_names=False)


def test_sample_test_queries_keeps_what_it_is_asked_to_and_changes_nothing_else():
    # 20 John queries, each citing one Genesis verse
    john = [verse_id(JOHN, 2, v) for v in range(1, 21)]
    genesis = [verse_id(GEN, 2, v) for v in range(1, 21)]
    refs = pd.DataFrame({"verse_id": john, "related_id": genesis})
    task = rv.related_verse_task(john + genesis + [M1], refs)
    before = task.test_queries.copy()
    whole = rv.sample_test_queries(task, 50)
    assert whole is not task and whole.test_queries.tolist() == john and whole.dropped["test_queries_not_sampled"] == 0
    keep = [john[7], john[7], np.int64(john[3])]  # repeated ids are one query
    sample = rv.sample_test_queries(task, np.int64(6), seed=1, keep=keep)
    ids = sample.test_queries.tolist()
    assert len(ids) == len(set(ids)) == 6 and {john[3], john[7]} <= set(ids) and set(ids) <= set(john)
    assert ids == sorted(ids) and sample.dropped["test_queries_not_sampled"] == 14
    assert sample.relevant == task.relevant and sample.valid_queries.tolist() == task.valid_queries.tolist()
    np.testing.assert_array_equal(sample.train_edges, task.train_edges)
    np.testing.assert_array_equal(task.test_queries, before)  # the task given is unchanged
    assert "test_queries_not_sampled" not in task.dropped
    assert rv.sample_test_queries(task, 6, seed=1, keep=keep).test_queries.tolist() == ids  # seeded
    draws = {tuple(rv.sample_test_queries(task, 3, seed=s).test_queries.tolist()) for s in range(10)}
    assert len(draws) > 1  # the seed changes the draw
    again = rv.sample_test_queries(sample, 2, keep=[john[7]])  # a sample of a sample counts both cuts
    assert again.dropped["test_queries_not_sampled"] == 18 and john[7] in again.test_queries
    with pytest.raises(ValueError, match="not a test query"):
        rv.sample_test_queries(task, 1, keep=[M1])
    with pytest.raises(ValueError, match="more than n=1"):
        rv.sample_test_queries(task, 1, keep=john[:2])
    with pytest.raises(ValueError, match="list of verse ids"):
        rv.sample_test_queries(task, 1, keep=john[0])
    with pytest.raises(ValueError, match="positive integer"):
        rv.sample_test_queries(task, 0)


def test_mean_by_book_averages_each_query_over_its_cells_then_the_book():
    cells = pd.MultiIndex.from_tuples([("en", "en"), ("en", "zh"), ("zh", "en"), ("zh", "zh")])
    # two Psalms queries and one John query, each row's means by kind of cell worked out by hand; Psalms is then
    # (0.4 + 0.2) / 2 = 0.3 monolingual and (0.1 + 0.2) / 2 = 0.15 cross-lingual
    per_query = pd.DataFrame([[0.6, 0.2, 0.0, 0.2],    # Psalms 1:1: mono 0.4, cross 0.1
                              [0.2, 0.0, 0.4, 0.2],    # Psalms 1:2: mono 0.2, cross 0.2
                              [1.0, 0.5, 0.5, 0.0]],   # John 1:1: mono 0.5, cross 0.5
                             index=[19_001_001, 19_001_002, JOHN * 1_000_000 + 1_001], columns=cells)
    out = rv.mean_by_book(per_query, {PSALMS: "Psalms", JOHN: "John"})
    assert out.index.tolist() == ["Psalms", "John"] and out["queries"].tolist() == [2, 1]
    np.testing.assert_allclose(out["monolingual"], [0.3, 0.5])
    np.testing.assert_allclose(out["cross-lingual"], [0.15, 0.5])
    assert rv.mean_by_book(per_query).index.tolist() == [PSALMS, JOHN]  # book numbers without names
    with pytest.raises(ValueError, match="per-query frame"):
        rv.mean_by_book(per_query.set_axis(["a", "b", "c", "d"], axis=1))
    with pytest.raises(ValueError, match="no cross-lingual cell"):
        rv.mean_by_book(per_query[[("en", "en"), ("zh", "zh")]])
    with pytest.raises(ValueError, match="no query"):
        rv.mean_by_book(per_query.iloc[:0])
    with pytest.raises(ValueError, match="not a verse id"):
        rv.mean_by_book(per_query.set_axis([1, 2, 3], axis=0))


def test_change_by_kind_averages_each_query_over_its_cells_first():
    from xlrec_lib.intervals import bootstrap_mean

    cells = pd.MultiIndex.from_tuples([("en", "en"), ("en", "zh"), ("zh", "en"), ("zh", "zh")])
    before = pd.DataFrame(np.zeros((3, 4)), index=[11, 12, 13], columns=cells)
    # query 11 gains 0.2 and 0.4 in the two cross-lingual cells, 12 loses 0.1 in one, 13 nothing; monolingual:
    # 11 and 12 gain 0.3 in en -> en
    after = before.copy()
    after.loc[11, ("en", "zh")], after.loc[11, ("zh", "en")], after.loc[12, ("zh", "en")] = 0.2, 0.4, -0.1
    after.loc[[11, 12], ("en", "en")] = 0.3
    out = rv.change_by_kind(after, before, seed=4)
    cross = bootstrap_mean(np.array([0.3, -0.05, 0.0]), seed=4)
    mono = bootstrap_mean(np.array([0.15, 0.15, 0.0]), seed=4)
    np.testing.assert_allclose(out.loc["cross-lingual"].to_numpy(), cross)
    np.testing.assert_allclose(out.loc["monolingual"].to_numpy(), mono)
    assert out.loc["cross-lingual", "change"] == pytest.approx((0.2 + 0.4 - 0.1) / 6)  # the mean over cells
    with pytest.raises(ValueError, match="same queries"):
        rv.change_by_kind(after.iloc[:2], before)
    with pytest.raises(ValueError, match="no monolingual cell"):
        rv.change_by_kind(after[[("en", "zh")]], before[[("en", "zh")]])
    # the same cells in another order are matched by name
    pd.testing.assert_frame_equal(rv.change_by_kind(after, before[list(cells[::-1])], seed=4), out)
    with pytest.raises(ValueError, match=r"must be \(src, tgt\) cells"):
        rv.change_by_kind(after.set_axis(["en-en", "en-zh", "zh-en", "zh-zh"], axis=1),
                          before.set_axis(["en-en", "en-zh", "zh-en", "zh-zh"], axis=1))

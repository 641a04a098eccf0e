"""rec.keywords on a toy catalogue whose TF-IDF weights are worked out by hand."""

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from xlrec_lib.rec import keywords

ITEMS = pd.DataFrame({
    "item_id": [1, 2, 3, 4],
    "title": ["Star Wars", "Star Trek, The", "Love Actually", "War and Love"],
    "genres": [["Sci-Fi"], ["Sci-Fi"], ["Romance"], ["War", "Romance"]],
})


def test_title_words_drop_stop_words_articles_and_single_letters():
    assert keywords.title_words("Shawshank Redemption, The") == ["shawshank", "redemption"]
    assert keywords.title_words("Cité des enfants perdus, La") == ["cité", "enfants", "perdus"]
    assert keywords.title_words("Boys of St. Vincent, The") == ["boys", "st", "vincent"]
    with pytest.raises(ValueError, match="title must be a str"):
        keywords.title_words(None)


def test_item_keywords_and_kg_tags():
    kg = pd.DataFrame({"head": ["m.a", "m.a", "m.z"], "relation": ["film.film.actor", "film.film.directed_by",
                                                                    "film.film.actor"], "tail": ["m.p", "m.d", "m.p"]})
    links = pd.DataFrame({"item_id": [1], "entity_id": ["m.a"]})
    tags = keywords.kg_tag_terms(kg, links)
    assert tags == {1: ["actor=m.p", "directed_by=m.d"]}
    docs = keywords.item_keywords(ITEMS, tags)
    assert docs[0] == ["star", "wars", "sci-fi", "actor=m.p", "directed_by=m.d"]
    assert docs[3] == ["war", "love", "war", "romance"]  # the title word and the genre are one keyword
    with pytest.raises(ValueError, match="missing column"):
        keywords.item_keywords(ITEMS.drop(columns="genres"))


def test_tfidf_by_hand():
    docs = keywords.item_keywords(ITEMS)
    space = keywords.tfidf(docs, ITEMS["item_id"], min_df=2)
    # terms held by >= 2 of the 4 items: love (3, 4), romance (3, 4), sci-fi (1, 2), star (1, 2); "war" only item 4
    assert space.terms.tolist() == ["love", "romance", "sci-fi", "star"]
    idf = math.log(5 / 3) + 1  # every kept term has df = 2
    np.testing.assert_allclose(space.idf, [idf] * 4)
    x = space.matrix.toarray()
    np.testing.assert_allclose(x[0], [0, 0, 1 / math.sqrt(2), 1 / math.sqrt(2)], rtol=1e-6)
    np.testing.assert_allclose(x[3], [1 / math.sqrt(2), 1 / math.sqrt(2), 0, 0], rtol=1e-6)
    # with min_df=1, item 4 holds "war" twice: sublinear tf 1 + ln 2, idf ln(5/2) + 1 (df 1)
    full = keywords.tfidf(docs, ITEMS["item_id"], min_df=1)
    row = dict(zip(full.terms, full.matrix.toarray()[3], strict=True))
    raw = {"war": (1 + math.log(2)) * (math.log(5 / 2) + 1), "love": idf, "romance": idf}
    norm = math.sqrt(sum(v * v for v in raw.values()))
    for term, value in raw.items():
        assert row[term] == pytest.approx(value / norm, rel=1e-6)
    with pytest.raises(ValueError, match="min_df"):
        keywords.tfidf(docs, ITEMS["item_id"], min_df=0)
    with pytest.raises(ValueError, match="docs for"):
        keywords.tfidf(docs, [1, 2])


def test_kg_weight_scales_only_tags():
    docs = [["a", "t=1"], ["a", "t=1"], ["b"], ["b"]]
    plain = keywords.tfidf(docs, [1, 2, 3, 4], idf=False, kg_weight=1.0).matrix.toarray()
    half = keywords.tfidf(docs, [1, 2, 3, 4], idf=False, kg_weight=0.5).matrix.toarray()
    np.testing.assert_allclose(plain[0], [1 / math.sqrt(2), 0, 1 / math.sqrt(2)], rtol=1e-6)
    np.testing.assert_allclose(half[0], np.array([1, 0, 0.5]) / math.sqrt(1.25), rtol=1e-6)
    assert keywords.tfidf(docs, [1, 2, 3, 4]).is_tag().tolist() == [False, False, True]
    assert keywords.tfidf(docs, [1, 2, 3, 4], kg_weight=0.0).terms.tolist() == ["a", "b"]


def test_user_keywords_from_a_toy_history():
    space = keywords.tfidf(keywords.item_keywords(ITEMS), ITEMS["item_id"], min_df=2)
    # user 0 watched the two Star films and one love film; user 1 nothing
    history = sp.csr_matrix(np.array([[1, 1, 1, 0], [0, 0, 0, 0]], dtype=np.float32))
    h = keywords.user_vectors(history, space)
    s = 1 / math.sqrt(2)
    np.testing.assert_allclose(h[0], [s, s, 2 * s, 2 * s], rtol=1e-6)  # love, romance, sci-fi, star
    np.testing.assert_array_equal(h[1], 0)
    top = keywords.top_keywords(h[0], space.terms, 3)
    assert [t for t, _ in top] == ["sci-fi", "star", "love"]  # ties: the lower column first
    assert keywords.top_keywords(h[1], space.terms, 3) == []
    np.testing.assert_allclose(keywords.user_vectors(history.toarray(), space), h)
    with pytest.raises(ValueError, match="history must be"):
        keywords.user_vectors(np.ones((2, 3)), space)


def test_centred_user_vectors_measure_the_average_film_from_the_average_user():
    space = keywords.tfidf(keywords.item_keywords(ITEMS), ITEMS["item_id"], min_df=2)
    history = sp.csr_matrix(np.array([[1, 1, 1, 0], [0, 0, 0, 0], [0, 0, 1, 1]], dtype=np.float32))
    h = keywords.user_vectors(history, space)
    average = h / np.array([[3], [1], [2]])  # the empty history divides by 1: its average film is 0
    c = keywords.user_vectors(history, space, center=True)
    np.testing.assert_allclose(c, average - average.mean(0), rtol=1e-6, atol=1e-7)
    # by hand: average films [s/3, s/3, 2s/3, 2s/3], 0 and [s, s, 0, 0]; their mean [4s/9, 4s/9, 2s/9, 2s/9]
    s = 1 / math.sqrt(2)
    np.testing.assert_allclose(c[2], [5 * s / 9, 5 * s / 9, -2 * s / 9, -2 * s / 9], rtol=1e-6)
    assert c.dtype == np.float32
    np.testing.assert_allclose(keywords.user_vectors(history.toarray(), space, center=True), c, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(c.sum(0), 0, atol=1e-6)  # the average user sits at the origin
    # the length of a history does not count, its mix does: doubling a user's weights changes nothing
    doubled = keywords.user_vectors(history.multiply(2).tocsr(), space, center=True)
    np.testing.assert_allclose(doubled, c, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="at least 2 users"):
        keywords.user_vectors(history[:1], space, center=True)
    with pytest.raises(ValueError, match=">= 0"):
        keywords.user_vectors(np.array([[1, -1, 0, 0], [0, 0, 1, 0]], dtype=np.float32), space, center=True)


def test_top_terms_allowed_mask_and_padding():
    v = np.array([[0.5, 0.9, 0.0, 0.2], [0.1, 0.1, 0.3, 0.0]])
    np.testing.assert_array_equal(keywords.top_terms(v, 3), [[1, 0, 3], [2, 0, 1]])
    allowed = np.array([True, False, True, True])
    np.testing.assert_array_equal(keywords.top_terms(v, 3, allowed), [[0, 3, -1], [2, 0, -1]])


def test_contributions_sum_to_the_cosine_and_explain_names_shared_terms():
    rng = np.random.default_rng(0)
    u, x = rng.random(6), rng.random(6) * (rng.random(6) > 0.4)
    c = keywords.contributions(u, x)
    assert c.sum() == pytest.approx(u @ x / np.linalg.norm(u) / np.linalg.norm(x))
    terms = np.array(list("abcdef"))
    expl = keywords.explain(u, x, terms, n=2)
    assert [t for t, _ in expl] == [terms[j] for j in np.argsort(-c)[:2]]
    assert keywords.explain(np.array([1.0, 0]), np.array([0, 1.0]), np.array(["p", "q"])) == []
    assert keywords.contributions(np.zeros(3), np.ones(3)).tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="differ in length"):
        keywords.contributions(np.ones(2), np.ones(3))


def test_seed_index_cosine_depends_on_the_numbering_of_words():
    user, item = ["war", "space", "love"], ["space", "war", "robot"]
    # filtered to the user's words: item -> [space, war]; padded: [1, 2, 3] . [2, 1, 0]
    index = {"war": 1, "space": 2, "love": 3, "robot": 4}
    assert keywords.seed_index_cosine(user, item, index) == pytest.approx(4 / math.sqrt(14 * 5))
    renumbered = {"war": 3, "space": 2, "love": 1, "robot": 4}
    assert keywords.seed_index_cosine(user, item, renumbered) == pytest.approx((3 * 2 + 2 * 3) / math.sqrt(14 * 13))
    assert keywords.seed_index_cosine(user, ["robot"], index) == 0.0
    with pytest.raises(ValueError, match="lists of words"):
        keywords.seed_index_cosine("war", item, index)

"""xlrec_lib.content_vectors on a tiny hand-made catalogue (numbers worked out in the comments)."""

import math

import numpy as np
import pandas as pd
import pytest

from xlrec_lib.rec.content import genre_matrix, index_pairs, item_features, kg_tag_matrix, user_profiles

ITEMS = pd.DataFrame(
    {
        "item_id": [10, 20, 30, 40],
        "title": ["a", "b", "c", "d"],
        "genres": [["Comedy"], ["Comedy", "Drama"], ["Drama"], []],
    }
)
LINKS = pd.DataFrame({"item_id": [10, 20, 30], "entity_id": ["m.a", "m.b", "m.c"]})
KG = pd.DataFrame(
    {
        "head": ["m.a", "m.b", "m.c", "m.a", "m.x", "m.a", "m.a"],
        "relation": ["film.film.actor", "film.film.actor", "film.film.actor", "film.film.directed_by",
                     "film.film.actor", "film.film.directed_by", "film.film.country"],
        "tail": ["m.p", "m.p", "m.q", "m.d", "m.p", "m.d", "m.us"],
    }
)


def test_genre_matrix():
    x, names = genre_matrix(ITEMS)
    assert names == ["genre=Comedy", "genre=Drama"]
    np.testing.assert_array_equal(x, [[1, 0], [1, 1], [0, 1], [0, 0]])
    with pytest.raises(ValueError, match="must be a list"):
        genre_matrix(ITEMS.assign(genres=["Comedy", "x", "y", "z"]))


def test_kg_tags_min_count_and_idf():
    # tags per item: 10 {actor=p, directed_by=d (twice in KG, counted once), country=us}, 20 {actor=p}, 30 {actor=q}
    # m.x is no item's entity: ignored. With min_count 2 only actor=p (items 10 and 20) survives, idf log(4/2)
    x, names = kg_tag_matrix(ITEMS, KG, LINKS, min_count=2)
    assert names == ["film.film.actor=m.p"]
    np.testing.assert_allclose(x[:, 0], [math.log(2), math.log(2), 0, 0], rtol=1e-6)
    x1, names1 = kg_tag_matrix(ITEMS, KG, LINKS, min_count=1)
    assert len(names1) == 4  # actor=p, actor=q, country=us, directed_by=d
    # directed_by=d is on one item of 4: idf log 4
    assert x1[0, names1.index("film.film.directed_by=m.d")] == pytest.approx(math.log(4), rel=1e-6)


def test_item_features_blocks_are_unit_and_weighted():
    f = item_features(ITEMS, KG, LINKS, min_count=2, kg_weight=0.5)
    assert f.features == ["genre=Comedy", "genre=Drama", "film.film.actor=m.p"]
    assert f.genre_columns.tolist() == [True, True, False]
    # item 20: genres (1, 1) / sqrt 2; tag block unit then * 0.5
    np.testing.assert_allclose(f.matrix[1], [1 / math.sqrt(2), 1 / math.sqrt(2), 0.5], rtol=1e-6)
    # item 40 has nothing: a zero row
    np.testing.assert_array_equal(f.matrix[3], [0, 0, 0])
    assert f.rows([40, 10]).tolist() == [3, 0]
    with pytest.raises(ValueError, match="item id 99 has no feature row"):
        f.rows([99])


def test_user_profiles_mean_of_items():
    f = item_features(ITEMS)
    train = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [10, 30, 20]})
    profiles, users = user_profiles(train, f, user_ids=[1, 2, 3])
    # user 1: mean of (1, 0) and (0, 1) = (0.5, 0.5); user 2: (1, 1)/sqrt2; user 3 has no rating: zeros
    np.testing.assert_allclose(profiles, [[0.5, 0.5], [1 / math.sqrt(2), 1 / math.sqrt(2)], [0, 0]], rtol=1e-6)
    assert users.tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match="user 1 is not in user_ids"):
        user_profiles(train, f, user_ids=[2])


def test_index_pairs():
    frame = pd.DataFrame({"user_id": [7, 5, 7], "item_id": [30, 10, 10]})
    users, items = index_pairs(frame, [5, 7], [10, 20, 30])
    assert users.tolist() == [1, 0, 1] and items.tolist() == [2, 0, 0]
    with pytest.raises(ValueError, match="item_id 30 is not among the given ids"):
        index_pairs(frame, [5, 7], [10, 20])

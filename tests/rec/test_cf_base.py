"""The interaction matrix, input checks and top-k through the shared Recommender methods."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from xlrec_lib.rec.cf import Popularity, interaction_matrix
from xlrec_lib.rec.cf.base import check_train, seen_pairs


def _frame():
    return pd.DataFrame({"user_id": [10, 10, 20, 30], "item_id": [1, 3, 3, 2], "rating": [5, 3, 4, 1]})


def test_interaction_matrix_positions_and_values():
    x = interaction_matrix(_frame(), [10, 20, 30], [1, 2, 3])
    np.testing.assert_array_equal(x.toarray(), [[1, 0, 1], [0, 0, 1], [0, 1, 0]])
    r = interaction_matrix(_frame(), [30, 20, 10], [3, 2, 1], col_rating="rating")
    np.testing.assert_array_equal(r.toarray(), [[0, 1, 0], [4, 0, 0], [3, 0, 5]])
    assert r.dtype == np.float32


def test_interaction_matrix_rejects_unknown_ids_and_repeats():
    with pytest.raises(ValueError, match="user_id 30"):
        interaction_matrix(_frame(), [10, 20], [1, 2, 3])
    with pytest.raises(ValueError, match="appears twice"):
        interaction_matrix(pd.concat([_frame(), _frame().iloc[:1]]), [10, 20, 30], [1, 2, 3])
    with pytest.raises(ValueError, match="no column 'score'"):
        interaction_matrix(_frame(), [10, 20, 30], [1, 2, 3], col_rating="score")


def test_check_train_rejects_bad_input():
    with pytest.raises(ValueError, match="scipy.sparse"):
        check_train(np.ones((2, 2)))
    with pytest.raises(ValueError, match="no interaction"):
        check_train(sp.csr_matrix((2, 2)))
    with pytest.raises(ValueError, match=">= 0"):
        check_train(sp.csr_matrix(np.array([[1.0, -1.0]])))


def test_unfitted_model_says_so():
    with pytest.raises(ValueError, match="not fitted"):
        Popularity().recommend(2)


def test_popularity_counts_users_and_skips_seen_items():
    x = sp.csr_matrix(np.array([[1, 0, 0, 1], [1, 1, 0, 0], [5, 1, 0, 0], [0, 0, 0, 0]], dtype=np.float32))
    model = Popularity().fit(x)
    np.testing.assert_array_equal(model.counts_, [3, 2, 0, 1])
    top = model.recommend(2)
    assert top.ids.tolist() == [[1, 2], [3, 2], [3, 2], [0, 1]]
    torch.testing.assert_close(model.scores(), torch.tensor([[3.0, 2, 0, 1]]).expand(4, 4))
    assert model.recommend(1, exclude=None).ids.flatten().tolist() == [0, 0, 0, 0]
    rows, cols = seen_pairs(model.train_)
    assert sorted(zip(rows.tolist(), cols.tolist(), strict=True)) == [(0, 0), (0, 3), (1, 0), (1, 1), (2, 0), (2, 1)]

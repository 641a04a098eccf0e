"""Item-kNN weights against cosines computed by hand, and the neighbour cut."""

import numpy as np
import pytest
import scipy.sparse as sp

from xlrec_lib.rec.cf import ItemKNN
from xlrec_lib.rec.cf.item_knn import knn_weights


def test_weights_are_cosines_with_zero_diagonal():
    x = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 1, 0], [0, 1, 0, 0]], dtype=np.float32)
    w = knn_weights(sp.csr_matrix(x), neighbors=4)
    # items 0 and 1 share users 0 and 2; |x_0| = sqrt(3), |x_1| = sqrt(3); item 3 has no user
    assert w[0, 1] == pytest.approx(2 / 3)
    assert w[0, 2] == pytest.approx(2 / np.sqrt(6))
    assert np.all(np.diag(w) == 0) and np.all(w[3] == 0) and np.all(w[:, 3] == 0)
    np.testing.assert_allclose(w, w.T)
    shrunk = knn_weights(sp.csr_matrix(x), neighbors=4, shrink=1.0)
    assert shrunk[0, 1] == pytest.approx(2 / 4)


def test_each_item_keeps_its_nearest_neighbours_and_scores_sum_them():
    rng = np.random.default_rng(0)
    x = (rng.random((30, 9)) < 0.4).astype(np.float32)
    full = knn_weights(sp.csr_matrix(x), neighbors=9)
    cut = knn_weights(sp.csr_matrix(x), neighbors=2)
    for j in range(9):
        kept = np.flatnonzero(cut[:, j])
        assert len(kept) <= 2
        assert set(kept) <= set(np.argsort(-full[:, j])[:2])
    model = ItemKNN(neighbors=2).fit(sp.csr_matrix(x))
    np.testing.assert_allclose(model.scores().numpy(), x @ cut, rtol=1e-5)
    with pytest.raises(ValueError, match="neighbors"):
        ItemKNN(neighbors=0)

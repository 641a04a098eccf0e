"""Cosine, dot and the seed's sigmoid(cos); non-finite vectors rejected with the culprit row named."""

import pytest
import torch

from xlrec_lib.rec import similarity


def test_cosine_dot_and_zero_vectors():
    users = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    items = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    # |u0| = 5: cos(u0, i0) = 3/5, cos(u0, i1) = 8 / (5 * 2) = 4/5; any pair with a zero vector -> 0 (not NaN)
    expected = torch.tensor([[0.6, 0.8, 0.0], [0.0, 0.0, 0.0]])
    torch.testing.assert_close(similarity.cosine(users, items), expected)
    torch.testing.assert_close(similarity.dot(users, items), torch.tensor([[3.0, 8.0, 0.0], [0.0, 0.0, 0.0]]))
    torch.testing.assert_close(similarity.cosine_pairs(users, items[:2]), torch.tensor([0.6, 0.0]))
    torch.testing.assert_close(similarity.dot_pairs(users, items[1:]), torch.tensor([8.0, 0.0]))
    # agrees with torch where the cosine is defined
    a, b = torch.randn(5, 7), torch.randn(5, 7)
    torch.testing.assert_close(similarity.cosine_pairs(a, b), torch.nn.functional.cosine_similarity(a, b))
    with pytest.raises(ValueError, match="equal shapes"):
        similarity.dot_pairs(users, items)


def test_sigmoid_cos_range():
    # sigmoid(+-1) = 1 / (1 + e^-+1): 0.26894142..., 0.73105857...
    assert similarity.SIGMOID_COS_RANGE[0] == pytest.approx(0.2689414213699951, abs=1e-12)
    assert similarity.SIGMOID_COS_RANGE[1] == pytest.approx(0.7310585786300049, abs=1e-12)
    p = similarity.sigmoid_cos(similarity.cosine(torch.randn(50, 8), torch.randn(60, 8)))
    assert similarity.SIGMOID_COS_RANGE[0] <= float(p.min()) and float(p.max()) <= similarity.SIGMOID_COS_RANGE[1]


NAN, INF = float("nan"), float("inf")
GOOD = torch.eye(2)
BAD_ITEMS = torch.tensor([[1.0, 0.0], [NAN, 1.0]])  # row 1: NaN, which normalised to 0 would have scored cosine 0


@pytest.mark.parametrize(
    ("fn", "users", "items", "message"),
    [
        (similarity.cosine, GOOD, BAD_ITEMS, r"items row 1 is not finite \(nan at column 0; 1 of 2 rows"),
        (similarity.dot, GOOD, BAD_ITEMS, r"items row 1 is not finite \(nan at column 0"),
        (similarity.dot, torch.tensor([[INF, 0.0]]), GOOD, r"users row 0 is not finite \(inf at column 0"),
        (similarity.cosine_pairs, torch.tensor([[1.0, 0.0], [0.0, -INF]]), GOOD,
         r"users row 1 is not finite \(-inf at column 1"),
        (similarity.dot_pairs, GOOD, BAD_ITEMS, r"items row 1 is not finite"),
        (similarity.dot, torch.full((1, 2), 3e19), torch.full((2, 2), 3e19),
         r"inner products may overflow torch.float32: users row 0 has norm 4.24e\+19"),
    ],
)
def test_nonfinite_vectors_are_rejected(fn, users, items, message):
    with pytest.raises(ValueError, match=message) as err:
        fn(users, items)
    assert type(err.value) is ValueError

"""The ground floor's ranks: the one tie rule of P@k and MRR (cosines are tested in tests/rec/test_similarity.py)."""

import numpy as np
import pytest
import torch

from xlrec_lib import vectors
from xlrec_lib.vectors import check_k, check_ks, target_ranks


def test_target_ranks_one_target_ties_count_against():
    scores = np.array([
        [0.9, 0.5, 0.1],   # target 0 alone at the top -> 1
        [0.5, 0.5, 0.5],   # target 1 ties the two others -> 1 + 0 higher + 2 equal = 3
        [0.9, 0.5, 0.5],   # target 2: 1 higher, 1 equal other -> 3
        [0.1, 0.9, 0.5],   # target 2: 1 higher -> 2
    ])
    assert target_ranks(scores, np.array([0, 1, 2, 2])).tolist() == [1, 3, 3, 2]
    # torch in, the same ranks out
    assert target_ranks(torch.tensor(scores), torch.tensor([0, 1, 2, 2])).tolist() == [1, 3, 3, 2]


def test_target_ranks_several_targets_rank_the_best_one():
    scores = np.array([[0.2, 0.9, 0.9, 0.5], [0.9, 0.1, 0.5, 0.5]])
    mask = np.array([[False, True, True, False], [False, False, True, True]])
    # row 0: targets 1 and 2 tie at the top; they never count against each other -> 1
    # row 1: best target 0.5 (columns 2, 3); non-targets scoring >= 0.5: column 0 -> 2
    assert target_ranks(scores, mask).tolist() == [1, 2]
    # a mask with one target per row equals the index form: row 0 target 2 ties column 1 -> 2;
    # row 1 target 3 (0.5) is beaten by column 0 and tied by column 2 -> 3
    one = np.zeros_like(mask)
    one[[0, 1], [2, 3]] = True
    assert target_ranks(scores, one).tolist() == target_ranks(scores, np.array([2, 3])).tolist() == [2, 3]


@pytest.mark.parametrize(
    "scores, targets, message",
    [
        (np.array([[0.1, np.nan]]), np.array([0]), r"scores must be finite, got nan at row 0, column 1"),
        (np.array([[0.1, np.inf]]), np.array([0]), r"scores must be finite, got inf at row 0, column 1"),
        (np.array([[0.1, 0.2]]), np.array([2]), r"target 2 of row 0 is outside 0..1"),
        (np.array([[0.1, 0.2]]), np.array([[False, False]]), r"row 0 has no target"),
        (np.array([[0.1, 0.2]]), np.array([[True]]), r"a target mask must have the shape of scores \(1, 2\)"),
        (np.array([[0.1, 0.2]]), np.array([0.0]), r"targets must be \(1,\) integer columns"),
        (np.array([0.1, 0.2]), np.array([0]), r"scores must be a \(n, dim\) matrix"),
    ],
)
def test_target_ranks_bad_inputs(scores, targets, message):
    with pytest.raises(ValueError, match=message):
        target_ranks(scores, targets)


def test_check_k_and_ks():
    assert check_k(np.int64(3)) == 3 and check_ks(5) == (5,) and check_ks([1, 10]) == (1, 10)
    for bad in (0, -1, 2.0, True, "3", None):
        with pytest.raises(ValueError, match="k must be a positive integer"):
            check_k(bad)
    for bad in ("15", (), None):
        with pytest.raises(ValueError, match="ks must be positive integers"):
            check_ks(bad)


@pytest.mark.parametrize("to", [np.asarray, torch.as_tensor])
def test_first_non_unit_row_names_the_first_row_off_the_sphere(to):
    unit = to(np.array([[0.6, 0.8], [0.0, 0.0], [1.0, 0.0]], dtype=np.float32))
    assert vectors.first_non_unit_row(unit) is None
    assert vectors.first_non_unit_row(unit, allow_zero=False) == (1, 0.0)
    longer = to(np.array([[0.6, 0.8], [3.0, 4.0], [2.0, 0.0]], dtype=np.float32))
    assert vectors.first_non_unit_row(longer) == (1, 5.0)
    # the tolerance is a bound on |norm - 1|: 1.0005 passes at 1e-3, fails at 1e-4
    near = to(np.array([[1.0005, 0.0]], dtype=np.float32))
    assert vectors.first_non_unit_row(near) is None
    i, norm = vectors.first_non_unit_row(near, atol=1e-4)
    assert i == 0 and norm == pytest.approx(1.0005, abs=1e-6)
    nan = to(np.array([[0.6, 0.8], [np.nan, 0.0]], dtype=np.float32))
    assert vectors.first_non_unit_row(nan)[0] == 1
    with pytest.raises(ValueError, match="matrix"):
        vectors.first_non_unit_row(to(np.ones(3, dtype=np.float32)))

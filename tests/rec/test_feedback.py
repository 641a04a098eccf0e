"""rec.feedback: the simulated rounds on a toy catalogue played by hand."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from xlrec_lib.rec import feedback


def _fixed_scores(scores):
    return lambda w: torch.as_tensor(scores, dtype=torch.float32).expand(w.shape[0], -1)


def test_without_feedback_the_rounds_walk_down_the_static_ranking():
    scores = [5.0, 4, 3, 2, 1, 0]
    history = np.array([[1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]], dtype=np.float32)
    held = np.array([[0, 0, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0]])
    out = feedback.simulate_rounds(_fixed_scores(scores), history, held, rounds=3, k=2, update=False)
    # user 0 sees {1, 2}, then {3, 4}, then {5}: accepts 2 in round 1 and 4 in round 2; user 1 has nothing held out
    assert out["recall"].tolist() == [0.5, 1.0, 1.0]
    assert out["accepted"].tolist() == [1.0, 1.0, 0.0]
    assert out["precision"].tolist() == [0.5, 0.5, 0.0]
    table, per_user = feedback.simulate_rounds(_fixed_scores(scores), history, held, rounds=1, k=2, update=False,
                                               per_user=True)
    assert per_user.to_dict() == {0: 0.5} and table["recall"].iloc[-1] == per_user.mean()


def test_feedback_moves_the_profile_and_the_next_round():
    # two clusters of items: 0-2 share a keyword, 3-5 another; the user has item 0, its held-out items are 4 and 5
    x = torch.tensor([[1.0, 0], [1, 0], [1, 0], [0, 1], [0, 1], [0, 1]])
    x[:, 0] += torch.linspace(0.3, 0, 6)  # break ties: within a cluster lower index first

    def score(w):
        return torch.nn.functional.normalize(w @ x, dim=1) @ torch.nn.functional.normalize(x, dim=1).T

    history = sp.csr_matrix(np.array([[1, 0, 0, 0, 0, 0]], dtype=np.float32))
    held = np.array([[0, 0, 0, 0, 1, 1]])
    static = feedback.simulate_rounds(score, history, held, rounds=2, k=2, update=False)
    moved = feedback.simulate_rounds(score, history, held, rounds=2, k=2, accept_weight=1.0, skip_weight=1.0)
    # round 1 is the same (items 1, 2: both skipped); with feedback the skipped cluster is pushed down
    assert static["recall"].iloc[0] == moved["recall"].iloc[0] == 0.0
    assert static["recall"].iloc[1] < moved["recall"].iloc[1] == 1.0


def test_accepted_items_join_the_profile():
    seen = []

    def score(w):
        seen.append(w.clone())
        return torch.tensor([[0.0, 3, 2, 1]])

    feedback.simulate_rounds(score, np.array([[1.0, 0, 0, 0]]), np.array([[0, 1, 0, 0]]), rounds=2, k=2,
                             accept_weight=2.0, skip_weight=0.5)
    torch.testing.assert_close(seen[1], torch.tensor([[1.0, 2.0, -0.5, 0.0]]))


def test_bad_input():
    s = _fixed_scores([1.0, 0.0])
    with pytest.raises(ValueError, match="already in the history"):
        feedback.simulate_rounds(s, np.array([[1.0, 0]]), np.array([[1, 0]]))
    with pytest.raises(ValueError, match="holds no pair"):
        feedback.simulate_rounds(s, np.array([[1.0, 0]]), np.array([[0, 0]]))
    with pytest.raises(ValueError, match="rounds"):
        feedback.simulate_rounds(s, np.array([[1.0, 0]]), np.array([[0, 1]]), rounds=0)
    with pytest.raises(ValueError, match="held_out must be"):
        feedback.simulate_rounds(s, np.array([[1.0, 0]]), np.array([[0, 1, 0]]))
    with pytest.raises(ValueError, match="skip_weight"):
        feedback.simulate_rounds(s, np.array([[1.0, 0]]), np.array([[0, 1]]), skip_weight=-1)

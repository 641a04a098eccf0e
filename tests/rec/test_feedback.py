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


def _two_clusters():
    """Items 0-2 share a keyword, 3-5 another; the cosine of the profile W X with each item."""
    x = torch.tensor([[1.0, 0], [1, 0], [1, 0], [0, 1], [0, 1], [0, 1]])
    x[:, 0] += torch.linspace(0.3, 0, 6)  # break ties: within a cluster lower index first

    def score(w):
        return torch.nn.functional.normalize(w @ x, dim=1) @ torch.nn.functional.normalize(x, dim=1).T

    return score


def test_feedback_moves_the_profile_and_the_next_round():
    # the user has item 0, its held-out items are 4 and 5
    score = _two_clusters()
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


def test_relative_weights_are_shares_of_each_users_history():
    seen = []

    def score(w):
        seen.append(w.clone())
        return torch.tensor([[0.0, 0, 3, 2], [0.0, 0, 3, 2], [0.0, 0, 3, 2]])

    history = np.array([[2.0, 2, 0, 0], [0, 2, 0, 0], [0, 0, 0, 0]])
    held = np.array([[0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 1, 0]])
    feedback.simulate_rounds(score, history, held, rounds=3, k=1, accept_weight=0.1, skip_weight=0.01,
                             relative=True)
    torch.testing.assert_close(seen[0], torch.tensor(history, dtype=torch.float32))
    # round 1 shows item 2: accepted by users 0 and 2 (0.1 of the history total, 4 and 2), skipped by user 1 (0.01
    # of it); user 2 had no history, so its weights stay absolute
    torch.testing.assert_close(seen[1], torch.tensor([[2.0, 2, 0.4, 0], [0, 2, -0.02, 0], [0, 0, 0.1, 0]]))
    # round 2 shows item 3: the shares are of the history before round 1, not of the moved one
    torch.testing.assert_close(seen[2], torch.tensor([[2.0, 2, 0.4, -0.04], [0, 2, -0.02, 0.2], [0, 0, 0.1, -0.01]]))


def test_relative_weights_move_a_long_and_a_short_history_alike():
    # both users have item 0 (weight 3 and 1) and skip items 1 and 2 in round 1; the profile leaves cluster 0 once
    # 3 * 1.3 (or 1 * 1.3) - skip * (1.24 + 1.18) < 0 (the x of _two_clusters), and round 2 then shows items 5, 4
    score = _two_clusters()
    history = np.array([[3.0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0]])
    held = np.array([[0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 1, 1]])
    _, absolute = feedback.simulate_rounds(score, history, held, rounds=2, k=2, skip_weight=0.6, per_user=True)
    _, relative = feedback.simulate_rounds(score, history, held, rounds=2, k=2, skip_weight=0.6, per_user=True,
                                           relative=True)
    assert absolute.tolist() == [0.5, 1.0]  # 3.9 - 0.6 * 2.42 > 0: the long history barely moved
    assert relative.tolist() == [1.0, 1.0]  # 3.9 - 1.8 * 2.42 < 0


def test_choose_weights_keeps_the_best_pair_on_the_grid():
    score = _two_clusters()
    history, held = np.array([[1.0, 0, 0, 0, 0, 0]]), np.array([[0, 0, 0, 0, 1, 1]])
    # as in test_feedback_moves_the_profile_and_the_next_round: without a skip weight round 2 shows items 3 and 4
    # (recall 0.5), with one it shows 5 and 4 (recall 1)
    table, best = feedback.choose_weights(score, history, held, [1.0], [0.0, 1.0], rounds=2, k=2)
    assert table.to_numpy().tolist() == [[0.5, 1.0]] and best == (1.0, 1.0)
    assert table.index.name == "accept weight" and table.columns.name == "skip weight"
    _, tie = feedback.choose_weights(score, history, held, [2.0, 1.0], [1.0], rounds=2, k=2)
    assert tie == (2.0, 1.0)  # a tie keeps the first pair in grid order
    # relative=True is passed on to every game (the long history of
    # test_relative_weights_move_a_long_and_a_short_history_alike)
    long = np.array([[3.0, 0, 0, 0, 0, 0]])
    assert feedback.choose_weights(score, long, held, [1.0], [0.6], rounds=2, k=2)[0].iloc[0, 0] == 0.5
    assert feedback.choose_weights(score, long, held, [1.0], [0.6], rounds=2, k=2, relative=True)[0].iloc[0, 0] == 1.0
    with pytest.raises(ValueError, match="at least one weight"):
        feedback.choose_weights(score, history, held, [], [0.0])


def test_the_callers_history_is_left_as_it_was():
    history = np.array([[1.0, 0, 0, 0]], dtype=np.float32)
    before = history.copy()
    held = np.array([[0, 1, 0, 0]])
    scores = _fixed_scores([0.0, 3, 2, 1])
    feedback.simulate_rounds(scores, history, held, rounds=2, k=1, skip_weight=1.0)
    np.testing.assert_array_equal(history, before)
    # a grid replays the same history at every point
    table, _ = feedback.choose_weights(scores, history, held, [1.0], [1.0, 0.0], rounds=2, k=1)
    assert table.to_numpy().tolist() == [[1.0, 1.0]]


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
    for weights in ({"skip_weight": np.nan}, {"accept_weight": np.inf}):
        with pytest.raises(ValueError, match="finite and >= 0"):
            feedback.simulate_rounds(s, np.array([[1.0, 0]]), np.array([[0, 1]]), **weights)
    for history in ([[-1.0, 0]], [[np.nan, 0]]):
        with pytest.raises(ValueError, match="finite weights >= 0"):
            feedback.simulate_rounds(s, np.array(history), np.array([[0, 1]]))

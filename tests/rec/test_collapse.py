import numpy as np
import pytest
import torch

from xlrec_lib.rec.collapse import auc, left_pad, topic_data, train_matching


def test_left_pad_keeps_the_last_ids_on_the_right():
    out = left_pad([[1, 2, 3, 4], [5], []], 3, 0)
    assert out.tolist() == [[2, 3, 4], [0, 0, 5], [0, 0, 0]]


def test_auc_hand_cases():
    assert auc(torch.tensor([0.9, 0.8]), torch.tensor([0.1, 0.2])) == 1.0
    assert auc(torch.tensor([1.0, 1.0]), torch.tensor([1.0, 1.0])) == 0.5  # identical scores tell nothing
    assert auc(torch.tensor([0.5]), torch.tensor([0.4, 0.6])) == 0.5


def test_topic_data_is_deterministic_and_mostly_pure():
    a, b = topic_data(n_users=50, n_items=40, seed=3), topic_data(n_users=50, n_items=40, seed=3)
    assert np.array_equal(a["pairs"], b["pairs"]) and torch.equal(a["user_ids"], b["user_ids"])
    same = a["user_topic"][a["pairs"][:, 0]] == a["item_topic"][a["pairs"][:, 1]]
    assert 0.7 < same.mean() < 1.0  # mostly the user's topic, some cross-topic pairs that link the topics
    assert a["user_ids"].max() < a["vocab"] and a["user_ids"].min() >= 1


@pytest.fixture(scope="module")
def toy():
    torch.set_num_threads(1)
    return topic_data(n_users=120, n_items=120, n_topics=4, seed=0)


def test_positives_only_collapse_every_vector_onto_one(toy):
    h = train_matching(toy["user_ids"], toy["item_ids"], toy["pairs"], negatives=False, vocab=toy["vocab"],
                       steps=60, batch_size=128, eval_every=60)
    end = h.iloc[-1]
    assert end["cos_observed"] > 0.999 and end["cos_random"] > 0.999  # every pair looks the same
    assert end["spread"] < 1e-3 < h.iloc[0]["spread"]
    assert abs(end["auc"] - 0.5) < 0.1


def test_in_batch_negatives_keep_the_space_apart(toy):
    h = train_matching(toy["user_ids"], toy["item_ids"], toy["pairs"], negatives=True, vocab=toy["vocab"],
                       steps=60, batch_size=128, eval_every=60)
    end = h.iloc[-1]
    assert end["auc"] > 0.7 and end["cos_random"] < end["cos_observed"] - 0.05


def test_rejects_malformed_pairs(toy):
    with pytest.raises(ValueError, match="pairs"):
        train_matching(toy["user_ids"], toy["item_ids"], np.array([1, 2, 3]), negatives=False, vocab=toy["vocab"])

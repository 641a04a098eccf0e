import numpy as np
import torch
from transformers import BertConfig, BertForSequenceClassification

from xlrec_lib.rec import seed_recommend as seed


def tiny_classifier():
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=16, num_labels=2)
    return BertForSequenceClassification(cfg).eval()


def test_seed000_recommend_fails_on_a_string_and_on_two_class_scores():
    model = tiny_classifier()
    assert not seed.attempt(lambda: seed.seed000_recommend(model, "user1", "item1")).startswith("returned")
    # with real token ids the classifier runs, and reading 1,000 scores from 2 class probabilities fails at i = 2
    outcome = seed.attempt(lambda: seed.seed000_recommend(model, torch.tensor([[1, 5, 7, 2]]), None))
    assert outcome.startswith("IndexError")


def test_seed004_matching_fails_on_lists_of_unequal_length_and_works_on_equal_ones():
    index = {"action": 1, "space": 2, "comedy": 3}
    outcome = seed.attempt(lambda: seed.seed004_user_item_matching(index, ["action", "space"],
                                                                   ["action space war", "comedy"]))
    assert outcome.startswith("ValueError")
    scores = seed.seed004_user_item_matching(index, ["action", "space"], ["space action", "comedy drama"])
    assert scores.shape == (1, 2)
    # the cosine of word ids: [1, 2] against [2, 1] (the same words, reordered) is not 1
    assert scores[0, 0] < 1


def test_seed004_recommend_items_fails_on_its_own_matching_output_and_runs_on_a_flat_list():
    assert seed.attempt(lambda: seed.seed004_recommend_items(np.array([[0.9, 0.2, 0.7]]), ["a", "b", "c"])
                        ).startswith("ValueError")
    assert seed.seed004_recommend_items([0.9, 0.2, 0.7], ["a", "b", "c"]) == ["a", "c"]


def test_attempt_reports_a_value_or_the_first_line_of_an_error():
    assert seed.attempt(lambda: 3) == "returned 3"

    def boom():
        raise ValueError("first\nsecond")

    assert seed.attempt(boom) == "ValueError: first"

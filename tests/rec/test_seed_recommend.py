import re

import torch
from transformers import BertConfig, BertForSequenceClassification

from xlrec_lib.rec import seed_recommend as seed

INDEX = {"action": 1, "space": 2, "comedy": 3}  # what seed 004's Tokenizer builds (word -> id)


def tiny_classifier(num_labels: int = 2):
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=16, num_labels=num_labels)
    return BertForSequenceClassification(cfg).eval()


def test_seed000_recommend_fails_on_a_string_and_on_two_class_scores():
    model = tiny_classifier()
    outcome = seed.attempt(lambda: seed.seed000_recommend(model, "user1", "item1"))
    # the attribute read first depends on the transformers version ('size' in 5.25, 'device' in 5.0)
    assert re.fullmatch(r"AttributeError: 'str' object has no attribute '(size|device)'", outcome), outcome
    # with real token ids the classifier runs; reading 1,000 scores from its 2 class probabilities fails at i = 2
    ids = torch.tensor([[1, 5, 7, 2]])
    assert seed.attempt(lambda: seed.seed000_recommend(model, ids, None)) == "IndexError: list index out of range"
    # the control: with 1,000 labels the same call runs, so the 2 labels are what fails
    assert isinstance(seed.seed000_recommend(tiny_classifier(1000), ids, None), list)


def test_seed004_descriptions_keep_only_the_users_words():
    assert seed.seed004_item_descriptions(["action space war", "romantic comedy"], ["action", "space"]) == [
        "action space", ""]


def test_seed004_matching_fails_on_lists_of_unequal_length_and_runs_on_equal_ones():
    user = ["action", "space"]
    descriptions = seed.seed004_item_descriptions(["action space war", "romantic comedy"], user)
    outcome = seed.attempt(lambda: seed.seed004_user_item_matching(INDEX, user, descriptions), width=1000)
    assert outcome.startswith("ValueError") and "inhomogeneous" in outcome
    scores = seed.seed004_user_item_matching(INDEX, user, ["space action", "action space"])
    assert scores.shape == (1, 2)
    # the cosine of word ids: the same two words in the other order score below 1
    assert abs(scores[0, 0] - 0.8) < 1e-12 and abs(scores[0, 1] - 1) < 1e-12  # [1, 2] . [2, 1] / 5 = 0.8


def test_seed004_recommend_items_fails_on_its_matching_output_and_runs_on_a_flat_list():
    scores = seed.seed004_user_item_matching(INDEX, ["action", "space"], ["space action", "action space"])
    outcome = seed.attempt(lambda: seed.seed004_recommend_items(scores, ["a", "b"]), width=1000)
    assert outcome.startswith("ValueError") and "truth value of an array" in outcome
    assert seed.seed004_recommend_items([0.9, 0.2, 0.7], ["a", "b", "c"]) == ["a", "c"]


def test_attempt_reports_a_value_or_the_first_line_of_an_error_within_its_width():
    assert seed.attempt(lambda: 3) == "returned 3"

    def boom(message):
        raise ValueError(message)

    assert seed.attempt(lambda: boom("first\nsecond")) == "ValueError: first"
    assert seed.attempt(lambda: boom("")) == "ValueError"
    long = seed.attempt(lambda: boom("x" * 500), width=40)
    assert len(long) == 40 and long.endswith("...")

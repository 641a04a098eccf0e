"""The seeds' recommendation code as they write it, so that a chapter can run it and show where it fails.

Seed 000's ``recommend`` (§5.2.3, called with ``'user1'`` in §5.4) and seed 004's ``generate_item_description``,
``user_item_matching`` and ``recommend_items`` (§5.2) are copied with only their globals turned into arguments (the
model, the tokenizer's ``word_index``, the item list). ``attempt`` runs one call and reports what it returned or the
error it raised, in one line. The working versions are ``rec.topk`` (scores and sorts every item) and
``rec.calibration`` (a threshold chosen on validation data); ``rec.keywords.seed_index_cosine`` is seed 004's
matching made to run (lists padded to one length), which chapter 11 measures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch


def seed000_recommend(model, user, item) -> list[int]:
    """Seed 000 §5.2.3 as written: ``user`` goes to the classifier as its input ids, untokenized; the softmax over
    its class logits is read as one score per item for 1,000 items; the items above 0.1 are kept, unsorted."""
    user_ids = user
    item_ids = item  # noqa: F841 (the seed never uses it)
    with torch.no_grad():
        outputs = model(user_ids, token_type_ids=None, attention_mask=None)
        scores = outputs.logits.softmax(dim=1).tolist()[0]
        recommended_items = [i for i in range(1000) if scores[i] > 0.1]
    return recommended_items


def seed004_item_descriptions(item_attribute_data: Sequence[str], user_interest_words: Sequence[str]) -> list[str]:
    """Seed 004 §5.2 as written (``generate_item_description``): each item's text cut down to the user's words."""
    item_descriptions = []
    for item_attribute in item_attribute_data:
        description = " ".join([word for word in item_attribute.split() if word in user_interest_words])
        item_descriptions.append(description)
    return item_descriptions


def seed004_user_item_matching(word_index: Mapping[str, int], user_interest_words: Sequence[str],
                               item_descriptions: Sequence[str]):
    """Seed 004 §5.2 as written: word ids used as coordinates, one list per description (of its own length), and
    scikit-learn's ``cosine_similarity`` of the user's list against them, a ``(1, n_items)`` array."""
    from sklearn.metrics.pairwise import cosine_similarity

    user_interest_vector = [word_index.get(word, 0) for word in user_interest_words]
    item_vectors = []
    for description in item_descriptions:
        item_vector = [word_index.get(word, 0) for word in description.split()]
        item_vectors.append(item_vector)
    similarity_scores = cosine_similarity([user_interest_vector], item_vectors)
    return similarity_scores


def seed004_recommend_items(similarity_scores, items: Sequence, threshold: float = 0.5) -> list:
    """Seed 004 §5.2 as written: ``enumerate`` over the ``(1, n_items)`` array and a fixed threshold."""
    recommended_items = []
    for i, score in enumerate(similarity_scores):
        if score > threshold:
            recommended_items.append(items[i])
    return recommended_items


def attempt(call: Callable[[], object], width: int = 100) -> str:
    """``call()``'s outcome in one line of at most ``width`` characters (cut with "..."): ``"returned <value>"``,
    or ``"<ErrorType>: <first line of its message>"`` (the type alone for an empty message)."""
    try:
        outcome = f"returned {call()!r}"
    except Exception as err:  # the point is to show whichever error the seed's code raises
        message = str(err).strip()
        outcome = type(err).__name__ + (f": {message.splitlines()[0]}" if message else "")
    return outcome if len(outcome) <= width else outcome[: width - 3] + "..."


__all__ = ["seed000_recommend", "seed004_item_descriptions", "seed004_user_item_matching", "seed004_recommend_items",
           "attempt"]

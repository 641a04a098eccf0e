import numpy as np
import pandas as pd
import pytest

from xlrec_lib.data import topics
from xlrec_lib.lm import corpus


def test_groups_cover_every_book_once_in_canonical_order():
    books = [b for first, last in topics.GROUPS.values() for b in range(first, last + 1)]
    assert books == list(range(1, 67))
    assert len(topics.CLASSES) == 8 and all(last - first >= 1 for first, last in topics.GROUPS.values())


def test_book_label_hand_cases_and_merges():
    names = {1: "law", 5: "law", 6: "history", 19: "wisdom and poetry", 27: "major prophets", 39: "minor prophets",
             43: "gospels and acts", 44: "gospels and acts", 45: "Pauline epistles", 57: "Pauline epistles",
             58: "general epistles and revelation", 66: "general epistles and revelation"}
    labels = topics.book_label(list(names))
    assert [topics.CLASSES[i] for i in labels] == list(names.values())
    for bad in ([0], [67]):
        with pytest.raises(ValueError, match="not a book number"):
            topics.book_label(bad)
    with pytest.raises(ValueError, match="integer"):
        topics.book_label([1.5])


def test_held_out_books_are_whole_books_of_their_own_group():
    for group, (valid, test) in topics.HELD_OUT.items():
        assert valid != test
        assert topics.CLASSES[topics.book_label([valid])[0]] == group
        assert topics.CLASSES[topics.book_label([test])[0]] == group
    assert topics.book_split([41, 43, 1, 19]).tolist() == ["valid", "test", "train", "held"]
    assert topics.HELD_BOOKS == corpus.HELD_BOOKS  # Psalms: held out of every training step of the course
    assert not set(topics.HELD_BOOKS) & set(topics.VALID_BOOKS + topics.TEST_BOOKS)


def _frame():
    ids = [b * 1_000_000 + 1_000 + v for b in (1, 3, 5, 40, 43) for v in range(1, 21)]
    return topics.label_verses(pd.DataFrame({"verse_id": ids, "en": [f"v{i}" for i in ids]}))


def test_label_verses_splits_by_book_so_no_held_out_book_shares_a_split():
    frame = _frame()
    assert frame.groupby("book_no")["split"].nunique().eq(1).all()
    assert set(frame.loc[frame["book_no"] == 43, "split"]) == {"test"}
    assert set(frame.loc[frame["book_no"] == 3, "split"]) == {"valid"}
    assert frame.loc[frame["book_no"] == 40, "topic"].iloc[0] == "gospels and acts"
    with pytest.raises(ValueError, match="verse_id"):
        topics.label_verses(pd.DataFrame({"x": [1]}))


def test_sample_per_book_and_few_shot():
    frame = _frame()
    capped = topics.sample_per_book(frame, 5, seed=0)
    assert capped.groupby("book_no").size().eq(5).all()
    assert capped.equals(topics.sample_per_book(frame, 5, seed=0))
    assert topics.sample_per_book(frame, None) is frame
    with pytest.raises(ValueError, match="'history'.* have fewer than per_class=3"):
        topics.few_shot(frame, 3)  # no history book in this frame
    every = topics.label_verses(pd.DataFrame({"verse_id": [first * 1_000_000 + 1_000 + v for first, _ in
                                                           topics.GROUPS.values() for v in range(1, 11)]}))
    shots = topics.few_shot(every, 3, seed=0)
    assert shots.groupby("label").size().eq(3).all() and shots["label"].nunique() == 8
    assert shots.equals(topics.few_shot(every, 3, seed=0)) and not shots.equals(topics.few_shot(every, 3, seed=1))
    for bad in (0, True, 2.5):
        with pytest.raises(ValueError):
            topics.sample_per_book(frame, bad)
        with pytest.raises(ValueError):
            topics.few_shot(frame, bad)


@pytest.mark.data
def test_real_verses_are_imbalanced_and_every_class_has_test_verses():
    from xlrec_lib.data.sources import SourceError

    try:
        frame = topics.topic_verses(("en",))
    except SourceError as err:  # the pinned archive can be neither found in the cache nor downloaded
        pytest.skip(f"Bible archive unavailable: {err}")
    counts = frame[frame["split"] == "train"].groupby("label").size()
    assert len(counts) == 8 and counts.max() / counts.min() > 3
    assert frame[frame["split"] == "test"]["label"].nunique() == 8
    assert np.isin(frame.loc[frame["split"] == "test", "book_no"], topics.TEST_BOOKS).all()

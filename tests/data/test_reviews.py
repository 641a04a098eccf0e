import pandas as pd
import pytest

from xlrec_lib.data.reviews import assign_splits, chinese_reviews, clean_reviews


def test_clean_reviews_dedups_and_reports():
    pos = ["很好", "很好 ", "不错", "一般", ""]
    neg = ["太差", "一般", "太差"]
    frame = clean_reviews(pos, neg)
    assert frame.to_dict("list") == {"text": ["很好", "不错", "太差"], "label": [1, 1, 0]}
    assert frame.attrs["dropped"] == {"empty": 1, "duplicate": 2, "conflicting": 1}


def test_assign_splits_is_stratified_and_deterministic():
    frame = pd.DataFrame({"text": [str(i) for i in range(100)], "label": [1] * 60 + [0] * 40})
    split = assign_splits(frame, seed=3)
    counts = pd.crosstab(split, frame["label"])
    assert counts.loc["train"].tolist() == [32, 48]
    assert counts.loc["validation"].tolist() == [4, 6] and counts.loc["test"].tolist() == [4, 6]
    assert split.equals(assign_splits(frame, seed=3))
    assert not split.equals(assign_splits(frame, seed=4))


@pytest.mark.data
def test_real_reviews():
    frame = chinese_reviews()
    assert not frame["text"].duplicated().any() and (frame["text"] != "").all()
    assert set(frame["label"]) == {0, 1}
    assert len(frame) == 17_363
    assert frame.attrs["dropped"] == {"empty": 1, "duplicate": 17_666, "conflicting": 47}
    sizes = frame["split"].value_counts()
    assert sizes["train"] == len(chinese_reviews("train")) == 13_891
    with pytest.raises(ValueError, match="split"):
        chinese_reviews("dev")

import numpy as np
import pandas as pd
import pytest

from xlrec_lib.data.splits import cold_item_split, leave_last_out, min_rating_filter, stratified_split


@pytest.fixture
def ratings():
    """20 users with 1..20 rows each (210 rows), distinct (user, item) pairs, timestamps increasing per user."""
    rows = [(u, 100 + i, 1 + (u + i) % 5, 1000 * u + i) for u in range(1, 21) for i in range(u)]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])


def _pairs(frame):
    return set(zip(frame["user_id"], frame["item_id"], strict=True))


def test_stratified_split_partitions_rows_without_leakage(ratings):
    train, test = stratified_split(ratings, ratio=0.75, seed=1)
    assert len(train) + len(test) == len(ratings)
    assert not set(train.index) & set(test.index)
    assert set(train.index) | set(test.index) == set(ratings.index)
    pd.testing.assert_frame_equal(pd.concat([train, test]).sort_index(), ratings)


def test_stratified_split_ratio_per_user_is_floor(ratings):
    train, _ = stratified_split(ratings, ratio=0.75, seed=1)
    per_user = train.groupby("user_id").size().reindex(range(1, 21), fill_value=0)
    expected = [int(np.floor(0.75 * n + 1e-9)) for n in range(1, 21)]  # k/n <= 0.75  <=>  k <= 0.75 n
    assert per_user.tolist() == expected


def test_stratified_split_follows_the_recommenders_order_with_a_floor(ratings):
    """Hand-written reference: seed numpy, one uniform number per input row, sort by (user, number) as recommenders'
    python_stratified_split does, then train while rank k/n <= ratio (a floor, where recommenders rounds)."""
    np.random.seed(7)
    ref = ratings.assign(r=np.random.rand(len(ratings))).sort_values(["user_id", "r"])
    rank = (ref.groupby("user_id").cumcount() + 1) / ref.groupby("user_id")["user_id"].transform("count")
    train, test = stratified_split(ratings, ratio=0.75, seed=7)
    assert train.index.tolist() == ref.index[rank <= 0.75].tolist()
    assert test.index.tolist() == ref.index[rank > 0.75].tolist()


def test_stratified_split_is_deterministic_and_seed_dependent(ratings):
    a, _ = stratified_split(ratings, seed=3)
    b, _ = stratified_split(ratings, seed=3)
    c, _ = stratified_split(ratings, seed=4)
    assert a.index.tolist() == b.index.tolist()
    assert a.index.tolist() != c.index.tolist()


def test_stratified_split_does_not_touch_the_input(ratings):
    before = ratings.copy()
    stratified_split(ratings)
    pd.testing.assert_frame_equal(ratings, before)


def test_stratified_split_list_ratio_and_min_rating(ratings):
    parts = stratified_split(ratings, ratio=[0.6, 0.2, 0.2], seed=0, min_rating=5)
    assert len(parts) == 3
    assert sum(len(p) for p in parts) == len(min_rating_filter(ratings, 5)) == sum(range(5, 21))
    assert set(parts[0]["user_id"]) == set(range(5, 21))


@pytest.mark.parametrize("ratio", [0.0, 1.0, 1.5])
def test_stratified_split_rejects_bad_ratio(ratings, ratio):
    with pytest.raises(ValueError, match="ratio"):
        stratified_split(ratings, ratio=ratio)


def test_missing_column_is_named(ratings):
    with pytest.raises(ValueError, match=r"no column\(s\) \['uid'\]"):
        stratified_split(ratings, col_user="uid")


def test_leave_last_out_holds_out_the_latest_row(ratings):
    train, test = leave_last_out(ratings)
    assert len(train) + len(test) == len(ratings)
    assert len(test) == 19  # user 1 has a single row: it stays in train
    latest = ratings.loc[ratings.groupby("user_id")["timestamp"].idxmax()]
    assert _pairs(test) == _pairs(latest[latest["user_id"] > 1])
    last_train = train.groupby("user_id")["timestamp"].max()
    first_test = test.groupby("user_id")["timestamp"].min()
    assert (last_train.loc[first_test.index] < first_test).all()  # no future in train


def test_leave_last_out_breaks_time_ties_by_input_order():
    frame = pd.DataFrame({"user_id": [1, 1, 1], "item_id": [5, 6, 7], "timestamp": [9, 9, 9]})
    train, test = leave_last_out(frame)
    assert test["item_id"].tolist() == [7] and train["item_id"].tolist() == [5, 6]


def test_cold_item_split_holds_out_whole_items(ratings):
    train, test = cold_item_split(ratings, item_ratio=0.2, seed=0)
    assert len(train) + len(test) == len(ratings)
    assert not set(train["item_id"]) & set(test["item_id"])
    assert test["item_id"].nunique() == round(0.2 * ratings["item_id"].nunique())
    again, _ = cold_item_split(ratings, item_ratio=0.2, seed=0)
    assert again.index.tolist() == train.index.tolist()


def test_cold_item_split_with_given_items(ratings):
    train, test = cold_item_split(ratings, items=[100, 101])
    assert set(test["item_id"]) == {100, 101}
    assert len(test) == (ratings["item_id"].isin([100, 101])).sum()
    with pytest.raises(ValueError, match=r"items \[999\] are not in column 'item_id'"):
        cold_item_split(ratings, items=[100, 999])


@pytest.mark.data
def test_real_movielens_split_sizes():
    from xlrec_lib.data import movielens_100k

    r = movielens_100k().ratings
    train, test = stratified_split(r, ratio=0.75, seed=42)
    assert (len(train), len(test)) == (74_646, 25_354)
    assert train["user_id"].nunique() == test["user_id"].nunique() == 943
    train, test = leave_last_out(r)
    assert (len(train), len(test)) == (99_057, 943)


def test_stratified_split_puts_every_row_in_exactly_one_part():
    frame = pd.DataFrame({"user_id": np.repeat(np.arange(10), 21), "item_id": np.arange(210)})
    parts = stratified_split(frame, ratio=[0.1] * 10, seed=1)  # the cumulative sum ends a rounding step below 1
    assert len(parts) == 10 and sum(map(len, parts)) == 210
    assert pd.concat(parts).index.sort_values().equals(frame.index)
    missing = frame.assign(user_id=frame["user_id"].where(frame.index != 3))
    for min_rating in (1, 2):  # also when a minimum count filters first (its groupby dropped such rows)
        with pytest.raises(ValueError, match="column 'user_id' is missing at row 3"):
            stratified_split(missing, ratio=0.75, min_rating=min_rating)
    with pytest.raises(ValueError, match="repeated labels"):
        stratified_split(frame.set_axis(np.repeat(np.arange(105), 2)), ratio=0.5)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="min_rating must be an integer >= 1"):
            stratified_split(frame, ratio=0.75, min_rating=bad)

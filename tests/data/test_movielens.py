import pytest

from xlrec_lib.data import movielens
from xlrec_lib.data.movielens import load_movielens, movielens_100k, parse_items, parse_ratings, read_atomic

HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"


@pytest.fixture
def tiny(make_source, fixtures_dir):
    members = {f"{movielens._PREFIX}.{ext}": (fixtures_dir / "ml-100k-tiny" / f"ml-100k.{ext}").read_bytes()
               for ext in ("inter", "user", "item", "kg", "link")}
    return load_movielens(make_source("recbole", members))


def test_tiny_tables_have_our_columns_and_types(tiny):
    assert list(tiny.ratings.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert all(str(t) == "int64" for t in tiny.ratings.dtypes)
    assert list(tiny.items.columns) == ["item_id", "title", "year", "genres"]
    assert list(tiny.kg.columns) == ["head", "relation", "tail"]
    assert list(tiny.links.columns) == ["item_id", "entity_id"]
    assert tiny.users["zip_code"].tolist() == ["85711", "T8H1N", "32067"]  # strings, not numbers
    assert tiny.counts()["ratings"] == 6 and tiny.counts()["users"] == 3 and tiny.counts()["items"] == 3


def test_items_year_is_nullable_and_genres_are_lists(tiny):
    items = tiny.items.set_index("item_id")
    assert items.loc[10, "year"] == 1995
    assert items["year"].isna().sum() == 2  # "unkonwn" and "V" in the source
    assert items.loc[10, "genres"] == ["Animation", "Children's", "Comedy"]


def test_header_types_are_stripped_and_values_stay_strings():
    frame = read_atomic(HEADER + "1\t2\t3\t4\n", "x.inter")
    assert list(frame.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert frame.iloc[0].tolist() == ["1", "2", "3", "4"]


@pytest.mark.parametrize(
    "row, message",
    [
        ("1\tabc\t3\t4\n", "column 'item_id' data row 1 is 'abc'"),
        ("1\t2\t6\t4\n", "column 'rating' data row 1 is 6, outside 1..5"),
        ("1\t2\t3.5\t4\n", "column 'rating' data row 1 is '3.5'"),
        ("1\t\t3\t4\n", "column 'item_id' is empty on data row 1"),
    ],
)
def test_bad_rows_are_named(row, message):
    with pytest.raises(ValueError, match=message):
        parse_ratings(HEADER + row, "x.inter")


def test_unexpected_columns_are_rejected():
    with pytest.raises(ValueError, match="expected columns"):
        parse_items(HEADER + "1\t2\t3\t4\n", "x.item")


@pytest.mark.data
def test_real_movielens_counts():
    ml = movielens_100k()
    assert len(ml.ratings) == 100_000
    assert ml.ratings["user_id"].nunique() == 943 and len(ml.users) == 943
    assert ml.ratings["item_id"].nunique() == 1682 and len(ml.items) == 1682
    assert set(ml.ratings["rating"].unique()) == {1, 2, 3, 4, 5}
    assert not ml.ratings.duplicated(["user_id", "item_id"]).any()
    assert len(ml.kg) == 91_631 and len(ml.links) == 1_598
    assert ml.items["year"].isna().sum() == 2


@pytest.mark.data
def test_real_movielens_returns_independent_copies():
    a = movielens_100k()
    a.ratings.loc[0, "rating"] = 99
    a.items.loc[0, "genres"].append("Mine")
    b = movielens_100k()
    assert b.ratings.loc[0, "rating"] != 99 and "Mine" not in b.items.loc[0, "genres"]

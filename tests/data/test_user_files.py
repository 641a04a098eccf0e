import pytest

from xlrec_lib.data.user_files import UserFileError, load_interactions, load_items


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_good_interactions(tmp_path):
    path = write(tmp_path, "r.csv", "user_id,item_id,rating,timestamp,note\n1,10,5,100,ok\n2,10,3.5,90,\n1,11,4,80,x\n")
    frame = load_interactions(path)
    assert frame["user_id"].tolist() == [1, 2, 1] and str(frame["user_id"].dtype) == "int64"
    assert frame["rating"].tolist() == [5.0, 3.5, 4.0]
    assert frame["note"].tolist() == ["ok", "", "x"]  # other columns kept as text, empty allowed


def test_good_tsv_without_optional_columns(tmp_path):
    frame = load_interactions(write(tmp_path, "r.tsv", "user_id\titem_id\n1\t2\n"))
    assert frame.to_dict("list") == {"user_id": [1], "item_id": [2]}


@pytest.mark.parametrize(
    "text, message",
    [
        ("user,item_id\n1,2\n", r"r.csv: missing column\(s\) \['user_id'\]; the header has \['user', 'item_id'\]"),
        ("user_id,item_id\n1,2\nu7,3\n", r"r.csv: line 3, column 'user_id' is 'u7', not an integer id"),
        ("user_id,item_id\n1,2.5\n", r"line 2, column 'item_id' is '2.5', not an integer id"),
        ("user_id,item_id,rating\n1,2,\n", r"line 2, column 'rating' is empty"),
        ("user_id,item_id,rating\n1,2,good\n", r"line 2, column 'rating' is 'good', not a number"),
        ("user_id,item_id\n1,2\n3,4\n1,2\n", r"duplicate \['user_id', 'item_id'\] \[1, 2\] on lines \[2, 4\]"),
        ("user_id,item_id\n1,2\n\n3,4\n", r"line 3 has 0 fields, the header has 2"),
        ("user_id,item_id\n1,2,3\n", r"line 2 has 3 fields, the header has 2"),
        ("user_id,item_id\n", r"needs a header line and at least one data line"),
        ("user_id,user_id\n1,2\n", r"repeated column names"),
    ],
)
def test_bad_interactions_are_named(tmp_path, text, message):
    with pytest.raises(UserFileError, match=message):
        load_interactions(write(tmp_path, "r.csv", text))


def test_same_pair_at_different_times_is_allowed(tmp_path):
    frame = load_interactions(write(tmp_path, "r.csv", "user_id,item_id,timestamp\n1,2,10\n1,2,20\n"))
    assert len(frame) == 2


def test_missing_file(tmp_path):
    with pytest.raises(UserFileError, match="no such file"):
        load_interactions(tmp_path / "nope.csv")


def test_items(tmp_path):
    path = write(tmp_path, "items.tsv", "item_id\ttitle\tdescription\n1\t玩具总动员\tToys\n2\tLe Fabuleux Destin\t\n")
    frame = load_items(path)
    assert frame["title"].tolist() == ["玩具总动员", "Le Fabuleux Destin"]
    with pytest.raises(UserFileError, match=r"items.tsv: line 3, column 'description' is empty"):
        load_items(path, text_cols=("title", "description"))


@pytest.mark.parametrize(
    "text, message",
    [
        ("item_id\ttitle\n1\tA\n1\tB\n", r"duplicate \['item_id'\] \[1\] on lines \[2, 3\]"),
        ("item_id\ttitle\n1\t  \n", r"line 2, column 'title' is empty"),
        ("item_id\tname\n1\tA\n", r"missing column\(s\) \['title'\]"),
        ("item_id\ttitle\nabc\tA\n", r"line 2, column 'item_id' is 'abc', not an integer id"),
    ],
)
def test_bad_items(tmp_path, text, message):
    with pytest.raises(UserFileError, match=message):
        load_items(write(tmp_path, "items.tsv", text))

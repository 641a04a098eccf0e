"""Bad input to the data part: a reader's own files, the loaders' parsers and the splits.

One case per kind of bad input; each asserts the exact error type and that the message names the culprit (file,
line and column for files; the argument and value otherwise). Cases that must *not* fail (a BOM, spaces around
an id, a quoted title over two lines) are asserted with their values.
"""

import numpy as np
import pandas as pd
import pytest

from xlrec_lib.data import mind, movielens, reviews, splits
from xlrec_lib.data.user_files import UserFileError, load_interactions, load_items

ML_HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"


def write(tmp_path, name, data):
    path = tmp_path / name
    (path.write_bytes if isinstance(data, bytes) else lambda t: path.write_text(t, encoding="utf-8"))(data)
    return path


INTERACTION_FILES = {
    # the cases
    "rating inf": ("r.csv", "user_id,item_id,rating\n1,2,5\n1,3,inf\n",
                   r"r.csv: line 3, column 'rating' is 'inf', not a finite number"),
    "rating 1e400": ("r.csv", "user_id,item_id,rating\n1,2,1e400\n",
                     r"r.csv: line 2, column 'rating' is '1e400', not a finite number"),
    "id beyond int64": ("r.csv", "user_id,item_id\n1,2\n99999999999999999999,3\n",
                        r"r.csv: line 3, column 'user_id' is '99999999999999999999', outside the int64 range"),
    # siblings
    "rating nan": ("r.csv", "user_id,item_id,rating\n1,2,nan\n", r"line 2, column 'rating' is 'nan', not a finite"),
    "timestamp -inf": ("r.csv", "user_id,item_id,timestamp\n1,2,-inf\n",
                       r"line 2, column 'timestamp' is '-inf', not a finite number"),
    "id just beyond int64 (uint64)": ("r.tsv", "user_id\titem_id\n1\t18446744073709551615\n",
                                      r"line 2, column 'item_id' is '18446744073709551615', outside the int64 range"),
    "id 1.0": ("r.csv", "user_id,item_id\n1,2\n1.0,3\n", r"line 3, column 'user_id' is '1.0', not an integer id"),
    "id 1e3": ("r.csv", "user_id,item_id\n1,1e3\n", r"line 2, column 'item_id' is '1e3', not an integer id"),
    "id True": ("r.csv", "user_id,item_id\nTrue,2\n", r"line 2, column 'user_id' is 'True', not an integer id"),
    "id with a non-ASCII digit": ("r.csv", "user_id,item_id\n١,2\n", r"line 2, column 'user_id' is '١', not an"),
    "rating 1_0": ("r.csv", "user_id,item_id,rating\n1,2,1_0\n", r"line 2, column 'rating' is '1_0', not a number"),
    "timestamp as a date": ("r.csv", "user_id,item_id,timestamp\n1,2,2020-01-01\n",
                            r"line 2, column 'timestamp' is '2020-01-01', not a number"),
    "empty id": ("r.csv", "user_id,item_id\n1,2\n,3\n", r"line 3, column 'user_id' is empty"),
    "empty file": ("r.csv", "", r"r.csv: the file is empty; it needs a header line and at least one data line"),
    "header only": ("r.csv", "user_id,item_id\n", r"r.csv: needs a header line and at least one data line"),
    "duplicate header": ("r.csv", "user_id,item_id,item_id\n1,2,3\n", r"repeated column names \['item_id'\]"),
    "header with an unnamed column": ("r.csv", "user_id,,item_id\n1,2,3\n",
                                      r"line 1 \(the header\): column 2 has no name"),
    "blank line": ("r.csv", "user_id,item_id\n1,2\n\n3,4\n", r"line 3 has 0 fields, the header has 2 \(a blank"),
    "missing trailing text field": ("r.csv", "user_id,item_id,note\n1,2,a\n3,4\n",
                                    r"line 3 has 2 fields, the header has 3"),
    "extra field on the first data line": ("r.csv", "user_id,item_id\n1,2,3\n4,5\n",
                                           r"line 2 has 3 fields, the header has 2"),
    "extra field later": ("r.csv", "user_id,item_id\n1,2\n4,5,6\n", r"line 3 has 3 fields, the header has 2"),
    "unclosed quote in a note": ("r.csv", 'user_id,item_id,note\n1,2,"oops\n3,4,x\n5,6,y\n',
                                 r"line 2, column 'note': a quoted field opens here and is never closed"),
    "text after a closing quote": ("r.csv", 'user_id,item_id,note\n1,2,"ab"c\n',
                                   r"line 2, column 'note': .*text after a closing quote"),
    "not UTF-8": ("r.csv", b"user_id,item_id,note\n1,2,ok\n3,4,caf\xe9\n",
                  r"r.csv: line 3 is not UTF-8 \(byte 0xe9 at character 8\)"),
    "duplicate pair": ("r.csv", "user_id,item_id\n1,2\n3,4\n1,2\n",
                       r"duplicate \['user_id', 'item_id'\] \[1, 2\] on lines \[2, 4\] \(2 rows"),
}


@pytest.mark.parametrize("case", list(INTERACTION_FILES))
def test_bad_interaction_file_is_named(tmp_path, case):
    name, data, message = INTERACTION_FILES[case]
    with pytest.raises(UserFileError, match=message) as err:
        load_interactions(write(tmp_path, name, data))
    assert type(err.value) is UserFileError and name in str(err.value)


ITEM_FILES = {
    "unclosed quote swallowing the file": ("x.csv", 'item_id,title\n1,"Unclosed\n2,B\n3,C\n',
                                           r"x.csv: line 2, column 'title': a quoted field opens here and is never "
                                           r"closed, so the rest of the file would be read into it"),
    "error after a two-line title is named by its physical line": (
        "x.csv", 'item_id,title\n1,"two\nlines"\nx,B\n', r"x.csv: line 4, column 'item_id' is 'x', not an integer"),
    "duplicate id after a two-line title": ("x.csv", 'item_id,title\n1,"two\nlines"\n1,B\n',
                                            r"duplicate \['item_id'\] \[1\] on lines \[2, 4\]"),
    "whitespace title": ("x.tsv", "item_id\ttitle\n1\t \n", r"x.tsv: line 2, column 'title' is empty"),
    "huge unclosed quote": ("x.csv", 'item_id,title\n1,"open\n' + "2,word\n" * 30_000,
                            r"x.csv: line 2, column 'title': a quoted field opens here and is never closed"),
}


@pytest.mark.parametrize("case", list(ITEM_FILES))
def test_bad_item_file_is_named(tmp_path, case):
    name, data, message = ITEM_FILES[case]
    with pytest.raises(UserFileError, match=message) as err:
        load_items(write(tmp_path, name, data))
    assert type(err.value) is UserFileError


def test_a_directory_is_not_a_file(tmp_path):
    with pytest.raises(UserFileError, match=r"is a directory; give the CSV or TSV file inside it") as err:
        load_interactions(tmp_path)
    assert str(tmp_path) in str(err.value)


def test_a_path_that_is_not_a_name(tmp_path):
    with pytest.raises(UserFileError, match=r"path must be a file name \(str or Path\), got NoneType None"):
        load_items(None)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"col_user": "item_id"}, r"col_user and col_item both name column 'item_id'"),
        ({"col_rating": "user_id"}, r"col_user and col_rating both name column 'user_id'"),
        ({"col_item": ""}, r"col_item must be a column name \(a non-empty string\), got ''"),
        ({"col_user": 0}, r"col_user must be a column name \(a non-empty string\), got 0"),
    ],
)
def test_column_arguments_are_checked(tmp_path, kwargs, message):
    path = write(tmp_path, "r.csv", "user_id,item_id\n1,2\n")
    with pytest.raises(ValueError, match=message) as err:
        load_interactions(path, **kwargs)
    assert type(err.value) is ValueError  # an argument problem, not a file problem


def test_text_cols_as_one_string_is_one_column(tmp_path):
    path = write(tmp_path, "x.csv", "item_id,title\n1,Toy Story\n")
    assert load_items(path, text_cols="title")["title"].tolist() == ["Toy Story"]
    with pytest.raises(UserFileError, match=r"missing column\(s\) \['name'\]"):  # not ['n', 'a', 'm', 'e']
        load_items(path, text_cols="name")
    with pytest.raises(ValueError, match=r"text_cols must be a column name or a tuple of them, got 5"):
        load_items(path, text_cols=5)


def test_what_is_accepted(tmp_path):
    # a BOM, CRLF line ends, spaces around an id, a signed id, a two-line quoted title, "NA" as a title
    path = write(tmp_path, "x.csv", b'\xef\xbb\xbfitem_id,title\r\n 1 ,"two\r\nlines"\r\n-2,NA\r\n+3,C\r\n')
    items = load_items(path)
    assert items["item_id"].tolist() == [1, -2, 3] and str(items["item_id"].dtype) == "int64"
    assert items["title"].tolist() == ["two\r\nlines", "NA", "C"]
    ratings = load_interactions(write(tmp_path, "r.tsv", 'user_id\titem_id\trating\tnote\n1\t2\t4.5\t"x\n'))
    assert ratings.to_dict("list") == {"user_id": [1], "item_id": [2], "rating": [4.5], "note": ['"x']}


# the loaders' parsers (MovieLens atomic files, MIND TSVs), the splits and the review cleaner
LOADER_CASES = {
    "MovieLens rating inf": (lambda tmp: movielens.parse_ratings(ML_HEADER + "1\t2\tinf\t4\n", "x.inter"),
                             r"x.inter: column 'rating' data row 1 is 'inf', not an integer within int64"),
    "MovieLens id 1e30": (lambda tmp: movielens.parse_ratings(ML_HEADER + "1e30\t2\t3\t4\n", "x.inter"),
                          r"x.inter: column 'user_id' data row 1 is '1e30', not an integer within int64"),
    "MovieLens short row": (lambda tmp: movielens.parse_ratings(ML_HEADER + "1\t2\t3\t4\n1\t2\t3\n", "x.inter"),
                            r"x.inter: data row 2 has 3 fields, the header has 4"),
    "MovieLens blank row": (lambda tmp: movielens.parse_ratings(ML_HEADER + "1\t2\t3\t4\n\n", "x.inter"),
                            r"x.inter: data row 2 has 1 fields, the header has 4 \(a blank line\)"),
    "MovieLens empty file": (lambda tmp: movielens.read_atomic("", "x.inter"), r"x.inter: empty file"),
    "MovieLens repeated header": (lambda tmp: movielens.read_atomic("a:token\ta:token\n1\t2\n", "x.item"),
                                  r"x.item: repeated column names in the header \['a', 'a'\]"),
    "MIND news.tsv is a directory": (lambda tmp: mind.read_news((tmp / "d").mkdir() or tmp / "d"),
                                     r"d: is a directory, not a TSV file"),
    "MIND news.tsv not UTF-8": (lambda tmp: mind.read_news(write(tmp, "news.tsv", b"N1\tt\xe9\ta\n")),
                                r"news.tsv: not UTF-8"),
    "MIND empty news.tsv": (lambda tmp: mind.read_news(write(tmp, "news.tsv", "")), r"news.tsv: empty file"),
    "MIND impression id 1.5": (lambda tmp: mind.read_behaviors(write(tmp, "behaviors.tsv",
                                                                     "1.5\tU1\t11/15/2019 8:55:22 AM\t\tN1-1\n")),
                               r"behaviors.tsv: line 1, impression_id '1.5' is not an integer"),
    "split ratio list with NaN": (lambda tmp: splits.stratified_split(SPLIT_FRAME, ratio=[0.5, float("nan")]),
                                  r"every ratio must be a finite number > 0, got \[0.5, nan\]"),
    "split ratio list with inf": (lambda tmp: splits.stratified_split(SPLIT_FRAME, ratio=[1, float("inf")]),
                                  r"every ratio must be a finite number > 0, got \[1, inf\]"),
    "split with col_user == col_item": (lambda tmp: splits.stratified_split(SPLIT_FRAME, col_user="item_id"),
                                        r"col_user and col_item both name column 'item_id'"),
    "min_rating 2.5": (lambda tmp: splits.stratified_split(SPLIT_FRAME, min_rating=2.5),
                       r"min_rating must be an integer >= 1, got 2.5"),
    "leave_last_out n=1.5": (lambda tmp: splits.leave_last_out(SPLIT_FRAME, n=1.5), r"n must be an integer >= 1, "
                                                                                    r"got 1.5"),
    "leave_last_out NaN time": (lambda tmp: splits.leave_last_out(SPLIT_FRAME.assign(timestamp=[1, np.nan, 3, 4])),
                                r"column 'timestamp' is missing at row 1; every row needs a time"),
    "leave_last_out NaN time, labelled rows": (
        lambda tmp: splits.leave_last_out(SPLIT_FRAME.assign(timestamp=[1, np.nan, 3, 4]).set_axis([10, 20, 30, 40])),
        r"column 'timestamp' is missing at row 20; every row needs a time"),
    "cold items as a string": (lambda tmp: splits.cold_item_split(SPLIT_FRAME, items="12"),
                               r"items must be a collection of item ids, got the string '12'"),
    "cold items empty": (lambda tmp: splits.cold_item_split(SPLIT_FRAME, items=[]), r"items is empty"),
    "cold items unknown": (lambda tmp: splits.cold_item_split(SPLIT_FRAME, items=[99]),
                           r"items \[99\] are not in column 'item_id'"),
    "reviews as one string": (lambda tmp: reviews.clean_reviews("好", ["差"]),
                              r"positive must be a list of review texts, got str '好'"),
    "review that is not a text": (lambda tmp: reviews.clean_reviews(["好"], [None]),
                                  r"negative\[0\] is None, not a text"),
    "split shares not summing to 1": (lambda tmp: reviews.assign_splits(pd.DataFrame({"label": [0, 1]}),
                                                                        {"train": 0.8, "test": 0.1}),
                                      r"ratios must be a dict name -> share in \[0, 1\] summing to 1"),
}
SPLIT_FRAME = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [1, 2, 1, 2], "timestamp": [1, 2, 3, 4]})


@pytest.mark.parametrize("case", list(LOADER_CASES))
def test_bad_loader_input_is_named(tmp_path, case):
    call, message = LOADER_CASES[case]
    with pytest.raises(ValueError, match=message) as err:
        call(tmp_path)
    assert type(err.value) is ValueError

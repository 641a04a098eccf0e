"""A reader's own interaction and item files, checked strictly: every problem is reported, nothing is dropped.

    >>> ratings = load_interactions("my_ratings.csv")     # doctest: +SKIP
    >>> items = load_items("my_items.tsv", text_cols=("title", "description"))  # doctest: +SKIP

Files are CSV (comma) or, when the name ends in ``.tsv``, tab-separated, UTF-8, with a header line. Errors name
the file, the line (1 = the header; a quoted field spanning several lines counts as one) and the column.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd


class UserFileError(ValueError):
    """A user file that cannot be used as it is."""


def read_table(path: str | Path) -> pd.DataFrame:
    """Every cell as a string; each line must have exactly as many fields as the header (blank lines included)."""
    path = Path(path)
    if not path.exists():
        raise UserFileError(f"{path}: no such file")
    tsv = path.suffix.lower() == ".tsv"
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:  # -sig: tolerate an Excel BOM
            reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if tsv else csv.reader(f)
            rows = list(reader)
    except UnicodeDecodeError as err:
        raise UserFileError(f"{path}: not UTF-8 ({err})") from None
    except csv.Error as err:
        raise UserFileError(f"{path}: cannot parse as {'TSV' if tsv else 'CSV'}: {err}") from None
    if len(rows) < 2:
        raise UserFileError(f"{path}: needs a header line and at least one data line")
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header):
        raise UserFileError(f"{path}: repeated column names in the header {header}")
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise UserFileError(f"{path}: line {number} has {len(row)} fields, the header has {len(header)}")
    return pd.DataFrame(rows[1:], columns=header, dtype=object).astype(str)


def _line(row: int) -> int:
    return row + 2  # header is line 1, first data row line 2


def _require_columns(frame: pd.DataFrame, path, cols) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise UserFileError(f"{path}: missing column(s) {missing}; the header has {list(frame.columns)}")


def _no_empty(frame: pd.DataFrame, path, cols) -> None:
    for col in cols:
        empty = frame[col].str.strip() == ""
        if empty.any():
            row = int(empty.to_numpy().argmax())
            raise UserFileError(f"{path}: line {_line(row)}, column {col!r} is empty")


def _integers(frame: pd.DataFrame, path, col) -> pd.Series:
    ok = frame[col].str.strip().str.fullmatch(r"[+-]?\d+")
    if not ok.all():
        row = int((~ok).to_numpy().argmax())
        raise UserFileError(f"{path}: line {_line(row)}, column {col!r} is {frame[col].iloc[row]!r}, "
                            "not an integer id (map string ids to integers first)")
    return frame[col].astype("int64")


def _numbers(frame: pd.DataFrame, path, col) -> pd.Series:
    values = pd.to_numeric(frame[col].str.strip(), errors="coerce")
    if values.isna().any():
        row = int(values.isna().to_numpy().argmax())
        raise UserFileError(f"{path}: line {_line(row)}, column {col!r} is {frame[col].iloc[row]!r}, not a number")
    return values


def _no_duplicates(frame: pd.DataFrame, path, key: list[str]) -> None:
    dup = frame.duplicated(key, keep=False)
    if dup.any():
        rows = frame.index[dup]
        first = rows[0]
        same = rows[(frame.loc[rows, key] == frame.loc[first, key]).all(axis=1)]
        raise UserFileError(f"{path}: duplicate {key} {frame.loc[first, key].tolist()} on lines "
                            f"{[_line(int(r)) for r in same[:5]]} ({int(dup.sum())} rows in duplicate groups)")


def load_interactions(path: str | Path, col_user: str = "user_id", col_item: str = "item_id",
                      col_rating: str | None = "rating", col_timestamp: str | None = "timestamp") -> pd.DataFrame:
    """Interactions with integer ``col_user``, ``col_item`` and, when present, numeric ``col_rating`` and
    ``col_timestamp``; other columns are kept as strings.

    Rejected, naming file, line and column: missing user/item columns, empty cells in a checked column,
    non-integer ids, non-numeric ratings or timestamps, and duplicate (user, item[, timestamp]) rows.
    """
    frame = read_table(path)
    _require_columns(frame, path, [col_user, col_item])
    optional = [c for c in (col_rating, col_timestamp) if c is not None and c in frame.columns]
    _no_empty(frame, path, [col_user, col_item, *optional])
    frame[col_user] = _integers(frame, path, col_user)
    frame[col_item] = _integers(frame, path, col_item)
    for col in optional:
        frame[col] = _numbers(frame, path, col)
    key = [col_user, col_item] + ([col_timestamp] if col_timestamp in optional else [])
    _no_duplicates(frame, path, key)
    return frame


def load_items(path: str | Path, col_item: str = "item_id", text_cols: tuple[str, ...] = ("title",)) -> pd.DataFrame:
    """Items with a unique integer ``col_item`` and non-empty ``text_cols`` (any language); other columns kept.

    Rejected, naming file, line and column: missing columns, non-integer or repeated ids, empty texts.
    """
    frame = read_table(path)
    _require_columns(frame, path, [col_item, *text_cols])
    _no_empty(frame, path, [col_item, *text_cols])
    frame[col_item] = _integers(frame, path, col_item)
    _no_duplicates(frame, path, [col_item])
    return frame


__all__ = ["load_interactions", "load_items", "UserFileError", "read_table"]

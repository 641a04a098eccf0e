"""A reader's own interaction and item files, checked strictly: every problem is reported, nothing is dropped.

    >>> ratings = load_interactions("my_ratings.csv")     # doctest: +SKIP
    >>> items = load_items("my_items.tsv", text_cols=("title", "description"))  # doctest: +SKIP

Files are CSV (comma; a field may be wrapped in double quotes, and may then span lines) or, when the name ends
in ``.tsv``, tab-separated without quoting; UTF-8 (a leading BOM is allowed), with a header line. Every line
after the header is one record with exactly as many fields as the header: a blank line, a missing or an extra
field, a quote that is never closed, an id that is not a plain integer (``12``; not ``12.0``, ``1e3``, ``True``
or a number beyond int64), a rating or timestamp that is not a finite number, an empty id, rating, timestamp or
text, a repeated key: each is an error that names the file, the line (1 = the header; a record that spans lines
is named by its first line) and the column.

Speed: pandas' C parser reads the file once with strict types (int64 ids), and the rules are then checked on
whole columns at once; the id fields are checked on the raw bytes, block by block, so that ``1.0`` or ``True``
(which the C parser would turn into 1) are caught. Only when a check fails, or when a CSV file contains a quote
character, does a second pass with Python's csv module (strict mode) read the file record by record to find the
first offending line and column. ``benchmarks/user_files.py`` measures the cost against ``pandas.read_csv``.
"""

from __future__ import annotations

import csv
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

_ID = re.compile(r"[+-]?[0-9]+")
_INT64 = (-(2**63), 2**63 - 1)


class UserFileError(ValueError):
    """A user file that cannot be used as it is."""


def _source(path: str | Path) -> tuple[Path, bool]:
    """The checked path and whether it is TSV."""
    if isinstance(path, (bytes, bytearray)) or not isinstance(path, (str, Path)):
        raise UserFileError(f"path must be a file name (str or Path), got {type(path).__name__} {path!r:.60}")
    path = Path(path)
    if not path.exists():
        raise UserFileError(f"{path}: no such file")
    if path.is_dir():
        raise UserFileError(f"{path}: is a directory; give the CSV or TSV file inside it")
    if not path.is_file():
        raise UserFileError(f"{path}: not a regular file")
    return path, path.suffix.lower() == ".tsv"


def _reader(f, tsv: bool):
    if tsv:
        return csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE, strict=True)
    return csv.reader(f, strict=True)


def _not_utf8(path: Path) -> UserFileError:
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as err:
                return UserFileError(f"{path}: line {number} is not UTF-8 (byte {raw[err.start]:#04x} at character "
                                     f"{err.start + 1}); save the file as UTF-8")
    return UserFileError(f"{path}: not UTF-8; save the file as UTF-8")


def _records(path: Path, tsv: bool, header: list[str] | None = None) -> Iterator[tuple[int, list[str]]]:
    """``(first line, fields)`` of every record, header included, read strictly by Python's csv module."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = _reader(f, tsv)
        start = 1
        try:
            for row in reader:
                yield start, row
                start = reader.line_num + 1
        except UnicodeDecodeError:
            raise _not_utf8(path) from None
        except csv.Error as err:
            raise _quote_error(path, tsv, start, err, header) from None


def _quote_error(path: Path, tsv: bool, start: int, err: csv.Error, header: list[str] | None) -> UserFileError:
    with open(path, encoding="utf-8-sig", newline="") as f:
        line = next((text for number, text in enumerate(f, start=1) if number == start), "").rstrip("\r\n")
    fields = next(csv.reader([line], delimiter="\t" if tsv else ","), [""])
    column = f", column {header[len(fields) - 1]!r}" if header and 0 < len(fields) <= len(header) else ""
    if "unexpected end of data" in str(err) or "field larger than field limit" in str(err):
        return UserFileError(f"{path}: line {start}{column}: a quoted field opens here and is never closed, so the "
                             "rest of the file would be read into it; close the quote (or double a quote inside "
                             'a quoted field: "")')
    return UserFileError(f"{path}: line {start}{column}: {err} (text after a closing quote; quote the whole field "
                         'and double any quote inside it: "a ""b"" c")')


def _header(path: Path, tsv: bool) -> list[str]:
    first = next(_records(path, tsv), None)
    if first is None:
        raise UserFileError(f"{path}: the file is empty; it needs a header line and at least one data line")
    header = [h.strip() for h in first[1]]
    empty = [i + 1 for i, h in enumerate(header) if not h]
    if empty:
        raise UserFileError(f"{path}: line 1 (the header): column {empty[0]} has no name; the header is {header}")
    if len(set(header)) != len(header):
        repeated = sorted({h for h in header if header.count(h) > 1})
        raise UserFileError(f"{path}: repeated column names {repeated} in the header {header}")
    return header


def _cell_problem(kind: str, value: str) -> str | None:
    text = value.strip()
    if text == "":
        return "is empty"
    if kind == "id":
        if not _ID.fullmatch(text):
            return f"is {value!r}, not an integer id (map string ids to integers first)"
        if not _INT64[0] <= int(text) <= _INT64[1]:
            return f"is {value!r}, outside the int64 range of ids (map the ids to smaller integers first)"
    elif kind == "number":
        try:
            number = float(text) if "_" not in text else None
        except ValueError:
            number = None
        if number is None:
            return f"is {value!r}, not a number"
        if not np.isfinite(number):
            return f"is {value!r}, not a finite number"
    return None


def _first_problem(path: Path, tsv: bool, header: list[str], kinds: dict[str, str]) -> None:
    """Raise UserFileError naming the first bad line (and column) in file order; return if there is none."""
    checks = [(header.index(col), col, kind) for col, kind in kinds.items()]
    records = _records(path, tsv, header)
    next(records)
    n = 0
    for number, row in records:
        n += 1
        if len(row) != len(header):
            raise UserFileError(f"{path}: line {number} has {len(row)} fields, the header has {len(header)}"
                                + (" (a blank line)" if not row else ""))
        for j, col, kind in checks:
            problem = _cell_problem(kind, row[j])
            if problem:
                raise UserFileError(f"{path}: line {number}, column {col!r} {problem}")
    if n == 0:
        raise UserFileError(f"{path}: needs a header line and at least one data line")


def _plain_ids(path: Path, tsv: bool, n_fields: int, positions: list[int]) -> bool:
    """True when every line after the header has ``n_fields`` fields and the fields at ``positions`` hold nothing
    but digits. Run after pandas' C parser has accepted the file, and relies on it: the parser has rejected empty
    ids and any line with an extra field. False means "look closer": a signed id, spaces around an id, or a CSV
    file with a quote character (quoting moves field boundaries) always get False."""
    sep = b"\t" if tsv else b","
    data = path.read_bytes()
    if not tsv and b'"' in data:
        return False
    if not data.endswith(b"\n"):
        data += b"\n"
    # Delete the digits: what is left of a line (its skeleton) is its delimiters, its line end and the
    # non-digits of its other fields, so an id field is plain exactly when nothing of it is left.
    skeleton = data.translate(None, b"0123456789")
    del data
    skeleton = skeleton[skeleton.index(b"\n") + 1:]  # drop the header
    n_lines = skeleton.count(b"\n")
    if skeleton.count(sep) != (n_fields - 1) * n_lines:
        return False  # a line with a missing field (no line has an extra one), or a blank line
    first = skeleton[: skeleton.index(b"\n") + 1]
    if skeleton == first * n_lines:  # every line has the same skeleton (e.g. all-integer columns): check one
        fields = first.rstrip(b"\r\n").split(sep)
        return all(fields[p] == b"" for p in positions)
    c = np.frombuffer(skeleton, dtype=np.uint8)
    delims = np.flatnonzero(c == sep[0])
    start = np.concatenate(([0], np.flatnonzero(c == 10)[:-1] + 1))  # where field 0 of each line starts
    for j in range(max(positions, default=-1) + 1):
        if j in positions:  # nothing left of an id: its field ends where it starts
            end = c[start]
            if not ((end == sep[0]) if j < n_fields - 1 else ((end == 10) | (end == 13))).all():
                return False
            start = start + 1
        else:
            start = delims[np.searchsorted(delims, start)] + 1
    return True


def _read(path: Path, tsv: bool, header: list[str], kinds: dict[str, str]) -> pd.DataFrame:
    """The file as a frame (ids int64, numbers int64 or float64, everything else str), every rule of ``kinds``
    checked; UserFileError naming line and column otherwise."""
    dtype = {col: "int64" if kinds.get(col) == "id" else object for col in header if kinds.get(col) != "number"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(path, sep="\t" if tsv else ",", header=0, names=header, dtype=dtype, engine="c",
                                encoding="utf-8", quoting=csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL,
                                index_col=False, keep_default_na=False, na_filter=False, skip_blank_lines=False)
    except (ValueError, OverflowError, pd.errors.ParserWarning) as err:  # ParserError, UnicodeDecodeError included
        _first_problem(path, tsv, header, kinds)
        raise UserFileError(f"{path}: cannot be read as {'TSV' if tsv else 'CSV'}: {err}") from None
    if len(frame) == 0:
        raise UserFileError(f"{path}: needs a header line and at least one data line")
    bad = []
    for col, kind in kinds.items():
        values = frame[col]
        if kind == "number":
            finite = values.dtype.kind in "iu" or (values.dtype.kind == "f" and np.isfinite(values.to_numpy()).all())
            if not finite:
                bad.append(col)
        elif kind == "text" and values.str.strip().eq("").any():
            bad.append(col)
    ids = [header.index(col) for col, kind in kinds.items() if kind == "id"]
    # pandas before 3 reads an id column past int64 as uint64 instead of refusing the int64 asked for
    not_int64 = [col for col, kind in kinds.items() if kind == "id" and frame[col].dtype != np.int64]
    if bad or not_int64 or not _plain_ids(path, tsv, len(header), ids):
        _first_problem(path, tsv, header, kinds)  # raises on a real problem; returns on e.g. spaces around an id
        if bad:
            raise UserFileError(f"{path}: column(s) {bad} hold a value that is empty or not a finite number")
        if not_int64:
            raise UserFileError(f"{path}: id column(s) {not_int64} could not be read as int64 ids")
    return frame


def _line_numbers(path: Path, tsv: bool, rows) -> list[int]:
    """The first line of each data row (0 = the first record after the header)."""
    wanted = set(int(r) for r in rows)
    lines = {}
    for row, (number, _) in enumerate(_records(path, tsv), start=-1):
        if row in wanted:
            lines[row] = number
            if len(lines) == len(wanted):
                break
    return [lines[int(r)] for r in rows]


def _row_hashes(frame: pd.DataFrame, key: list[str]) -> np.ndarray:
    """One uint64 per row, equal for equal keys (unequal keys may collide: check candidates exactly)."""
    out = np.zeros(len(frame), dtype=np.uint64)
    for col in key:
        values = frame[col].to_numpy()
        if values.dtype.kind in "iu":
            h = values.astype(np.uint64, copy=False)
        elif values.dtype.kind == "f":
            h = (values + 0.0).view(np.uint64)  # + 0.0 makes -0.0 equal to 0.0
        else:
            h = pd.util.hash_array(values.astype(object))
        out = out * np.uint64(0x9E3779B97F4A7C15) + h
    return out


def _no_duplicates(frame: pd.DataFrame, path: Path, tsv: bool, key: list[str]) -> None:
    hashes = _row_hashes(frame, key)
    ordered = np.sort(hashes)
    if not (ordered[1:] == ordered[:-1]).any():
        return
    candidates = np.flatnonzero(pd.Series(hashes).duplicated(keep=False).to_numpy())
    if len(candidates) == 0:
        return
    sub = frame.iloc[candidates][key]
    dup = sub.duplicated(keep=False).to_numpy()  # hash collisions are not duplicates
    if not dup.any():
        return
    rows = candidates[dup]
    first = frame.iloc[rows[0]][key]
    same = rows[(frame.iloc[rows][key] == first).all(axis=1).to_numpy()][:5]
    values = [frame[c].iloc[[rows[0]]].tolist()[0] for c in key]
    raise UserFileError(f"{path}: duplicate {key} {values} on lines {_line_numbers(path, tsv, same)} "
                        f"({len(rows)} rows in duplicate groups)")


def _require_columns(path: Path, header: list[str], cols: list[str]) -> None:
    missing = [c for c in cols if c not in header]
    if missing:
        raise UserFileError(f"{path}: missing column(s) {missing}; the header has {header}")


def _column_names(**named) -> None:
    for name, col in named.items():
        if col is not None and (not isinstance(col, str) or not col.strip()):
            raise ValueError(f"{name} must be a column name (a non-empty string), got {col!r}")
    given = {name: col for name, col in named.items() if col is not None}
    for name, col in given.items():
        same = [other for other, c in given.items() if c == col and other != name]
        if same:
            raise ValueError(f"{name} and {same[0]} both name column {col!r}; each must name a different column")


def load_interactions(path: str | Path, col_user: str = "user_id", col_item: str = "item_id",
                      col_rating: str | None = "rating", col_timestamp: str | None = "timestamp") -> pd.DataFrame:
    """Interactions with int64 ``col_user`` and ``col_item`` and, when present in the header, numeric
    ``col_rating`` and ``col_timestamp`` (int64, or float64 if a value has a fraction); other columns are str.

    Rejected, naming file, line and column: missing user/item columns, any malformed line (see the module
    docstring), empty or non-integer ids, ratings or timestamps that are empty or not finite numbers, and
    duplicate (user, item[, timestamp]) rows. ``col_rating=None`` or ``col_timestamp=None`` reads that column as
    text (or not at all).
    """
    _column_names(col_user=col_user, col_item=col_item, col_rating=col_rating, col_timestamp=col_timestamp)
    path, tsv = _source(path)
    header = _header(path, tsv)
    _require_columns(path, header, [col_user, col_item])
    optional = [c for c in (col_rating, col_timestamp) if c is not None and c in header]
    kinds = {col_user: "id", col_item: "id", **{c: "number" for c in optional}}
    frame = _read(path, tsv, header, kinds)
    _no_duplicates(frame, path, tsv, [col_user, col_item] + ([col_timestamp] if col_timestamp in optional else []))
    return frame


def load_items(path: str | Path, col_item: str = "item_id", text_cols: str | tuple[str, ...] = ("title",)
               ) -> pd.DataFrame:
    """Items with a unique int64 ``col_item`` and non-empty ``text_cols`` (any language); other columns are str.

    ``text_cols`` is one column name or a tuple of them. Rejected, naming file, line and column: missing
    columns, any malformed line (see the module docstring), empty, non-integer or repeated ids, empty texts.
    """
    if isinstance(text_cols, str):
        text_cols = (text_cols,)
    if not isinstance(text_cols, (tuple, list)):
        raise ValueError(f"text_cols must be a column name or a tuple of them, got {text_cols!r}")
    _column_names(col_item=col_item, **{f"text_cols[{i}]": c for i, c in enumerate(text_cols)})
    path, tsv = _source(path)
    header = _header(path, tsv)
    _require_columns(path, header, [col_item, *text_cols])
    frame = _read(path, tsv, header, {col_item: "id", **{c: "text" for c in text_cols}})
    _no_duplicates(frame, path, tsv, [col_item])
    return frame


__all__ = ["load_interactions", "load_items", "UserFileError"]

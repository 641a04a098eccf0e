"""MovieLens-100k: ratings, users, items, Freebase KG triples and item links, read from RecBole's atomic files.

Source: ``recbole==1.2.1`` (see ``sources.SOURCES["movielens"]``). RecBole's atomic files are tab-separated
with a typed header, e.g. ``user_id:token\\titem_id:token\\trating:float\\ttimestamp:float``.

    >>> ml = movielens_100k()                       # doctest: +SKIP
    >>> ml.ratings.shape, ml.users.shape, ml.items.shape
    ((100000, 4), (943, 5), (1682, 4))

Frames:

- ``ratings``: ``user_id, item_id, rating, timestamp`` (all int64; ratings 1..5; unix seconds).
- ``users``: ``user_id, age, gender, occupation, zip_code`` (zip codes are strings: some are Canadian).
- ``items``: ``item_id, title, year, genres``; ``year`` is a nullable ``Int64`` (two items have no usable
  year in the source: 267 "unkonwn" and 1412 "V"); ``genres`` is a Python ``list[str]`` per row, e.g.
  ``["Animation", "Children's", "Comedy"]`` (MovieLens genre names contain no spaces).
- ``kg``: ``head, relation, tail`` (Freebase ids such as ``m.04ctbw8`` and relations such as ``film.film.actor``).
- ``links``: ``item_id, entity_id`` (item to its Freebase entity; not every item has one).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from xlrec_lib.data.sources import Source

_PREFIX = "recbole/dataset_example/ml-100k/ml-100k"

# RecBole column name -> our column name
_RENAMES = {
    "movie_title": "title",
    "release_year": "year",
    "class": "genres",
    "head_id": "head",
    "relation_id": "relation",
    "tail_id": "tail",
}

_EXPECTED = {
    "inter": ["user_id", "item_id", "rating", "timestamp"],
    "user": ["user_id", "age", "gender", "occupation", "zip_code"],
    "item": ["item_id", "title", "year", "genres"],
    "kg": ["head", "relation", "tail"],
    "link": ["item_id", "entity_id"],
}


@dataclass(frozen=True)
class MovieLens:
    """The five MovieLens-100k tables (see the module docstring for columns and types)."""

    ratings: pd.DataFrame
    users: pd.DataFrame
    items: pd.DataFrame
    kg: pd.DataFrame
    links: pd.DataFrame

    def counts(self) -> dict[str, int]:
        """Row counts of every table, plus distinct users and items among the ratings."""
        return {
            "ratings": len(self.ratings),
            "users": self.ratings["user_id"].nunique(),
            "items": self.ratings["item_id"].nunique(),
            "user rows": len(self.users),
            "item rows": len(self.items),
            "kg triples": len(self.kg),
            "kg relations": self.kg["relation"].nunique(),
            "linked items": len(self.links),
        }


def read_atomic(text: str, name: str) -> pd.DataFrame:
    """Parse one RecBole atomic file (tab-separated, typed header ``field:type``) into strings.

    Columns are renamed to ours (``movie_title`` -> ``title``, ...); every value stays a string so that the
    caller converts and validates it. ``name`` names the file in error messages.
    """
    if not isinstance(text, str):
        raise ValueError(f"{name}: expected the file's text (str), got {type(text).__name__}")
    text = text.removeprefix("\ufeff")
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise ValueError(f"{name}: empty file (or an empty header line)")
    header = [field.split(":", 1)[0] for field in lines[0].split("\t")]
    header = [_RENAMES.get(h, h) for h in header]
    if len(set(header)) != len(header):
        raise ValueError(f"{name}: repeated column names in the header {header}")
    widths = pd.Series([line.count("\t") + 1 for line in lines[1:]], dtype="int64")
    wrong = widths != len(header)
    if wrong.any():
        row = int(wrong.to_numpy().argmax())
        raise ValueError(f"{name}: data row {row + 1} has {widths.iloc[row]} fields, the header has {len(header)}"
                         + (" (a blank line)" if not lines[row + 1] else ""))
    frame = pd.read_csv(io.StringIO(text), sep="\t", header=None, skiprows=1, names=header, dtype=str,
                        quoting=csv.QUOTE_NONE, keep_default_na=False, skip_blank_lines=False, index_col=False)
    for col in header:
        empty = frame.index[frame[col] == ""]
        if len(empty):
            raise ValueError(f"{name}: column {col!r} is empty on data row {empty[0] + 1} (1 = first after header)")
    return frame


def _check_columns(frame: pd.DataFrame, kind: str, name: str) -> None:
    if list(frame.columns) != _EXPECTED[kind]:
        raise ValueError(f"{name}: expected columns {_EXPECTED[kind]}, found {list(frame.columns)}")


def _to_int(frame: pd.DataFrame, col: str, name: str) -> pd.Series:
    """Integer column; RecBole writes some as floats (``3.0``), so an integral float is accepted, within int64."""
    values = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    bad = ~np.isfinite(values) | (values != values.round()) | (values.abs() >= 2.0**63)
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise ValueError(f"{name}: column {col!r} data row {row + 1} is {frame[col].iloc[row]!r}, not an integer "
                         "within int64")
    return values.astype("int64")


def parse_ratings(text: str, name: str = "ml-100k.inter") -> pd.DataFrame:
    """``user_id, item_id, rating, timestamp`` as int64, ratings checked to lie in 1..5."""
    frame = read_atomic(text, name)
    _check_columns(frame, "inter", name)
    out = pd.DataFrame({col: _to_int(frame, col, name) for col in _EXPECTED["inter"]})
    bad = ~out["rating"].between(1, 5)
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise ValueError(f"{name}: column 'rating' data row {row + 1} is {out['rating'].iloc[row]}, outside 1..5")
    return out


def parse_users(text: str, name: str = "ml-100k.user") -> pd.DataFrame:
    frame = read_atomic(text, name)
    _check_columns(frame, "user", name)
    frame["user_id"] = _to_int(frame, "user_id", name)
    frame["age"] = _to_int(frame, "age", name)
    return frame


def parse_items(text: str, name: str = "ml-100k.item") -> pd.DataFrame:
    """Items with ``year`` as nullable Int64 (NA where the source has no four-digit year) and ``genres`` a list."""
    frame = read_atomic(text, name)
    _check_columns(frame, "item", name)
    frame["item_id"] = _to_int(frame, "item_id", name)
    year = frame["year"].where(frame["year"].str.fullmatch(r"\d{4}"))
    frame["year"] = pd.to_numeric(year).astype("Int64")
    frame["genres"] = frame["genres"].str.split()
    return frame


def parse_kg(text: str, name: str = "ml-100k.kg") -> pd.DataFrame:
    frame = read_atomic(text, name)
    _check_columns(frame, "kg", name)
    return frame


def parse_links(text: str, name: str = "ml-100k.link") -> pd.DataFrame:
    frame = read_atomic(text, name)
    _check_columns(frame, "link", name)
    frame["item_id"] = _to_int(frame, "item_id", name)
    return frame


def load_movielens(source: Source) -> MovieLens:
    """Read the five files of ``source`` straight from its archive (no extraction needed)."""
    from xlrec_lib.data.sources import fetch_source, read_member

    archive = fetch_source(source)
    texts = {ext: read_member(archive, f"{_PREFIX}.{ext}").decode("utf-8") for ext in _EXPECTED}
    return MovieLens(
        ratings=parse_ratings(texts["inter"]),
        users=parse_users(texts["user"]),
        items=parse_items(texts["item"]),
        kg=parse_kg(texts["kg"]),
        links=parse_links(texts["link"]),
    )


@lru_cache(maxsize=1)
def _cached() -> MovieLens:
    from xlrec_lib.data.sources import get_source

    return load_movielens(get_source("movielens"))


def movielens_100k() -> MovieLens:
    """MovieLens-100k (100,000 ratings by 943 users of 1,682 items) with its KG, parsed once per process.

    Every call returns fresh copies of the frames, so a caller may modify them freely.
    """
    ml = _cached()
    items = ml.items.copy()
    items["genres"] = items["genres"].map(list)
    return MovieLens(ratings=ml.ratings.copy(), users=ml.users.copy(), items=items, kg=ml.kg.copy(),
                     links=ml.links.copy())


__all__ = ["MovieLens", "movielens_100k", "load_movielens", "read_atomic", "parse_ratings", "parse_items",
           "parse_users", "parse_kg", "parse_links"]

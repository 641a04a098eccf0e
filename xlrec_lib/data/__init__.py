"""The course's data: pinned public sources read into pandas frames, splits, and a user's own files.

    >>> from xlrec_lib.data import movielens_100k, stratified_split
    >>> ml = movielens_100k()                                   # doctest: +SKIP
    >>> train, test = stratified_split(ml.ratings, ratio=0.75, seed=42)  # doctest: +SKIP

Every loader fetches its pinned archive into the cache on first use (see ``sources.py``) and works
offline afterwards. This package knows no model: pandas and numpy only.
"""

from xlrec_lib.data.movielens import MovieLens, movielens_100k
from xlrec_lib.data.splits import cold_item_split, leave_last_out, stratified_split

__all__ = [
    "MovieLens",
    "movielens_100k",
    "stratified_split",
    "leave_last_out",
    "cold_item_split",
]

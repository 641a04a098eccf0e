"""The course's data: pinned public sources read into pandas frames, splits, and a reader's own files.

    >>> from xlrec_lib.data import movielens_100k, stratified_split
    >>> ml = movielens_100k()                                   # doctest: +SKIP
    >>> train, test = stratified_split(ml.ratings, ratio=0.75, seed=42)  # doctest: +SKIP

Every loader fetches its pinned archive into the cache on first use (see ``sources.py``) and works
offline afterwards. This package knows no model: pandas, numpy (and h5py/sqlite3 for two sources) only.
The loaders import ``sources`` inside the functions that fetch, so that importing this package does not
import ``sources`` and ``python -m xlrec_lib.data.sources`` runs without runpy's double-import warning.
"""

from xlrec_lib.data.bible import parallel_verses, translations_table, verse_cross_references
from xlrec_lib.data.cedict import bilingual_lexicon, cedict
from xlrec_lib.data.mind import Mind, mind_news
from xlrec_lib.data.movielens import MovieLens, movielens_100k
from xlrec_lib.data.reviews import chinese_reviews
from xlrec_lib.data.splits import cold_item_split, leave_last_out, stratified_split
from xlrec_lib.data.user_files import UserFileError, load_interactions, load_items

__all__ = [
    "MovieLens",
    "movielens_100k",
    "parallel_verses",
    "verse_cross_references",
    "translations_table",
    "cedict",
    "bilingual_lexicon",
    "chinese_reviews",
    "Mind",
    "mind_news",
    "stratified_split",
    "leave_last_out",
    "cold_item_split",
    "load_interactions",
    "load_items",
    "UserFileError",
]

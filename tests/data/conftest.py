"""Helpers for the data tests: a tiny fake pinned archive built from our own fixtures, in a temporary cache."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from xlrec_lib.data.sources import Source

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    """An empty course cache (``XLREC_CACHE``) for the test; the real cache is never touched."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("XLREC_CACHE", str(cache))
    return cache


@pytest.fixture
def make_source(tmp_cache):
    """``make_source(name, {member: bytes}, filename=...)`` writes an archive into the temporary cache and
    returns a ``Source`` pinned to its sha256, so loaders read it offline exactly like a fetched one."""

    def make(name: str, members: dict[str, bytes], filename: str | None = None) -> Source:
        filename = filename or f"{name}-0.0.0-py3-none-any.whl"
        path = tmp_cache / "archives" / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        if filename.endswith(".tar.gz"):
            with tarfile.open(path, "w:gz") as tf:
                for member, data in members.items():
                    info = tarfile.TarInfo(member)
                    info.size = len(data)
                    tf.addfile(info, io.BytesIO(data))
        else:
            with zipfile.ZipFile(path, "w") as zf:
                for member, data in members.items():
                    zf.writestr(member, data)
        return Source(name=name, package=name, version="0.0.0", filename=filename,
                      sha256=hashlib.sha256(path.read_bytes()).hexdigest(), files=tuple(members),
                      license="test fixture", homepage="https://example.invalid", description=f"fixture {name}")

    return make


@pytest.fixture
def fixtures_dir() -> Path:
    """``tests/fixtures``: tiny files we wrote ourselves in each source's format."""
    return FIXTURES

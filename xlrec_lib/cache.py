"""The one cache helper: every cached or derived artefact is a folder made once, atomically, and checked on load.

    >>> folder = cache_dir("word_vectors") / f"ppmi-en-{fingerprint(cfg, VERSION)}"       # doctest: +SKIP
    >>> vectors = load_or_build(folder, build=lambda tmp: save(tmp), load=read)          # doctest: +SKIP

Key: ``fingerprint(config, version)`` hashes the configuration (a dataclass, dict, list, str or number) with an
explicit ``version``. The version lives beside the code that determines the artefact's content (a ``VERSION``
constant in that module): a change that changes results bumps it in the same commit; an edit that does not (a
comment, a refactor) leaves every cache valid.

Atomic save: ``build(tmp)`` writes into a temporary folder beside the target; then a manifest of every file's
size and sha256 (``MANIFEST``) is written and the folder is renamed into place, so an interrupted build never
leaves a folder that looks finished.

Checked load: a folder whose files do not match its manifest (a truncated file, a flipped byte, a missing file,
no manifest at all) is named in a ``CacheWarning``, removed and built again; damaged content is never returned.
Hashing costs about 2 s per GB (bible.db, 218 MB: ~0.5 s), so each folder is hashed once per process: later
loads compare each file's size and timestamps with those seen at that check and hash again only when they differ.
Ground floor: imports nothing of ours but ``config``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from xlrec_lib.config import cache_dir

MANIFEST = "xlrec_manifest.json"
T = TypeVar("T")
_verified: dict[Path, tuple] = {}  # folder -> stat signature of its files when last hashed and found intact


class CacheWarning(UserWarning):
    """A cached artefact was damaged or incomplete and is being rebuilt."""


def _plain(value, where: str):
    """A JSON-ready, canonical copy of ``value`` (dataclasses and tuples become dicts and lists)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"fingerprint: {where} has type {type(value).__name__}; use numbers, strings, lists, dicts "
                    "or dataclasses of them")


def fingerprint(config, version) -> str:
    """16 hex digits naming ``config`` at ``version``: equal configurations (field order aside) give equal keys."""
    blob = json.dumps({"config": _plain(config, "config"), "version": _plain(version, "version")}, sort_keys=True,
                      ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def tensors_digest(named) -> str:
    """sha256 (hex) of ``(name, tensor)`` pairs in the order given: each name, dtype, shape and bytes (CPU copies).
    Equal values in another layout (a strided view, another device) give the same digest; another dtype does not."""
    import torch

    h = hashlib.sha256()
    for name, t in named:
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def weights_digest(model) -> str:
    """:func:`tensors_digest` of every tensor of ``model.state_dict()``, sorted by name; ~1 s per 500 MB."""
    return tensors_digest(sorted(model.state_dict().items()))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)


def write_manifest(folder: Path) -> dict:
    """Record the size and sha256 of every file under ``folder`` in ``folder / MANIFEST``; returns the record."""
    files = {name: {"size": (folder / name).stat().st_size, "sha256": sha256_file(folder / name)}
             for name in _files(folder)}
    (folder / MANIFEST).write_text(json.dumps({"files": files}, indent=1, ensure_ascii=False), encoding="utf-8")
    return files


def _signature(folder: Path, names) -> tuple:
    stats = [(folder / n).stat() for n in names]
    return tuple((n, s.st_size, s.st_mtime_ns, s.st_ctime_ns, s.st_ino) for n, s in zip(names, stats, strict=True))


def check(folder: str | Path) -> str | None:
    """``None`` when every file under ``folder`` matches its manifest, else what is wrong, naming the file."""
    folder = Path(folder)
    try:
        files = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["files"]
    except FileNotFoundError:
        return f"{folder} has no {MANIFEST} (an interrupted build, or made before manifests)"
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"{folder / MANIFEST} is unreadable ({err})"
    if not isinstance(files, dict):
        return f"{folder / MANIFEST} is unreadable (its files entry is {type(files).__name__}, not a mapping)"
    for name, expected in files.items():
        if not (isinstance(expected, dict) and isinstance(expected.get("size"), int)
                and isinstance(expected.get("sha256"), str)):
            return f"{folder / MANIFEST} is unreadable (entry {name!r} is {expected!r}, not a size and a sha256)"
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            return f"{path} is missing"
        size = path.stat().st_size
        if size != expected["size"]:
            return f"{path} has {size} bytes, {expected['size']} when it was made (truncated or overwritten)"
    signature = _signature(folder, list(files))
    if _verified.get(folder) == signature:
        return None
    for name, expected in files.items():
        if sha256_file(folder / name) != expected["sha256"]:
            return f"{folder / name} does not match the sha256 recorded when it was made (the file is damaged)"
    _verified[folder] = signature
    return None


def _remove(path: Path) -> None:
    _verified.pop(path, None)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _umask() -> int:
    """The process's umask (reading it means setting it: set back at once)."""
    umask = os.umask(0)
    os.umask(umask)
    return umask


def build_atomic(folder: str | Path, build: Callable[[Path], object]) -> Path:
    """Run ``build(tmp)`` on an empty temporary folder beside ``folder``, write the manifest, rename it into place.

    If another process finished the same folder first, its copy is kept and ours discarded.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial", dir=folder.parent))
    tmp.chmod(0o777 & ~_umask())  # mkdtemp's 0700 would make a shared cache folder private
    try:
        build(tmp)
        write_manifest(tmp)
        try:
            os.rename(tmp, folder)
        except OSError:
            if not folder.is_dir():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def lock_path(target: Path) -> Path:
    """The lock file beside ``target`` that one builder holds while it builds it (``build_lock``)."""
    return target.parent / f".{target.name}.lock"


@contextlib.contextmanager
def build_lock(target: Path):
    """Hold the build lock of ``target`` (a folder or file) for the block: one process at a time builds it; another
    waits here and should then look again before building. The lock file is removed on release, so a process
    still waiting on it gets the lock of a removed file: it then finds ``target`` made (or, after a failed build,
    makes it, maybe beside a newcomer; the atomic rename keeps one). Where the file system has no locks (filelock
    3 without flock) the block runs unlocked, with a warning."""
    from filelock import FileLock, Timeout

    lock = FileLock(lock_path(target), mode=0o666 & ~_umask())  # writable for whoever shares the cache folder
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            print(f"xlrec: waiting for another process that is building {target}", file=sys.stderr, flush=True)
            lock.acquire()
    except NotImplementedError as err:
        warnings.warn(f"no build lock for {target} ({err}); building it without one", stacklevel=3)
        yield
        return
    try:
        yield
    finally:
        lock.release()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock.lock_file)


def load_or_build(folder: str | Path, build: Callable[[Path], object], load: Callable[[Path], T]) -> T:
    """``load(folder)`` of an intact cached folder; otherwise build it first (``build_atomic``) and then load it.

    A damaged or incomplete folder is named in a ``CacheWarning``, removed and rebuilt. One process at a time
    builds a folder: another that asks for it meanwhile (two chapters executed at once) waits on the lock
    (``build_lock``, a file lock the system releases if its holder dies) and then loads what the first one built.
    """
    folder = Path(folder)
    if folder.exists() and check(folder) is None:
        return load(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with build_lock(folder):
        if folder.exists():
            problem = check(folder)
            if problem is None:
                return load(folder)
            warnings.warn(f"{problem}; removing {folder} and building it again", CacheWarning, stacklevel=2)
            _remove(folder)
        built = build_atomic(folder, build)
    return load(built)


def artefact_dir(kind: str, name: str) -> Path:
    """Where the artefact ``name`` of ``kind`` (``models``, ``embeddings``, ...) lives; the folder is not created."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"artefact name {name!r}: give a plain folder name such as 'ppmi-en-<fingerprint>'")
    return cache_dir(kind) / name


__all__ = ["MANIFEST", "CacheWarning", "fingerprint", "tensors_digest", "weights_digest", "sha256_file",
           "write_manifest", "check", "build_atomic", "lock_path", "build_lock", "load_or_build", "artefact_dir"]

"""The cache helper: keys, atomic builds, and damaged folders rebuilt instead of read back."""

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from xlrec_lib import cache


@dataclass(frozen=True)
class Cfg:
    dim: int = 4
    langs: tuple[str, ...] = ("en", "zh")


def test_fingerprint_follows_config_and_version_only():
    assert cache.fingerprint(Cfg(), 1) == cache.fingerprint({"langs": ["en", "zh"], "dim": 4}, 1)
    assert len({cache.fingerprint(Cfg(), 1), cache.fingerprint(Cfg(dim=5), 1), cache.fingerprint(Cfg(), 2)}) == 3
    with pytest.raises(TypeError, match=r"config\.f has type builtin_function"):
        cache.fingerprint({"f": print}, 1)
    with pytest.raises(ValueError):
        cache.fingerprint({"x": float("nan")}, 1)


def _builder(calls, text="hello"):
    def build(tmp):
        calls.append(tmp)
        (tmp / "sub").mkdir()
        (tmp / "sub" / "data.txt").write_text(text)
        (tmp / "other.bin").write_bytes(bytes(range(256)))
    return build


def _load(folder):
    return (folder / "sub" / "data.txt").read_text()


def test_builds_once_atomically_then_loads(tmp_path):
    calls = []
    folder = tmp_path / "kind" / "thing"
    assert cache.load_or_build(folder, _builder(calls), _load) == "hello"
    assert cache.load_or_build(folder, _builder(calls, "other"), _load) == "hello"
    assert len(calls) == 1 and calls[0].parent == folder.parent and calls[0] != folder
    assert sorted(p.name for p in folder.parent.iterdir()) == ["thing"]  # no temporary folder or lock file left
    umask = os.umask(0)
    os.umask(umask)
    assert folder.stat().st_mode & 0o777 == 0o777 & ~umask  # like any folder made with mkdir, not private
    assert set(cache.write_manifest(folder)) == {"sub/data.txt", "other.bin"}


def test_interrupted_build_leaves_nothing_that_is_read_back(tmp_path):
    folder = tmp_path / "thing"

    def crash(tmp):
        (tmp / "half.txt").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.load_or_build(folder, crash, _load)
    assert list(tmp_path.iterdir()) == []
    calls = []
    assert cache.load_or_build(folder, _builder(calls), _load) == "hello" and len(calls) == 1


_BUILDER = """
import sys, time
from pathlib import Path
from xlrec_lib import cache
folder, log = Path(sys.argv[1]), Path(sys.argv[2])
def build(tmp):
    with open(log, "a") as f:
        f.write("built\\n")
    deadline = time.time() + 60
    while not log.with_name("release").exists():  # the test lets the build finish once the other one waits
        assert time.time() < deadline
        time.sleep(0.05)
    (tmp / "data.txt").write_text(sys.argv[3])
print(cache.load_or_build(folder, build, lambda f: (f / "data.txt").read_text()))
"""


def test_a_second_process_waits_for_the_first_build_and_loads_it(tmp_path):
    """Two chapters executed at once ask for the same model: one builds it, the other waits and loads that one."""
    folder, log = tmp_path / "models" / "thing", tmp_path / "builds.log"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}

    def start(text):
        with open(tmp_path / f"{text}.err", "w") as err:  # the child keeps its own copy of the file
            return subprocess.Popen([sys.executable, "-c", _BUILDER, str(folder), str(log), text], env=env,
                                    stdout=subprocess.PIPE, stderr=err, text=True)

    def wait_until(condition, proc):
        deadline = time.monotonic() + 60
        while not condition():
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "first.err").read_text()
            time.sleep(0.05)

    first = start("first")
    wait_until(log.exists, first)  # the first process holds the lock and is building
    second = start("second")
    wait_until(lambda: "waiting for another process" in (tmp_path / "second.err").read_text(), second)
    (tmp_path / "release").touch()
    out1, out2 = first.communicate(timeout=60)[0], second.communicate(timeout=60)[0]
    assert first.returncode == 0 and second.returncode == 0, (tmp_path / "second.err").read_text()
    assert out1.strip() == out2.strip() == "first"
    assert log.read_text() == "built\n"  # built once
    assert f"waiting for another process that is building {folder}" in (tmp_path / "second.err").read_text()
    assert sorted(p.name for p in folder.parent.iterdir()) == ["thing"]  # the lock file removed


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete", "no manifest"])
def test_damaged_folder_is_named_and_rebuilt(tmp_path, damage):
    folder = tmp_path / "thing"
    calls = []
    cache.load_or_build(folder, _builder(calls), _load)
    path = folder / "sub" / "data.txt"
    if damage == "flip":
        path.write_bytes(b"jello")  # same size, one byte differs
    elif damage == "truncate":
        path.write_bytes(b"hel")
    elif damage == "delete":
        path.unlink()
    else:
        (folder / cache.MANIFEST).unlink()
    problem = cache.check(folder)
    assert problem is not None and (str(path) in problem or cache.MANIFEST in problem)
    with pytest.warns(cache.CacheWarning, match="building it again"):
        assert cache.load_or_build(folder, _builder(calls), _load) == "hello"
    assert len(calls) == 2 and cache.check(folder) is None


def test_digest_checked_once_per_process_then_on_change(tmp_path, monkeypatch):
    folder = tmp_path / "thing"
    cache.load_or_build(folder, _builder([]), _load)
    hashed = []
    real = cache.sha256_file
    monkeypatch.setattr(cache, "sha256_file", lambda p: hashed.append(p.name) or real(p))
    assert cache.check(folder) is None and cache.check(folder) is None
    assert sorted(hashed) == ["data.txt", "other.bin"]  # the second check compared sizes and timestamps only
    (folder / "other.bin").write_bytes(bytes(255) + b"x")
    assert "other.bin does not match the sha256" in cache.check(folder)


def test_artefact_dir_refuses_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("XLREC_CACHE", str(tmp_path))
    assert cache.artefact_dir("models", "m-1") == tmp_path / "models" / "m-1"
    for bad in ("", "a/b", ".hidden"):
        with pytest.raises(ValueError, match="plain folder name"):
            cache.artefact_dir("models", bad)


def test_tensors_digest_reads_values_names_and_dtypes_not_layout():
    import torch

    x = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    base = cache.tensors_digest([("x", x)])
    assert cache.tensors_digest([("x", x.T.contiguous().T)]) == base  # a strided view of equal values
    assert cache.tensors_digest([("y", x)]) != base
    assert cache.tensors_digest([("x", x.double())]) != base
    assert cache.tensors_digest([("x", x.reshape(4, 3))]) != base
    changed = x.clone()
    changed[2, 3] += 1
    assert cache.tensors_digest([("x", changed)]) != base
    assert cache.tensors_digest([("x", x), ("e", torch.empty(0, 4))]) != base  # an empty tensor still counts


def test_weights_digest_is_the_tensors_digest_of_the_sorted_state_dict():
    import torch

    torch.manual_seed(0)
    a = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2))
    b = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2))
    b.load_state_dict(a.state_dict())
    assert cache.weights_digest(a) == cache.weights_digest(b)
    assert cache.weights_digest(a) == cache.tensors_digest(sorted(a.state_dict().items()))
    with torch.no_grad():
        b[1].bias[0] += 1e-3  # one value of the LayerNorm bias
    assert cache.weights_digest(a) != cache.weights_digest(b)


def test_a_manifest_of_the_wrong_shape_is_named_not_a_crash(tmp_path):
    folder = tmp_path / "thing"
    cache.load_or_build(folder, _builder([]), _load)
    (folder / cache.MANIFEST).write_text('{"files": null}', encoding="utf-8")
    assert "not a mapping" in cache.check(folder)
    for entry in ("1", "{}", '{"size": "3", "sha256": "x"}'):
        (folder / cache.MANIFEST).write_text(f'{{"files": {{"a.txt": {entry}}}}}', encoding="utf-8")
        assert "entry 'a.txt'" in cache.check(folder)

import random

import numpy as np
import pytest
import torch

from xlrec_lib import config


@pytest.mark.parametrize("raw, expected", [("1", True), ("true", True), ("YES", True), ("0", False), ("", False)])
def test_is_quick_reads_environment(monkeypatch, raw, expected):
    monkeypatch.setenv("XLREC_QUICK", raw)
    assert config.is_quick() is expected


def test_is_quick_override_wins(monkeypatch):
    monkeypatch.setenv("XLREC_QUICK", "1")
    assert config.is_quick(False) is False
    monkeypatch.setenv("XLREC_QUICK", "0")
    assert config.is_quick(True) is True


def test_is_quick_rejects_garbage(monkeypatch):
    monkeypatch.setenv("XLREC_QUICK", "maybe")
    with pytest.raises(ValueError, match="XLREC_QUICK='maybe'"):
        config.is_quick()


def test_device_prefers_cuda_when_present(monkeypatch):
    monkeypatch.delenv("XLREC_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert config.device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert config.device().type == "cpu"
    monkeypatch.setenv("XLREC_DEVICE", "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert config.device().type == "cpu"


def test_seed_everything_repeats_all_generators():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    config.seed_everything(123)
    first = draw()
    config.seed_everything(123)
    assert draw() == first
    config.seed_everything(124)
    assert draw() != first


def test_cache_dir_env_and_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XLREC_CACHE", str(tmp_path / "c"))
    assert config.cache_dir("a", "b") == tmp_path / "c" / "a" / "b"
    assert (tmp_path / "c" / "a" / "b").is_dir()
    monkeypatch.delenv("XLREC_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert config.cache_dir() == tmp_path / "xdg" / "xlrec"

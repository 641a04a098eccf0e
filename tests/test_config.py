import os
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


def test_importing_the_library_turns_off_the_weight_loading_bar(tmp_path):
    """A model loaded after ``import xlrec_lib`` prints no "Loading weights" bar (frozen at 0% in the book); without
    the import, transformers prints one, so the test can fail."""
    import subprocess
    import sys

    from transformers import BertConfig, BertModel

    BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32)).save_pretrained(tmp_path)
    load = f"from transformers import BertModel; BertModel.from_pretrained({str(tmp_path)!r})"
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_PROGRESS_BARS"}
    outputs = {first: subprocess.run([sys.executable, "-c", f"{first}{load}"], capture_output=True, text=True,
                                     env=env, check=True).stderr
               for first in ("", "import xlrec_lib; ")}
    assert "Loading weights" in outputs[""]
    assert "Loading weights" not in outputs["import xlrec_lib; "]


def test_limit_blas_threads_limits_numpy_and_scipy(monkeypatch):
    import scipy.linalg  # noqa: F401  (loaded before the limits are saved, so that they are restored after)
    from threadpoolctl import threadpool_info, threadpool_limits

    openblas = [i["filepath"] for i in threadpool_info() if i["internal_api"] == "openblas"]
    if not any("numpy" in f for f in openblas) or not any("scipy" in f for f in openblas):
        pytest.skip("numpy and scipy do not each ship their own OpenBLAS here (Accelerate, MKL, a shared one)")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")  # restored after the test
    with threadpool_limits(limits=None):  # the test process's own limits come back afterwards
        threadpool_limits(limits=2, user_api="blas")
        assert all(i["num_threads"] == 2 for i in threadpool_info() if i["user_api"] == "blas")
        config.limit_blas_threads(1)
        blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
        assert {f for f in openblas} <= {i["filepath"] for i in blas}
        assert all(i["num_threads"] == 1 for i in blas)
        assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
    with pytest.raises(ValueError, match="n=0"):
        config.limit_blas_threads(0)

"""Run-wide settings every chapter shares: quick mode, device, seeds, BLAS threads, cache directory.

Imports nothing of ours; torch and numpy are imported lazily so that the data layer
can use this module without pulling in torch.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _env_flag(name: str) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"environment variable {name}={raw!r}: expected one of {sorted(_TRUE | _FALSE)}")


def is_quick(override: bool | None = None) -> bool:
    """Quick mode: ``override`` when given (a papermill parameter), else ``XLREC_QUICK``."""
    return _env_flag("XLREC_QUICK") if override is None else bool(override)



def device(prefer: str | None = None):
    """The torch device to use: ``XLREC_DEVICE`` or ``prefer`` if set, else ``cuda`` when present, else ``cpu``."""
    import torch

    name = prefer or os.environ.get("XLREC_DEVICE")
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so that two runs give the same numbers."""
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:  # pragma: no cover - numpy is a hard requirement in practice
        pass
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(seed)  # also seeds every CUDA device


def limit_blas_threads(n: int = 1) -> None:
    """Run numpy's and scipy's BLAS (OpenBLAS) on ``n`` threads from here on; torch keeps its own threads.

    Why: on a machine with few cores, OpenBLAS's threads and torch's OpenMP threads both wait for work by spinning,
    so every small product numpy or scipy hands to a second thread waits for a core torch's threads hold.
    scikit-learn's logistic regression (many small products) then runs 10-20 times slower: on two cores, 0.09-0.22 s
    against 0.01 s for a 2,000 x 256 fit, and chapter 5's quick run took 102 s against 35 s with one BLAS thread
    (measured 2026-12-05). The products the chapters give numpy are small, so one thread costs them little.

    Both BLAS libraries are loaded first (scipy's is loaded only when scipy is imported) and limited through
    threadpoolctl; ``OPENBLAS_NUM_THREADS`` is set too, for any OpenBLAS loaded later (faiss's) and for child
    processes. A BLAS of another kind loaded later is not limited.
    """
    if n < 1:
        raise ValueError(f"limit_blas_threads: n={n}, expected at least 1 thread")
    os.environ["OPENBLAS_NUM_THREADS"] = str(n)
    import numpy  # noqa: F401  (loads numpy's BLAS)
    import scipy.linalg  # noqa: F401  (loads scipy's, which scikit-learn uses)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n, user_api="blas")


def cache_dir(*parts: str) -> Path:
    """The course's cache folder (``XLREC_CACHE``, else ``$XDG_CACHE_HOME/xlrec``, else ``~/.cache/xlrec``),
    joined with ``parts`` and created if missing. Downloads and trained models live here, never in git."""
    root = os.environ.get("XLREC_CACHE")
    if root:
        base = Path(root).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "xlrec"
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path

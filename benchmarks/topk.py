"""Benchmark: the top-k items for every user against every item (exact inner-product search).

Compares, on the same vectors and in one run:

- ``seed loop``: seed 000's ``recommend()`` done honestly: a Python loop that scores every (user, item) pair
  as ``sigmoid(cos)`` and sorts (timed on a sample of users and extrapolated to all);
- ``per-user numpy``: one matrix-vector product and ``np.argpartition`` per user (sampled, extrapolated);
- ``chunked matmul+topk``: ``xlrec_lib.scoring.topk(..., group=1)``, a plain chunked ``U @ I.T`` and ``torch.topk``;
- ``ours``: ``xlrec_lib.scoring.topk`` (tiled matmul, group maxima, topk over candidates; exact);
- ``ours + exclude``: the same while excluding each user's seen items (faiss cannot do that by itself);
- ``faiss``: ``faiss.IndexFlatIP`` (``add`` + ``search``).

The vectors are random (standard normal, then unit length, so the inner product is the cosine): timing does
not depend on what the vectors mean. Sizes: MovieLens-100k (943 x 1682) and a large case (full: 100k users x
50k items; ``--quick``: 10k users x 50k items), 64 dimensions, k = 10. Each fast method keeps its best time over
``--repeats`` interleaved runs (default 3, 2 with ``--quick``; the machine may be shared). Peak memory is the rise
of the process's resident set during the method's first run (``VmHWM`` after a reset through
``/proc/self/clear_refs``; elsewhere the rise of ``ru_maxrss``, which only shows new highs). The ratios in the last
line, ``RESULT topk ...``, are for the large case: ``ratio_loop`` = seed loop time / ours, ``ratio_faiss`` = ours /
faiss (below 1: ours is faster).

    python benchmarks/topk.py --quick      # under a minute
    python benchmarks/topk.py              # full sizes, a few minutes
"""

from __future__ import annotations

import argparse
import gc
import math
import platform
import re
import resource
import time
from pathlib import Path

import faiss
import numpy as np
import torch

from xlrec_lib.rec.topk import seed_topk_loop, topk

K = 10
DIM = 64


def _status_kb(field: str) -> int | None:
    try:
        match = re.search(rf"{field}:\s+(\d+) kB", Path("/proc/self/status").read_text())
    except OSError:
        return None
    return int(match.group(1)) if match else None


def _reset_peak() -> int:
    """Reset the peak-RSS counter if the OS allows it; return the current baseline in kB."""
    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status_kb("VmRSS")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _peak_since(baseline: int) -> float:
    peak = _status_kb("VmHWM") if Path("/proc/self/clear_refs").exists() else None
    if peak is None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return max(0, peak - baseline) / 1024  # MiB


def random_vectors(n_users: int, n_items: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    users = torch.nn.functional.normalize(torch.randn(n_users, DIM, generator=g), dim=1)
    items = torch.nn.functional.normalize(torch.randn(n_items, DIM, generator=g), dim=1)
    return users, items


def random_seen(n_users: int, n_items: int, per_user: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n_users), per_user)
    return rows, rng.integers(0, n_items, size=n_users * per_user)


# --------------------------------------------------------------------------------------------- the methods


def per_user_numpy(users: np.ndarray, items: np.ndarray, k: int) -> np.ndarray:
    """One matrix-vector product and an argpartition per user."""
    out = np.empty((len(users), k), dtype=np.int64)
    for r, u in enumerate(users):
        s = items @ u
        top = np.argpartition(-s, k)[:k]
        out[r] = top[np.argsort(-s[top])]
    return out


def faiss_flat_ip(users: np.ndarray, items: np.ndarray, k: int):
    index = faiss.IndexFlatIP(items.shape[1])
    index.add(items)
    return index.search(users, k)


# --------------------------------------------------------------------------------------------- timing


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def bench_case(name: str, n_users: int, n_items: int, repeats: int, seed_sample: int, numpy_sample: int) -> dict:
    print(f"\n== {name}: {n_users:,} users x {n_items:,} items x {DIM} dims, k={K} (random unit vectors)")
    users, items = random_vectors(n_users, n_items)
    users_np, items_np = users.numpy(), items.numpy()
    seen = random_seen(n_users, n_items, per_user=min(100, n_items // 10))

    fast = {
        "ours": lambda: topk(users, items, K),
        "ours + exclude": lambda: topk(users, items, K, seen),
        "chunked matmul+topk": lambda: topk(users, items, K, group=1),
        "faiss IndexFlatIP": lambda: faiss_flat_ip(users_np, items_np, K),
    }
    times: dict[str, float] = {}
    peaks: dict[str, float] = {}
    results = {}
    for rep in range(repeats):
        for label, fn in fast.items():
            base = _reset_peak() if rep == 0 else None
            seconds, results[label] = timed(fn)
            if rep == 0:
                peaks[label] = _peak_since(base)
            times[label] = min(times.get(label, math.inf), seconds)

    # sampled loops, extrapolated linearly in the number of users
    sample = np.random.default_rng(1).choice(n_users, size=min(numpy_sample, n_users), replace=False)
    base = _reset_peak()
    seconds, numpy_ids = timed(per_user_numpy, users_np[sample], items_np, K)
    peaks["per-user numpy"] = _peak_since(base)
    times["per-user numpy"] = seconds * n_users / len(sample)
    seed_rows = sample[: min(seed_sample, len(sample))]
    user_lists, item_lists = users_np[seed_rows].tolist(), items_np.tolist()
    base = _reset_peak()
    seconds, seed_ids = timed(seed_topk_loop, user_lists, item_lists, K)
    peaks["seed loop"] = _peak_since(base)
    times["seed loop"] = seconds * n_users / len(seed_rows)

    # every method must return the same lists (random float scores: ties are vanishingly rare)
    ours = results["ours"].ids.numpy()
    agree = {
        "faiss": float((results["faiss IndexFlatIP"][1] == ours).mean()),
        "chunked": float((results["chunked matmul+topk"].ids.numpy() == ours).mean()),
        "per-user numpy": float((numpy_ids == ours[sample]).mean()),
        "seed loop": float((np.asarray(seed_ids) == ours[seed_rows]).mean()),
    }
    excluded = results["ours + exclude"].ids.numpy()
    seen_hit = np.zeros_like(excluded, dtype=bool)
    seen_set = set(zip(seen[0].tolist(), seen[1].tolist(), strict=True))
    for r in range(min(n_users, 2000)):
        seen_hit[r] = [(r, j) in seen_set for j in excluded[r]]

    ours_t, faiss_t = times["ours"], times["faiss IndexFlatIP"]
    print(f"{'method':<22}{'time (s)':>12}{'ours faster by':>16}{'peak RSS rise (MiB)':>22}")
    for label in ["seed loop", "per-user numpy", "chunked matmul+topk", "faiss IndexFlatIP", "ours", "ours + exclude"]:
        note = " (extrapolated)" if label in ("seed loop", "per-user numpy") else ""
        print(f"{label:<22}{times[label]:>12.4f}{times[label] / ours_t:>15.1f}x{peaks[label]:>22.1f}{note}")
    print(f"sampled users: seed loop {len(seed_rows)}, per-user numpy {len(sample)}")
    print("top-k agreement with ours: " + ", ".join(f"{m} {v:.4f}" for m, v in agree.items()))
    print(f"seen items returned by 'ours + exclude' (first 2000 users): {int(seen_hit.sum())}")
    if min(agree.values()) < 0.999 or seen_hit.any():
        raise SystemExit(f"{name}: methods disagree ({agree}) or a seen item was returned")
    return {
        "times": times,
        "peaks": peaks,
        "ratio_loop": times["seed loop"] / ours_t,
        "ratio_numpy": times["per-user numpy"] / ours_t,
        "ratio_chunked": times["chunked matmul+topk"] / ours_t,
        "ratio_faiss": ours_t / faiss_t,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller large case, fewer repeats (under a minute)")
    parser.add_argument("--repeats", type=int, default=None, help="runs per fast method (best is kept)")
    parser.add_argument("--threads", type=int, default=None, help="threads for torch and faiss (default: all)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
        faiss.omp_set_num_threads(args.threads)
    repeats = args.repeats or (2 if args.quick else 3)
    print(f"{platform.processor() or platform.machine()}; torch {torch.__version__} with {torch.get_num_threads()} "
          f"threads; faiss {faiss.__version__} with {faiss.omp_get_max_threads()} threads; repeats {repeats}")
    start = time.perf_counter()
    ml = bench_case("ml-100k", 943, 1682, repeats, seed_sample=40, numpy_sample=943)
    large_users = 10_000 if args.quick else 100_000
    large = bench_case("large", large_users, 50_000, repeats, seed_sample=2 if args.quick else 4,
                       numpy_sample=300 if args.quick else 5000)
    print(f"\ntotal benchmark time {time.perf_counter() - start:.1f} s")
    print(
        f"RESULT topk ratio_loop={large['ratio_loop']:.0f} ratio_faiss={large['ratio_faiss']:.3f} "
        f"ratio_numpy={large['ratio_numpy']:.1f} ratio_chunked={large['ratio_chunked']:.2f} "
        f"ours_s={large['times']['ours']:.3f} faiss_s={large['times']['faiss IndexFlatIP']:.3f} "
        f"ours_peak_mib={large['peaks']['ours']:.0f} faiss_peak_mib={large['peaks']['faiss IndexFlatIP']:.0f} "
        f"ml100k_ratio_loop={ml['ratio_loop']:.0f} ml100k_ratio_faiss={ml['ratio_faiss']:.3f} "
        f"large={large_users}x50000x{DIM} quick={int(args.quick)}"
    )


if __name__ == "__main__":
    main()

"""Benchmark: the top-k items for every user against every item (exact inner-product search).

Compares, on the same vectors and in one run:

- ``seed loop``: seed 000's ``recommend()`` done honestly: a Python loop that scores every (user, item) pair
  as ``sigmoid(cos)`` and sorts (timed on a sample of users and items, extrapolated linearly to all pairs);
- ``per-user numpy``: one matrix-vector product and ``np.argpartition`` per user (sampled users, extrapolated);
- ``ours``: ``xlrec_lib.rec.topk.topk`` (tiled matmul into a reused tile, group maxima, candidates rescored
  and ranked; exact), as called by default: on a CPU that multiplies bfloat16 in hardware, the large case's tiles
  are screened in bfloat16 and the candidates rescored in float32 (the same lists and scores);
- ``ours, float32 tiles``: the same with ``screen="float32"``, for CPUs without bfloat16 arithmetic;
- ``ours + exclude``: the same while excluding each user's seen items (faiss cannot do that by itself);
- ``faiss``: ``faiss.IndexFlatIP`` (``add`` + ``search``);
- ``matmul``: ``a @ b`` of two float32 ``n x n`` matrices in torch (n = 4096; 2048 with ``--quick``): the machine's
  float32 FLOP rate, the reference for ``share_of_matmul``; and the same in bfloat16, for
  ``share_of_bf16_matmul``;
- ``products only`` (large size): ours without its selection, the same tiles (bfloat16 where ours screens), chunks
  and threads computing every score and keeping none (``products_only``): the FLOP rate of products of this shape
  (64-deep, about 1,024 items wide), the ceiling for any top-k built from separate products rather than one fused
  kernel.

The vectors are random (standard normal, then unit length, so the inner product is the cosine): timing does
not depend on what the vectors mean. Sizes, 64 dimensions, k = 10: MovieLens-100k (943 x 1,682) and a large case
(20,000 users x 50,000 items; ``--quick``: 2,000 x 50,000). Every timed variant is the minimum of ``--repeats``
runs (default 5) after one warm-up (``xlrec_lib.timing.time_call``), and of more for a call under 40 ms (as many
as fill 0.2 s): other processes only ever add time, so on a shared machine the minimum moves least between runs.
The load average is printed beside each case. Peak memory is the rise of the process's resident set during one
extra run (``VmHWM`` after a reset through ``/proc/self/clear_refs``; elsewhere the rise of ``ru_maxrss``, which
only shows new highs).

The last line, ``RESULT topk ratio=<ratio_faiss> ...``: ``ratio_loop`` = seed loop time / ours at the large size,
``ratio_faiss`` = the largest over sizes of ours / faiss time (below 1: ours is faster at every size),
``share_of_matmul`` = ours' FLOP rate (``2 * users * items * dim / seconds``) / the float32 matmul's (``2 * n^3 /
seconds``) at the large size (above 1 when ours screens in bfloat16: its result is still float32's),
``share_of_bf16_matmul`` the same against the bfloat16 matmul, ``float32_tiles_share_of_matmul`` and
``float32_tiles_ratio_faiss`` those of ``ours, float32 tiles``, and ``products_share_of_matmul`` and
``products_share_of_bf16_matmul`` the rate of ``products only`` (bfloat16 products where ours screens) against
each matmul. ``screened=1`` says ours screened here: on a CPU without bfloat16 hardware ``ratio`` and
``share_of_matmul`` measure the float32 tiles.

    python benchmarks/topk.py --quick      # under a minute
    python benchmarks/topk.py              # full sizes, a few minutes
"""

from __future__ import annotations

import argparse
import gc
import inspect
import platform
import re
import resource
import time
from pathlib import Path

import faiss
import numpy as np
import torch

from xlrec_lib.rec.topk import (
    GROUP,
    SCREEN_GROUP,
    _plan,
    chunk_starts,
    fast_bfloat16,
    run_workers,
    screens,
    seed_topk_loop,
    topk,
)
from xlrec_lib.timing import time_call

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


def _load() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "n/a"


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


def products_only(users: torch.Tensor, items: torch.Tensor, k: int) -> None:
    """``topk``'s score products alone: the same plan (``rec.topk._plan`` with its defaults: chunks of users,
    tiles of about 1,024 items, bfloat16 where ``topk`` screens, one reused tile buffer per worker), the same worker
    threads with torch single-threaded inside, no selection. Its FLOP rate is the ceiling of any top-k that computes
    its scores with separate products of this shape."""
    workers = torch.get_num_threads()
    defaults = {n: p.default for n, p in inspect.signature(topk).parameters.items()}  # topk's own settings
    screen = screens(users, items, k)  # as topk decides it
    plan = _plan(len(users), len(items), items.shape[1], k, SCREEN_GROUP if screen else GROUP,
                 defaults["tile_bytes"], defaults["memory_budget"], workers, screen)
    dtype = torch.bfloat16 if plan.screen else torch.float32
    padded = torch.zeros(plan.n_pad, items.shape[1], dtype=dtype)
    padded[: len(items)] = items
    tiles = padded.view(plan.tiles, plan.width, items.shape[1])
    users = users.to(dtype)
    take = chunk_starts(len(users), plan.rows)

    def work() -> None:
        tile = torch.empty(plan.rows, plan.width, dtype=dtype)
        while (start := take()) is not None:
            u = users[start : start + plan.rows]
            for t in tiles:
                torch.mm(u, t.T, out=tile[: len(u)])

    run_workers(work, workers)


def matmul_flops(n: int, repeats: int, dtype: torch.dtype = torch.float32) -> float:
    """FLOP/s of an ``n x n`` torch matmul in ``dtype``: ``2 n^3 / seconds``."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=g).to(dtype), torch.randn(n, n, generator=g).to(dtype)
    return 2 * n**3 / time_call(lambda: a @ b, repeats)


def time_fast(fn, repeats: int, fill: float = 0.2) -> float:
    """``time_call``'s minimum over ``repeats`` runs, or over as many as fill ``fill`` seconds for a fast call (the
    minimum of 5 runs of a 3 ms call moved by 40% between benchmark runs); ``fn`` has run once already."""
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    return time_call(fn, max(repeats, min(500, int(fill / max(once, 1e-6)))), warmup=0)


# --------------------------------------------------------------------------------------------- one size


def bench_case(name: str, n_users: int, n_items: int, repeats: int, seed_users: int, seed_items: int,
               numpy_users: int) -> dict:
    print(f"\n== {name}: {n_users:,} users x {n_items:,} items x {DIM} dims, k={K} (random unit vectors); "
          f"load {_load()}")
    users, items = random_vectors(n_users, n_items)
    users_np, items_np = users.numpy(), items.numpy()
    seen = random_seen(n_users, n_items, per_user=min(100, n_items // 10))
    fast = {
        "ours": lambda: topk(users, items, K),
        "ours, float32 tiles": lambda: topk(users, items, K, screen="float32"),
        "ours + exclude": lambda: topk(users, items, K, seen),
        "faiss IndexFlatIP": lambda: faiss_flat_ip(users_np, items_np, K),
    }
    times, peaks, results = {}, {}, {}
    for label, fn in fast.items():
        base = _reset_peak()
        results[label] = fn()
        peaks[label] = _peak_since(base)
        times[label] = time_fast(fn, repeats)  # the run above was the warm-up

    # sampled loops, extrapolated linearly in the number of users (and of items, for the seed loop)
    sample = np.random.default_rng(1).choice(n_users, size=min(numpy_users, n_users), replace=False)
    numpy_ids = per_user_numpy(users_np[sample], items_np, K)
    times["per-user numpy"] = time_call(lambda: per_user_numpy(users_np[sample], items_np, K), repeats,
                                        warmup=0) * n_users / len(sample)
    seed_rows, seed_cols = sample[:seed_users], slice(0, min(seed_items, n_items))
    user_lists, item_lists = users_np[seed_rows].tolist(), items_np[seed_cols].tolist()
    seed_ids = seed_topk_loop(user_lists, item_lists, K)
    seconds = time_call(lambda: seed_topk_loop(user_lists, item_lists, K), repeats, warmup=0)
    times["seed loop"] = seconds * (n_users / len(seed_rows)) * (n_items / len(item_lists))

    # every method must return the same lists (random float scores: ties are vanishingly rare)
    ours = results["ours"].ids.numpy()
    on_sample = topk(users[seed_rows], items[seed_cols], K, metric="cosine").ids.numpy()
    agree = {
        "faiss": float((results["faiss IndexFlatIP"][1] == ours).mean()),
        "ours, float32 tiles": float((results["ours, float32 tiles"].ids.numpy() == ours).mean()),
        "per-user numpy": float((numpy_ids == ours[sample]).mean()),
        "seed loop (on its sample)": float((np.asarray(seed_ids) == on_sample).mean()),
    }
    excluded = results["ours + exclude"].ids.numpy()
    seen_set = set(zip(seen[0].tolist(), seen[1].tolist(), strict=True))
    seen_hits = sum((r, j) in seen_set for r in range(min(n_users, 2000)) for j in excluded[r])

    flops = 2 * n_users * n_items * DIM
    ours_t, faiss_t = times["ours"], times["faiss IndexFlatIP"]
    print(f"{'method':<22}{'time (s)':>12}{'ours faster by':>16}{'GFLOP/s':>10}{'peak RSS rise (MiB)':>22}")
    for label in ["seed loop", "per-user numpy", "faiss IndexFlatIP", "ours", "ours, float32 tiles", "ours + exclude"]:
        note = " (extrapolated)" if label in ("seed loop", "per-user numpy") else ""
        peak = f"{peaks[label]:>22.1f}" if label in peaks else f"{'':>22}"
        print(f"{label:<22}{times[label]:>12.4f}{times[label] / ours_t:>15.1f}x{flops / times[label] / 1e9:>10.1f}"
              f"{peak}{note}")
    print(f"sampled: seed loop {len(seed_rows)} users x {len(item_lists)} items, per-user numpy {len(sample)} users; "
          f"load {_load()}")
    print("top-k agreement with ours: " + ", ".join(f"{m} {v:.4f}" for m, v in agree.items()))
    print(f"seen items returned by 'ours + exclude' (first 2000 users): {seen_hits}")
    if min(agree.values()) < 0.999 or seen_hits:
        raise SystemExit(f"{name}: methods disagree ({agree}) or a seen item was returned")
    return {
        "times": times,
        "peaks": peaks,
        "flops": flops,
        "ratio_loop": times["seed loop"] / ours_t,
        "ratio_numpy": times["per-user numpy"] / ours_t,
        "ratio_faiss": ours_t / faiss_t,
        "float32_tiles_ratio_faiss": times["ours, float32 tiles"] / faiss_t,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller large case and matmul (under a minute)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per timed variant, the minimum is kept (>= 5)")
    parser.add_argument("--threads", type=int, default=None, help="threads for torch and faiss (default: all)")
    args = parser.parse_args()
    if args.repeats < 5:
        parser.error("--repeats must be >= 5: fewer let a ratio move by more than 10% between runs")
    if args.threads:
        torch.set_num_threads(args.threads)
        faiss.omp_set_num_threads(args.threads)
    print(f"{platform.processor() or platform.machine()}; torch {torch.__version__} with {torch.get_num_threads()} "
          f"threads; faiss {faiss.__version__} with {faiss.omp_get_max_threads()} threads; repeats {args.repeats}")
    start = time.perf_counter()
    large_users = 2_000 if args.quick else 20_000
    sizes = {"ml-100k": (943, 1682), "large": (large_users, 50_000)}
    print("sizes: " + ", ".join(f"{name} {u}x{i}x{DIM}" for name, (u, i) in sizes.items())
          + (" (--quick: the large case has 2,000 users instead of 20,000)" if args.quick else ""))
    ml = bench_case("ml-100k", *sizes["ml-100k"], args.repeats, seed_users=10, seed_items=1682, numpy_users=943)
    large = bench_case("large", *sizes["large"], args.repeats, seed_users=1, seed_items=5_000,
                       numpy_users=50 if args.quick else 500)
    n = 2048 if args.quick else 4096
    matmul = matmul_flops(n, args.repeats)
    matmul_bf16 = matmul_flops(n, args.repeats, torch.bfloat16)
    users, items = random_vectors(*sizes["large"])
    products_s = time_call(lambda: products_only(users, items, K), args.repeats)
    rate = {label: large["flops"] / seconds for label, seconds in large["times"].items()}
    products_share = large["flops"] / products_s / matmul
    share, share_bf16 = rate["ours"] / matmul, rate["ours"] / matmul_bf16
    float32_share = rate["ours, float32 tiles"] / matmul
    faiss_share = rate["faiss IndexFlatIP"] / matmul
    print(f"\nmatmul {n}^3: float32 {matmul / 1e9:.1f} GFLOP/s, bfloat16 {matmul_bf16 / 1e9:.1f} GFLOP/s (load "
          f"{_load()}); large case, against float32's: ours {share:.0%} ({share_bf16:.0%} of bfloat16's), ours with "
          f"float32 tiles {float32_share:.0%}, faiss {faiss_share:.0%}; ours' score products alone, same tiles and "
          f"threads, no selection: {products_share:.0%} ({products_s:.3f} s: selection and bookkeeping are "
          f"{1 - products_s / large['times']['ours']:.0%} of ours)")
    print(f"total benchmark time {time.perf_counter() - start:.1f} s")
    ratio_faiss = max(ml["ratio_faiss"], large["ratio_faiss"])
    float32_ratio = max(ml["float32_tiles_ratio_faiss"], large["float32_tiles_ratio_faiss"])
    print(
        f"RESULT topk ratio={ratio_faiss:.3f} ratio_loop={large['ratio_loop']:.0f} ratio_faiss={ratio_faiss:.3f} "
        f"share_of_matmul={share:.3f} share_of_bf16_matmul={share_bf16:.3f} "
        f"float32_tiles_share_of_matmul={float32_share:.3f} float32_tiles_ratio_faiss={float32_ratio:.3f} "
        f"faiss_share_of_matmul={faiss_share:.3f} products_share_of_matmul={products_share:.3f} "
        f"products_share_of_bf16_matmul={products_share * matmul / matmul_bf16:.3f} "
        f"ml100k_ratio_faiss={ml['ratio_faiss']:.3f} "
        f"large_ratio_faiss={large['ratio_faiss']:.3f} ratio_numpy={large['ratio_numpy']:.1f} "
        f"ours_s={large['times']['ours']:.3f} faiss_s={large['times']['faiss IndexFlatIP']:.3f} "
        f"ours_peak_mib={large['peaks']['ours']:.0f} faiss_peak_mib={large['peaks']['faiss IndexFlatIP']:.0f} "
        f"matmul_gflops={matmul / 1e9:.1f} bf16_matmul_gflops={matmul_bf16 / 1e9:.1f} matmul_n={n} "
        f"screened={int(fast_bfloat16(torch.device('cpu')))} sizes=943x1682,{large_users}x50000x{DIM} "
        f"repeats={args.repeats} load={_load()} quick={int(args.quick)}"
    )


if __name__ == "__main__":
    main()

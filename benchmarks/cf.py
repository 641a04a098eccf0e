"""Benchmark: our collaborative filtering against the ``implicit`` package, on MovieLens-100k and synthetic sizes.

On the library's stratified 75/25 split of MovieLens-100k (seed 42, k = 10, training items excluded, every held-out
item relevant), in one run:

- ``ndcg_best``: test nDCG@10 of our best model, chosen on a validation split carved from the training part (two
  thirds fit, one third validation, as in chapter 08) between our implicit ALS and our EASE, each at the setting
  chapter 08's validation grid chose (ALS: 64 factors, reg 30, alpha 2; EASE: lambda 1000; see ``SETTINGS``);
- ``ndcg_implicit_als``: ``implicit.cpu.als.AlternatingLeastSquares`` with the same settings (its ``alpha`` is the
  confidence itself on a binary matrix, so ``1 + ours``), 15 iterations, float32; ``als_ndcg_gap`` = ours - implicit;
- ``als_time_ratio``: our ALS fit time / implicit's (each the minimum of ``--repeats`` fits, ``xlrec_lib.timing``).
  ``implicit`` runs with its default threads and BLAS limited to one thread (its own advice); ours runs torch with
  one thread on the CPU (see ``rec.cf.base.torch_threads``);
- fit time against the number of interactions: power-law synthetic matrices (``rec.cf.synthetic``; 40 interactions
  per user and 80 per item on average) from 100,000 to 10 million interactions (``--quick``: up to 200,000), five
  iterations, 64 factors, both libraries, one fit each; the plot goes to ``_build/benchmarks/cf_fit_time.png``.

The last line: ``RESULT cf ratio=<als_time_ratio> ndcg_best=<x> ndcg_implicit_als=<x> als_ndcg_gap=<x>
als_time_ratio=<x> ...``.

    python benchmarks/cf.py --quick      # under a minute on an idle machine
    python benchmarks/cf.py              # the full range: 25 min on a busy 2-core machine, the 10M case most of it
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from xlrec_lib.data import movielens_100k
from xlrec_lib.data.splits import stratified_split
from xlrec_lib.rec import ranking_metrics
from xlrec_lib.rec.cf import EASE, ImplicitALS, interaction_matrix
from xlrec_lib.rec.cf.base import seen_pairs
from xlrec_lib.rec.cf.evaluation import ranked_lists
from xlrec_lib.rec.cf.synthetic import power_law_matrix
from xlrec_lib.rec.topk import topk, topk_to_ranked
from xlrec_lib.timing import time_call

K = 10
SETTINGS = {"implicit ALS": (ImplicitALS, {"factors": 64, "reg": 30.0, "alpha": 2.0, "seed": 0}),
            "EASE": (EASE, {"lam": 1000.0})}
OUT = Path(__file__).resolve().parents[1] / "_build" / "benchmarks"


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "n/a"


def implicit_als(setting: dict, iterations: int = 15) -> AlternatingLeastSquares:
    return AlternatingLeastSquares(factors=setting["factors"], regularization=setting["reg"],
                                   alpha=1 + setting["alpha"], iterations=iterations, random_state=setting["seed"])


def fit_implicit(model: AlternatingLeastSquares, matrix) -> AlternatingLeastSquares:
    with threadpool_limits(1, "blas"):
        model.fit(matrix, show_progress=False)
    return model


def movielens(repeats: int) -> dict:
    ml = movielens_100k()
    train, test = stratified_split(ml.ratings, ratio=0.75, seed=42)
    fit, valid = stratified_split(train, ratio=2 / 3, seed=42)
    users, items = np.sort(ml.ratings["user_id"].unique()), np.sort(ml.items["item_id"].unique())
    x_train, x_fit = interaction_matrix(train, users, items), interaction_matrix(fit, users, items)
    rel_valid, rel_test = ranking_metrics.relevant_from_frame(valid), ranking_metrics.relevant_from_frame(test)
    on_valid = {name: ranking_metrics.ndcg_at_k(ranked_lists(make(**s).fit(x_fit), K, users, items), rel_valid, K)
                for name, (make, s) in SETTINGS.items()}
    best = max(on_valid, key=on_valid.get)
    make, setting = SETTINGS[best]
    ndcg_best = ranking_metrics.ndcg_at_k(ranked_lists(make(**setting).fit(x_train), K, users, items), rel_test, K)
    print(f"validation nDCG@{K}: " + ", ".join(f"{n} {v:.4f}" for n, v in on_valid.items())
          + f" -> {best}, test nDCG@{K} {ndcg_best:.4f}")

    als_setting = SETTINGS["implicit ALS"][1]
    ours = ImplicitALS(**als_setting)
    theirs = implicit_als(als_setting)
    ours_s = time_call(lambda: ours.fit(x_train), repeats=repeats, warmup=0)
    theirs_s = time_call(lambda: fit_implicit(theirs, x_train), repeats=repeats, warmup=0)
    ndcg_ours = ranking_metrics.ndcg_at_k(ranked_lists(ours, K, users, items), rel_test, K)
    found = topk(torch.from_numpy(theirs.user_factors), torch.from_numpy(theirs.item_factors), K, seen_pairs(x_train))
    ndcg_theirs = ranking_metrics.ndcg_at_k(topk_to_ranked(found.ids, users, items), rel_test, K)
    print(f"ALS {als_setting}: ours nDCG@{K} {ndcg_ours:.4f} fit {ours_s:.3f} s; implicit {ndcg_theirs:.4f} fit "
          f"{theirs_s:.3f} s (load {_load()})")
    return {"best": best, "ndcg_best": ndcg_best, "ndcg_ours_als": ndcg_ours, "ndcg_implicit_als": ndcg_theirs,
            "ours_s": ours_s, "implicit_s": theirs_s}


def scaling(sizes: list[int]) -> list[dict]:
    setting = SETTINGS["implicit ALS"][1]
    rows = []
    for nnz in sizes:
        matrix = power_law_matrix(max(200, nnz // 40), max(100, nnz // 80), nnz, seed=0)
        start = time.perf_counter()
        ImplicitALS(**{**setting, "iterations": 5}).fit(matrix)
        ours_s = time.perf_counter() - start
        start = time.perf_counter()
        fit_implicit(implicit_als(setting, iterations=5), matrix)
        theirs_s = time.perf_counter() - start
        rows.append({"interactions": matrix.nnz, "ours_s": ours_s, "implicit_s": theirs_s})
        print(f"{matrix.shape[0]:>9,} users x {matrix.shape[1]:>8,} items, {matrix.nnz:>11,} interactions: ours "
              f"{ours_s:8.2f} s, implicit {theirs_s:8.2f} s, ratio {ours_s / theirs_s:.2f} (load {_load()})",
              flush=True)
    return rows


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [r["interactions"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.loglog(n, [r["ours_s"] for r in rows], "o-", label="ours (xlrec_lib.rec.cf.ImplicitALS)")
    ax.loglog(n, [r["implicit_s"] for r in rows], "s-", label="implicit 0.7 (CPU, conjugate gradient)")
    ax.loglog(n, [rows[0]["ours_s"] * x / n[0] for x in n], ":", color="gray", label="linear in interactions")
    ax.set(xlabel="interactions (power-law synthetic)", ylabel="fit seconds (5 iterations, 64 factors)",
           title="ALS fit time")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="synthetic sizes up to 200,000 (under a minute)")
    parser.add_argument("--repeats", type=int, default=3, help="MovieLens fits per library, the minimum is kept")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    start = time.perf_counter()
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load {_load()}")
    ml = movielens(1 if args.quick else args.repeats)
    sizes = [20_000, 60_000, 200_000] if args.quick else [100_000, 300_000, 1_000_000, 3_000_000, 10_000_000]
    rows = scaling(sizes)
    if not args.quick:
        plot(rows, OUT / "cf_fit_time.png")
    growth = {name: np.polyfit(np.log([r["interactions"] for r in rows]), np.log([r[name] for r in rows]), 1)[0]
              for name in ("ours_s", "implicit_s")}
    print(f"log-log slope of fit time against interactions: ours {growth['ours_s']:.2f}, implicit "
          f"{growth['implicit_s']:.2f}; total benchmark time {time.perf_counter() - start:.1f} s")
    print(f"RESULT cf ratio={ml['ours_s'] / ml['implicit_s']:.2f} ndcg_best={ml['ndcg_best']:.4f} "
          f"ndcg_implicit_als={ml['ndcg_implicit_als']:.4f} "
          f"als_ndcg_gap={ml['ndcg_ours_als'] - ml['ndcg_implicit_als']:.4f} "
          f"als_time_ratio={ml['ours_s'] / ml['implicit_s']:.2f} best_model={ml['best'].replace(' ', '_')} "
          f"ndcg_ours_als={ml['ndcg_ours_als']:.4f} ours_s={ml['ours_s']:.3f} implicit_s={ml['implicit_s']:.3f} "
          f"slope_ours={growth['ours_s']:.2f} slope_implicit={growth['implicit_s']:.2f} "
          f"largest={rows[-1]['interactions']} largest_ratio={rows[-1]['ours_s'] / rows[-1]['implicit_s']:.2f} "
          f"load={_load()} quick={int(args.quick)}")


if __name__ == "__main__":
    main()

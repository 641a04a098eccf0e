"""Benchmark: where chapter 4's six-language alignment starts, the MLM checkpoint or the English-Chinese model.

Chapter 4 trains two aligned models: (c), English-Chinese pairs only (``aligned_encoder.pair_config``), and the
six-language model (``multilingual_config``: every pair of en, zh, fr, es, de, ru). The course's encoder
(``course_encoder``) trains the second from the first, a curriculum of one pair, then every pair. This script
measures that choice against starting the six-language run from the MLM checkpoint, as the chapter's first edition
did: the same configuration, steps and data, only the start differs. Both models go through
``aligned_encoder.load_or_align``, so a run on the course's cache trains only what is missing (on two CPU cores each
full model is about 11 minutes; the English-Chinese stage as long again).

Each recipe is measured as the chapter measures its six-language model: P@1 on every verse of John (the test book)
for the 30 directed pairs at 128 tokens (``retrieval.retrieval_matrix``, ``retrieval.pair_summary``: mean, with and
without English, lowest pair, en-zh), each verse's P@1 over the 30 pairs (the paired bootstrap interval of the
RESULT line), the Mark curve the full run records (P@1 on 300 verses of Mark every 250 steps) and the last loss's
gap to log B. Rows record the cache key of the start they trained from. A third recipe repeats the English-Chinese
start with another seed of the six-language run (its batches and dropout): the spread a second run gives. A fourth
starts from the checkpoint with twice the six-language steps, as many steps in all as the English-Chinese start has
had (its two stages): it tells the curriculum from the extra steps.

``--out FILE`` writes the rows (``xlrec_lib/measured/six_language_start.json`` ships them, for
``results.measured_runs``), each with its machine, date and versions.

The last line: ``RESULT six_language_start ratio=<John P@1 from the English-Chinese model / from the checkpoint>
p1_checkpoint=<x> p1_en_zh_start=<x> gain_interval=[lo,hi] ...``: above 1, the curriculum helps.

    python benchmarks/six_language_start.py --quick   # the two starts, quick models (cached if missing), 100 verses
    python benchmarks/six_language_start.py           # full models (on the course's cache: the evaluation only)
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
from alignment_steps import SEED, john_measures, measure_rows

from xlrec_lib import config
from xlrec_lib.crosslingual import aligned_encoder
from xlrec_lib.crosslingual.contrastive import final_gap_to_log_b
from xlrec_lib.intervals import paired_difference
from xlrec_lib.results import measured_run_args


@dataclass(frozen=True)
class Recipe:
    name: str
    start: str  # "checkpoint": the MLM model; "en-zh": model (c), aligned on English-Chinese pairs
    seed: int = 0  # the six-language run's seed (its batches and dropout); the start is the same model
    step_factor: int = 1  # times multilingual_config's steps


RECIPES = (Recipe("checkpoint", "checkpoint"), Recipe("en-zh start", "en-zh"),
           Recipe("en-zh start, seed 1", "en-zh", seed=1),
           Recipe("checkpoint, twice the steps", "checkpoint", step_factor=2))
NEEDED = ("checkpoint", "en-zh start")  # the RESULT line compares these two
QUICK_RECIPES = tuple(r for r in RECIPES if r.name in NEEDED)  # quick mode: the comparison only


def start_models(quick: bool, verses: pd.DataFrame) -> tuple:
    """``(tokenizer, {start: (bert, cache key)})``, loaded once: the MLM checkpoint and model (c) trained from it
    (both from the cache, or trained into it)."""
    from xlrec_lib.lm.pretrained import checkpoint_dir, load_or_train

    tokenizer, mlm = load_or_train(quick=quick, progress=False)
    bert, key = getattr(mlm, "bert", mlm), checkpoint_dir(quick=quick).name
    first, _ = aligned_encoder.pair_encoder(tokenizer, bert, key, verses, quick, progress=False)
    return tokenizer, {"checkpoint": (bert, key), "en-zh": (first.model, first.weights_key)}


def run_recipe(recipe: Recipe, tokenizer, starts: dict, verses: pd.DataFrame, quick: bool) -> dict:
    bert, start_key = starts[recipe.start]
    cfg = aligned_encoder.multilingual_config(quick, cuda=config.device().type == "cuda")
    cfg = replace(cfg, seed=recipe.seed, steps=cfg.steps * recipe.step_factor)
    config.seed_everything(SEED)
    encoder, info = aligned_encoder.load_or_align(tokenizer, bert, start_key, verses, cfg, progress=False)
    return {"name": recipe.name, "start": recipe.start, "start_key": start_key, "model_key": encoder.weights_key,
            "checkpoint": starts["checkpoint"][1], "quick": quick,
            **{k: v for k, v in asdict(cfg).items() if k != "langs"},
            "last_loss_minus_log_b": final_gap_to_log_b(info["losses"], cfg.batch_size),
            "train_seconds_when_built": info["seconds"], "mark_curve": info["curve"],
            **john_measures(encoder.model, tokenizer, verses, quick)}


def main() -> None:
    args, recipes = measured_run_args(__doc__.splitlines()[0], RECIPES, QUICK_RECIPES, "the two starts, 100 verses",
                                      {}, required=NEEDED)
    start = time.perf_counter()
    from xlrec_lib.lm.corpus import PRETRAIN_LANGS, load_verses

    verses = load_verses(PRETRAIN_LANGS)
    tokenizer, starts = start_models(args.quick, verses)
    table = measure_rows(recipes, lambda r: run_recipe(r, tokenizer, starts, verses, args.quick), args.out, args.note)
    machine = table["machine"].iloc[0]
    print(table[["start", "steps", "last_loss_minus_log_b", "john_p1_mean", "john_p1_with_en", "john_p1_without_en",
                 "john_p1_min", "john_p1_en_zh", "train_seconds_when_built"]].round(4).to_string())
    base, warm = table.loc["checkpoint", "john_p1_mean"], table.loc["en-zh start", "john_p1_mean"]
    _, low, high = paired_difference(np.asarray(table.loc["en-zh start", "john_p1_per_verse"]),
                                     np.asarray(table.loc["checkpoint", "john_p1_per_verse"]), seed=SEED)
    print(f"RESULT six_language_start ratio={warm / base:.4f} p1_checkpoint={base:.4f} p1_en_zh_start={warm:.4f} "
          f"gain_interval=[{low:+.4f},{high:+.4f}] "
          f"min_checkpoint={table.loc['checkpoint', 'john_p1_min']:.4f} "
          f"min_en_zh_start={table.loc['en-zh start', 'john_p1_min']:.4f} "
          f"machine={machine.replace(' ', '_').replace(',', '')} seconds={time.perf_counter() - start:.0f} "
          f"quick={int(args.quick)}")


if __name__ == "__main__":
    main()

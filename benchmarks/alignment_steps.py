"""Benchmark: what more alignment steps give chapter 4's six-language tiny BERT.

Chapter 4's first edition aligned the MLM chapter's full checkpoint on translation pairs of all six languages with
batch-centred InfoNCE (``crosslingual.aligned_encoder.multilingual_config(quick=False)``): 1,000 steps x 128 pairs at
lr 1e-3 on a CPU (1,500 steps with CUDA), 20 minutes or more on two cores, already over its 15-minute budget. (The
chapter now continues that stage from its English-Chinese model, ``course_encoder``; ``six_language_start.py``
compares the two starts. The recipes here still start from the checkpoint: with ``x2`` they say what as many steps
again give without the English-Chinese stage.) In its first
full run (2026-12-03) the Mark curve was still rising at the last point (+3.8 points over the last 250 steps), so
the chapter cannot say from its own run what more steps would give. This script runs the same configuration at
longer budgets, each a run of its own (warm-up and linear decay over its own steps, so a longer run is not the short
one continued), and measures each as the chapter does:

- the Mark curve (P@1 on the first 300 verses of Mark, the validation book, mean over the 30 directed pairs) every
  ``eval_every`` steps, through ``aligned_encoder.align``;
- P@1 on every verse of John (the test book) for the 30 directed pairs, embedded at 128 tokens as chapter 4's
  ``HFEncoder`` does, through ``retrieval.retrieval_matrix`` and ``retrieval.pair_summary`` of that table (mean,
  with and without English, lowest pair, en-zh), and each verse's P@1 over the 30 pairs, so that two recipes can be
  compared on the same verses (the RESULT line's paired bootstrap interval).

"The chapter's configuration" is ``multilingual_config``'s defaults, which chapter 4 uses unless its choices on Mark
(pair mix, sampling, centring) differ; ``train_seconds_with_mark`` includes the Mark evaluations.

Recipes (batch 128, lr 1e-3, every pair of the six languages, uniform sampling, centred loss):

- ``cpu``: 1,000 steps, the chapter's CPU run;
- ``gpu``: 1,500 steps, the chapter's CUDA run;
- ``x2``, ``x4``, ``x8``: 2,000, 4,000 and 8,000 steps (``x8`` is about 7 passes over the 147,380 training pairs).

It is meant for a GPU: on the course's 2-core development machine the ``cpu`` recipe alone ran for more than 28
minutes (it had not finished when stopped), so ``x8`` would take hours. ``--out FILE`` merges the rows into FILE by
recipe name, each row with its machine, date, versions and precision, so runs on different machines can share a
file, but only rows of one checkpoint and mode (``xlrec_lib/measured/alignment_steps.json`` is where a measured run
would ship, for ``results.measured_runs``); the file also lists each run's command and note.
``--checkpoint`` and ``--verses`` feed a machine without the course's cache: an MLM checkpoint folder
(``lm.pretrained.checkpoint_dir``) and a parquet file of ``load_verses()``'s frame.

The last line: ``RESULT alignment_steps ratio=<P@1 on John of the longest recipe / the cpu recipe's> p1_cpu=<x>
p1_longest=<x> longest=<name> ...``: a ratio above 1 is what the CPU budget leaves on the table.

    python benchmarks/alignment_steps.py --quick     # quick checkpoint and lr, 20 / 40 steps x 32, 100 John verses
    python benchmarks/alignment_steps.py             # every recipe (on a GPU: minutes)
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from xlrec_lib import config
from xlrec_lib.crosslingual import aligned_encoder
from xlrec_lib.crosslingual.contrastive import final_gap_to_log_b
from xlrec_lib.crosslingual.per_query import hits_at
from xlrec_lib.crosslingual.retrieval import pair_summary, retrieval_matrix
from xlrec_lib.encoders.pooling import embed_texts
from xlrec_lib.intervals import paired_difference
from xlrec_lib.results import measured_run_args

SEED = 0
LANGS = ("en",) + aligned_encoder.SIX_LANGUAGES
JOHN_MAX_LENGTH = 128  # chapter 4 encodes John through HFEncoder, whose default this is (training cuts at 64)


@dataclass(frozen=True)
class Recipe:
    name: str
    steps: int


RECIPES = (Recipe("cpu", 1000), Recipe("gpu", 1500), Recipe("x2", 2000), Recipe("x4", 4000), Recipe("x8", 8000))
QUICK_RECIPES = (Recipe("cpu", 20), Recipe("x2", 40))  # at batch 32: checks the plumbing, not the numbers


def load_model(folder: str | None, quick: bool):
    """``(tokenizer, bert, base_key)``: the MLM checkpoint at ``folder``, or the course's for the mode (trained into
    the cache on first use)."""
    from transformers import BertModel, PreTrainedTokenizerFast

    from xlrec_lib.lm.pretrained import checkpoint_dir, load_or_train

    if folder is None:
        tokenizer, mlm = load_or_train(quick=quick, progress=False)
        return tokenizer, getattr(mlm, "bert", mlm), checkpoint_dir(quick=quick).name
    path = Path(folder)
    bert = BertModel.from_pretrained(path, add_pooling_layer=False).to(config.device()).eval()
    return PreTrainedTokenizerFast.from_pretrained(path), bert, path.name


def load_verses(path: str | None) -> pd.DataFrame:
    from xlrec_lib.lm.corpus import load_verses as corpus_verses

    verses = corpus_verses(LANGS) if path is None else pd.read_parquet(path)
    missing = sorted(set(LANGS + ("split",)) - set(verses.columns))
    if missing:
        raise ValueError(f"{path or 'load_verses()'}: the verses frame lacks columns {missing}")
    return verses


def run_recipe(recipe: Recipe, tokenizer, bert, base_key: str, verses: pd.DataFrame, quick: bool) -> dict:
    """Align ``bert`` with the chapter's configuration at ``recipe.steps`` and measure it on Mark and John."""
    base = aligned_encoder.multilingual_config(quick)
    every = max(1, recipe.steps // 4) if quick else base.eval_every
    cfg = replace(base, steps=recipe.steps, eval_every=every)
    if quick:
        cfg = replace(cfg, batch_size=32, eval_verses=50)
    config.seed_everything(SEED)
    encoder, info = aligned_encoder.align(tokenizer, bert, verses, cfg, progress=False)
    return {"name": recipe.name, "checkpoint": base_key, "quick": quick,
            **{k: v for k, v in asdict(cfg).items() if k != "langs"},
            "pairs": info["pairs"], "passes": recipe.steps * cfg.batch_size / info["pairs"],
            "last_loss_minus_log_b": final_gap_to_log_b(info["losses"], cfg.batch_size),
            "train_seconds_with_mark": info["seconds"], "mark_curve": info["curve"],
            **john_measures(encoder, tokenizer, verses, quick)}


def john_measures(encoder, tokenizer, verses: pd.DataFrame, quick: bool) -> dict:
    """The ``john_*`` fields of a row: P@1 on John (its first 100 verses in quick mode) for the 30 directed pairs,
    summarised as chapter 4 does, and each verse's P@1 over the 30 pairs for paired intervals."""
    john = verses[verses["split"] == "test"]
    if quick:
        john = john.head(100)
    emb = {lang: embed_texts(encoder, tokenizer, john[lang].tolist(), max_length=JOHN_MAX_LENGTH) for lang in LANGS}
    table = retrieval_matrix(emb)
    summary = pair_summary(table, trained=[(a, b) for a in LANGS for b in LANGS if a < b])
    # each verse's P@1 over the 30 directed pairs: recipes compared on the same verses (intervals.paired_difference)
    per_verse = np.mean([hits_at(emb[a], emb[b]) for a in LANGS for b in LANGS if a != b], axis=0)
    if abs(per_verse.mean() - summary["P@1"]) > 1e-9:
        raise AssertionError(f"per-verse hits average to {per_verse.mean()}, the table's P@1 is {summary['P@1']}")
    return {"john_verses": len(john), "john_p1_mean": summary["P@1"], "john_p1_with_en": summary["P@1 with en"],
            "john_p1_without_en": summary["P@1 without en"], "john_p1_min": summary["min trained"],
            "john_p1_en_zh": summary["P@1 en-zh"], "john_mrr": summary["MRR"],
            "john_p1": {f"{s}-{t}": p for s, t, p in zip(table["src"], table["tgt"], table["P@1"], strict=True)},
            "john_p1_per_verse": per_verse.round(6).tolist()}


def machine_name() -> str:
    """The GPU's name, or the CPU threads torch uses: the ``machine`` of a row."""
    if config.device().type == "cuda":
        return torch.cuda.get_device_name()
    return f"CPU, {torch.get_num_threads()} threads"


def run_facts(machine: str) -> dict:
    """Where and how a row was measured: stored in the row itself, so rows of different runs can share a file."""
    import transformers

    on_gpu = config.device().type == "cuda"
    return {"machine": machine, "date": date.today().isoformat(), "torch": torch.__version__,
            "transformers": transformers.__version__,
            "precision": "lm.training's default on a GPU (bf16 autocast where supported)" if on_gpu else "float32"}


def write_rows(path: Path, rows: list[dict], note: str | None) -> None:
    """Merge ``rows`` into the JSON file at ``path`` by recipe name (a new file if missing); the file keeps the
    command and note of each run that wrote to it."""
    old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    for row in rows:  # rows of another checkpoint or mode must not replace or mix with these
        for other in old.get("rows", []):
            if (other.get("checkpoint"), other.get("quick")) != (row["checkpoint"], row["quick"]):
                raise ValueError(f"{path}: its rows come from checkpoint {other.get('checkpoint')!r} "
                                 f"(quick={other.get('quick')}), this run's from {row['checkpoint']!r} "
                                 f"(quick={row['quick']}); write to another file")
    merged = {r["name"]: r for r in old.get("rows", [])} | {r["name"]: r for r in rows}
    run = {"command": " ".join(["python", *sys.argv]), "recipes": [r["name"] for r in rows]}
    if note:
        run["note"] = note
    runs = [r for r in old.get("runs", []) if r["command"] != run["command"]] + [run]  # a rerun replaces its record
    path.write_text(json.dumps({"runs": runs, "rows": list(merged.values())}, indent=1) + "\n", encoding="utf-8")


def measure_rows(recipes, run, out: str | None, note: str | None) -> pd.DataFrame:
    """``run(recipe) -> row`` for each recipe, with ``run_facts``: each row printed (without its per-pair and per-verse
    lists) and merged into ``out`` as it comes, so a stopped run keeps its finished rows; the rows by name."""
    machine, rows = machine_name(), []
    for recipe in recipes:
        rows.append({**run(recipe), **run_facts(machine)})
        print(json.dumps({k: v for k, v in rows[-1].items() if k not in ("john_p1", "john_p1_per_verse")}),
              flush=True)
        if out:
            write_rows(Path(out), rows, note)
    return pd.DataFrame(rows).set_index("name")


def main() -> None:
    args, recipes = measured_run_args(
        __doc__.splitlines()[0], RECIPES, QUICK_RECIPES, "the quick checkpoint, two short runs",
        {"--checkpoint": "an MLM checkpoint folder (default: the course's, from the cache)",
         "--verses": "parquet of the verses frame (default: lm.corpus.load_verses)"})
    start = time.perf_counter()
    tokenizer, bert, base_key = load_model(args.checkpoint, args.quick)
    verses = load_verses(args.verses)
    table = measure_rows(recipes, lambda r: run_recipe(r, tokenizer, bert, base_key, verses, args.quick), args.out,
                         args.note)
    machine = table["machine"].iloc[0]
    print(table[["steps", "passes", "last_loss_minus_log_b", "john_p1_mean", "john_p1_with_en", "john_p1_without_en",
                 "john_p1_min", "john_p1_en_zh", "train_seconds_with_mark"]].round(4).to_string())
    longest = table["steps"].idxmax()
    cpu, best = table.loc["cpu", "john_p1_mean"], table.loc[longest, "john_p1_mean"]
    _, low, high = paired_difference(np.asarray(table.loc[longest, "john_p1_per_verse"]),
                                     np.asarray(table.loc["cpu", "john_p1_per_verse"]), seed=SEED)
    print(f"RESULT alignment_steps ratio={best / cpu:.4f} p1_cpu={cpu:.4f} p1_longest={best:.4f} "
          f"gain_interval=[{low:+.4f},{high:+.4f}] "
          f"longest={longest} steps_longest={table.loc[longest, 'steps']} "
          f"machine={machine.replace(' ', '_').replace(',', '')} seconds={time.perf_counter() - start:.0f} "
          f"quick={int(args.quick)}")


if __name__ == "__main__":
    main()

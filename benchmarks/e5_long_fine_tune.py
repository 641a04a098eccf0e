"""Benchmark: what chapter 5's CPU shortcuts cost multilingual-e5-small on Chinese review sentiment.

Chapter 5 cannot afford a full fine-tuning of e5-small on two CPU cores, so on a CPU it fine-tunes on 2,000 of the
13,891 training reviews, trains the top 6 of 12 layers, cuts reviews at 64 tokens and runs one epoch. This script
runs that recipe and longer ones with the chapter's own functions (the frozen probe with C chosen on validation,
linear probing then fine-tuning from the probe's head, AdamW with warm-up and linear decay, early stopping that keeps
the weights of the lowest validation loss) on the same split (600 validation reviews, all 1,736 test reviews, seed 0):

- ``cpu``: the chapter's CPU recipe (2,000 reviews, top 6 layers, 64 tokens, 1 epoch);
- ``gpu``: the chapter's GPU recipe (every training review, every layer, 64 tokens, 2 epochs);
- ``long``: as ``gpu`` at 128 tokens;
- ``longest``: as ``gpu`` at 256 tokens and 3 epochs;
- ``long-lr3e-5``, ``long-lr1e-5``: as ``long`` for 3 epochs at a smaller learning rate.

It is meant for a GPU (a run of ``long`` is hours on two CPU cores). Each recipe prints its frozen-probe and
fine-tuned test accuracy and its time. ``--out FILE`` merges the rows into FILE by recipe name, with the machine, date,
versions, precision and command: the run chapter 5 prints was made once on an NVIDIA H200 and ships with the library
as ``xlrec_lib/measured/e5_long_fine_tune.json`` (read by ``results.measured_runs``); to re-measure, pass that file.

The last line: ``RESULT e5_long_fine_tune ratio=<chosen recipe's test accuracy / the cpu recipe's> acc_cpu=<x>
chosen=<name> acc_chosen=<x> tied=<names> ...``. The chosen recipe is the one with the most correct validation
reviews, the first in ``RECIPES`` among equals (as ``lm.fine_tuning.choose_start`` keeps the first); ``tied`` lists
the recipes with as many, which validation cannot tell apart. Accuracy is not speed: the ratio says what the longer
runs buy, and ``seconds`` what the whole run cost.

``--e5-folder`` and ``--reviews`` feed a machine without the course's cache: a converted e5-small folder
(``encoders.e5_small.convert``) and a parquet file of ``split, text, label`` (``data.chinese_reviews``).

    python benchmarks/e5_long_fine_tune.py --quick       # 48-96 reviews, 32 tokens: 56 s on an idle 2-core machine
    python benchmarks/e5_long_fine_tune.py               # every recipe (on a GPU: minutes)
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from xlrec_lib import config
from xlrec_lib.encoders.e5_small import prefix
from xlrec_lib.lm import fine_tuning as ft
from xlrec_lib.lm import linear_probe
from xlrec_lib.results import measured_run_args

SEED = 0
N_VALID = 600  # chapter 5's validation sample (full mode)
QUICK_EVAL = 48  # validation and test reviews in --quick


@dataclass(frozen=True)
class Recipe:
    name: str
    train_reviews: int | None  # None: every training review
    layers: int | None  # trainable top layers (None: all 12; the embedding table always stays frozen)
    max_length: int
    epochs: float
    lr: float = 8e-5  # chapter 5's E5_CFG


RECIPES = (Recipe("cpu", 2000, 6, 64, 1), Recipe("gpu", None, None, 64, 2), Recipe("long", None, None, 128, 2),
           Recipe("longest", None, None, 256, 3), Recipe("long-lr3e-5", None, None, 128, 3, 3e-5),
           Recipe("long-lr1e-5", None, None, 128, 3, 1e-5))
QUICK_RECIPES = (Recipe("cpu", 48, 1, 32, 1), Recipe("gpu", 96, None, 32, 1))


def load_reviews(path: str | None) -> dict[str, pd.DataFrame]:
    """train / validation / test frames (``text, label``), from the course's loader or a parquet file."""
    if path is None:
        from xlrec_lib.data import chinese_reviews

        return {s: chinese_reviews(s) for s in ("train", "validation", "test")}
    frame = pd.read_parquet(path)
    return {s: frame[frame["split"] == s].reset_index(drop=True) for s in ("train", "validation", "test")}


def frozen_probe(encoder, parts: dict) -> tuple[linear_probe.Probe, float]:
    """Chapter 5's frozen probe (``linear_probe.frozen_probe``, C chosen on validation) and its test accuracy."""
    train, valid, test = parts["train"], parts["valid"], parts["test"]
    probe, pred = linear_probe.frozen_probe(encoder.encode, (train["text"], train["label"]),
                                            (valid["text"], valid["label"]), test["text"])
    return probe, float((pred == test["label"].to_numpy()).mean())


def run_recipe(recipe: Recipe, frames: dict, model_dir: Path, device: torch.device, quick: bool,
               probes: dict) -> dict:
    from transformers import AutoTokenizer, BertModel

    from xlrec_lib.encoders.pooling import HFEncoder

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    base = BertModel.from_pretrained(model_dir, add_pooling_layer=False).to(device).eval()
    train = frames["train"]
    if recipe.train_reviews is not None and recipe.train_reviews < len(train):
        train = train.sample(recipe.train_reviews, random_state=SEED)
    valid = frames["validation"].sample(QUICK_EVAL if quick else N_VALID, random_state=SEED)
    test = frames["test"] if not quick else frames["test"].sample(QUICK_EVAL, random_state=SEED)
    parts = {"train": train, "valid": valid, "test": test}
    t0 = time.perf_counter()
    key = (len(train), recipe.max_length)  # recipes that differ only in training share their probe
    if key not in probes:
        encoder = HFEncoder(base, tokenizer, "multilingual-e5-small", prefix=prefix(True),
                            max_length=recipe.max_length, batch_size=128)
        probes[key] = frozen_probe(encoder, parts)
    probe, frozen_acc = probes[key]
    probe_s = time.perf_counter() - t0
    data = {name: ft.tokenize(tokenizer, f["text"], f["label"], max_length=recipe.max_length, prefix=prefix(True))
            for name, f in parts.items()}
    cfg = ft.FineTuneConfig(lr=recipe.lr, batch_size=16, epochs=recipe.epochs, evals_per_epoch=2, patience=2,
                            seed=SEED)  # chapter 5's E5_CFG but the learning rate
    model = ft.classifier_from_probe(base, probe, train_layers=recipe.layers, seed=SEED)
    model, history = ft.fine_tune(model, data["train"], cfg, valid=data["valid"], pad_id=tokenizer.pad_token_id,
                                  desc=f"e5 {recipe.name}")
    kept = ft.kept_validation(history)
    cut = float(np.mean(np.asarray(data["train"]["length"]) >= recipe.max_length))
    return {**asdict(recipe), "train_reviews": len(train), "valid_reviews": len(valid), "test_reviews": len(test),
            "share_cut": cut, "frozen_probe_C": probe.C, "frozen_test_accuracy": frozen_acc,
            "valid_accuracy": kept["valid_accuracy"], "best_step": kept["best_step"],
            "steps_run": int(history["step"].max()), "stopped_early": bool(history.attrs.get("stopped_early")),
            "test_accuracy": ft.evaluate(model, data["test"], pad_id=tokenizer.pad_token_id)["accuracy"],
            "probe_seconds": probe_s, "fine_tune_seconds": history.attrs["train_seconds"]}


def write_rows(path: Path, rows: list[dict], machine: str, note: str | None) -> None:
    """Merge ``rows`` into the JSON file at ``path`` by recipe name (a new file if missing), with the run's facts."""
    import transformers

    old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    merged = {r["name"]: r for r in old.get("rows", [])} | {r["name"]: r for r in rows}
    content = {**old, "machine": machine, "date": date.today().isoformat(), "torch": torch.__version__,
               "transformers": transformers.__version__,
               "precision": "bf16 autocast (lm.training on a GPU)" if torch.cuda.is_available() else "float32",
               "command": " ".join(["python", *sys.argv]), "rows": list(merged.values())}
    if note:
        content["note"] = note
    path.write_text(json.dumps(content, indent=1) + "\n", encoding="utf-8")


def main() -> None:
    args, recipes = measured_run_args(
        __doc__.splitlines()[0], RECIPES, QUICK_RECIPES, "two small recipes on 48-96 reviews",
        {"--e5-folder": "a converted e5-small folder (default: the course's cache)",
         "--reviews": "parquet of split, text, label (default: data.chinese_reviews)"})
    start = time.perf_counter()
    config.seed_everything(SEED)
    device = config.device()
    if args.e5_folder:
        model_dir = Path(args.e5_folder)
    else:
        from xlrec_lib.encoders.e5_small import e5_small_folder

        model_dir = e5_small_folder()
    frames = load_reviews(args.reviews)
    machine = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    rows, probes = [], {}
    for recipe in recipes:
        rows.append(run_recipe(recipe, frames, model_dir, device, args.quick, probes))
        print(json.dumps(rows[-1]), flush=True)
        if args.out:
            write_rows(Path(args.out), rows, machine, args.note)
    table = pd.DataFrame(rows).set_index("name")
    print(table[["train_reviews", "layers", "max_length", "epochs", "lr", "frozen_test_accuracy", "valid_accuracy",
                 "test_accuracy", "fine_tune_seconds"]].to_string())
    correct = (table["valid_accuracy"] * table["valid_reviews"]).round().astype(int)
    tied = correct.index[correct == correct.max()].tolist()
    chosen, cpu = tied[0], table.loc["cpu", "test_accuracy"]
    print(f"RESULT e5_long_fine_tune ratio={table.loc[chosen, 'test_accuracy'] / cpu:.4f} acc_cpu={cpu:.4f} "
          f"chosen={chosen} acc_chosen={table.loc[chosen, 'test_accuracy']:.4f} tied={','.join(tied)} "
          f"acc_max={table['test_accuracy'].max():.4f} machine={machine.replace(' ', '_').replace(',', '')} "
          f"seconds={time.perf_counter() - start:.0f} quick={int(args.quick)}")


if __name__ == "__main__":
    main()

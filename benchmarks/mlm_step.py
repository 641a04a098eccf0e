"""Tokens per second of our MLM training step against transformers' default BertForMaskedLM step.

Both train the same configuration (the course model's), on the same real examples (verses in six
languages and translation pairs), with the same batch size and AdamW, for the same number of steps:

- reference: ``BertForMaskedLM(input_ids, attention_mask, token_type_ids, labels=labels)`` — logits for every
  position, then cross-entropy with ``ignore_index`` — on randomly ordered batches padded to their longest
  example (what ``DataCollatorForLanguageModeling`` does);
- ours: ``xlrec_lib.lm.mlm.pretraining_loss`` — logits only at the masked positions — on length-bucketed batches.

Speed is real (non-padding) tokens per second over the same drawn batches, from the fastest of several repeats
(``xlrec_lib.timing.time_call``: other processes only ever add time); ours is timed through ``training.fit``,
the loop the course trains with. Each variant runs in its own process so that its peak resident memory is its
own. Usage: ``python benchmarks/mlm_step.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
from dataclasses import replace


def run_variant(variant: str, quick: bool, steps: int, repeats: int) -> dict:
    import torch

    from xlrec_lib import config
    from xlrec_lib.lm.corpus import extra_training_texts, load_verses
    from xlrec_lib.lm.mlm import Stream, add_masks, pretraining_loss
    from xlrec_lib.lm.pretrained import (
        build_model,
        build_streams,
        course_config,
        load_or_train_tokenizer,
        subsample_training,
    )
    from xlrec_lib.lm.training import TrainConfig, fit
    from xlrec_lib.timing import time_call

    config.seed_everything(0)
    # a sample of the training verses is enough to time steps, and keeps the set-up short
    cfg = replace(course_config(quick), train_fraction=0.02 if quick else 0.2)
    verses, extra = load_verses(cfg.langs), extra_training_texts()
    tokenizer = load_or_train_tokenizer(cfg, verses, extra)
    streams, probs = build_streams(cfg, tokenizer, *subsample_training(cfg, verses, extra))
    if variant == "reference":  # same examples, plain shuffled batches
        streams = {k: Stream(s.examples, s.batch_size, s.pad_id, seed=0, window=1) for k, s in streams.items()}
    gen, names, rng = torch.Generator().manual_seed(0), list(probs), random.Random(0)
    batches = [add_masks(next(streams[rng.choices(names, [probs[n] for n in names])[0]]), tokenizer, generator=gen)
               for _ in range(steps)]  # every repeat trains on these same batches
    model = build_model(cfg, tokenizer).to(config.device()).train()
    device = next(model.parameters()).device

    def reference_steps():
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
        for batch in batches:
            batch = {k: v.to(device) for k, v in batch.items()}
            loss = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                         token_type_ids=batch["token_type_ids"], labels=batch["labels"]).loss
            loss.item()  # as the course's loop, which records every step's loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()

    def our_steps():  # the course's own path: training.fit, with its optimizer groups, schedule and history
        fit(model, pretraining_loss, iter(batches), TrainConfig(steps=steps, lr=cfg.lr), progress=False)
        if device.type == "cuda":
            torch.cuda.synchronize()

    seconds = time_call(reference_steps if variant == "reference" else our_steps, repeats=repeats, warmup=1)
    tokens = sum(int(b["attention_mask"].sum()) for b in batches)
    return {"variant": variant, "tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "config": f"{cfg.num_layers} layers x {cfg.hidden_size}, vocab {len(tokenizer)}, batch {cfg.batch_size}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small model, few steps (under a minute)")
    parser.add_argument("--variant", choices=["reference", "ours"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    steps, repeats = (8, 5) if args.quick else (40, 7)
    if args.variant:  # child process: one variant, JSON on stdout
        print(json.dumps(run_variant(args.variant, args.quick, steps, repeats)))
        return
    results = {}
    for variant in ("reference", "ours"):
        cmd = [sys.executable, __file__, "--variant", variant] + (["--quick"] if args.quick else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        results[variant] = json.loads(out.strip().splitlines()[-1])
        r = results[variant]
        print(f"{variant:10s} {r['tokens_per_s']:9.0f} tokens/s  ({r['tokens']} tokens in {r['seconds']:.2f} s, "
              f"fastest of {repeats})  "
              f"peak RSS {r['peak_mb']:.0f} MB   [{r['config']}]")
    ratio = results["ours"]["tokens_per_s"] / results["reference"]["tokens_per_s"]
    print(f"RESULT mlm_step ratio={ratio:.2f} ours_tokens_per_s={results['ours']['tokens_per_s']:.0f} "
          f"reference_tokens_per_s={results['reference']['tokens_per_s']:.0f} "
          f"ours_peak_mb={results['ours']['peak_mb']:.0f} reference_peak_mb={results['reference']['peak_mb']:.0f} "
          f"steps={steps} repeats={repeats} quick={args.quick}")


if __name__ == "__main__":
    main()

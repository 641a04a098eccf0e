"""Benchmark: what LoRA, int8, distillation and ONNX buy on one small real task, each measured in one run.

The task: sentiment of Chinese reviews (``xlrec_lib.data.chinese_reviews``, label 1 = positive), a random sample of
the train split to train on and of the test split to score on (seed 0), texts cut at 64 tokens. Models:

- the student and LoRA base: the course's tiny BERT (``lm.pretrained.load_or_train``; ``--quick``: the quick
  checkpoint, 2 layers of 128; full mode: the course model, 4 layers of 128) with a mean-pool head
  (``fine_tuning.classifier_from_encoder``);
- the teacher: multilingual-e5-small (12 layers of 384), its top 2 layers and a new head fine-tuned for one epoch
  (batches of 8, learning rate 1e-3) on the first reviews of the training sample
  (``fine_tuning.freeze(model, train_layers=2)``; embeddings and lower layers frozen). The fine-tuned teacher and its
  logits on the training and test samples are cached in the course cache (``fine_tuning.cached_fine_tune``,
  ``distillation.cached_teacher_logits``: keyed on the teacher's start, data, configuration and, for the logits, a
  digest of its weights), so a second run loads them; the RESULT line says which (``teacher_cached``). No ratio of
  the RESULT line involves the teacher's training or its logits' time, so they are the same on either kind of run.
  The cache holds one e5-small-sized model (about 450 MB) per mode.

Sizes (student train / test / teacher train reviews, student epochs, latency batch): ``--quick`` 400 / 200 / 128,
2 epochs, 8; full 1500 / 800 / 640, 3 epochs, 32.

Runs: full fine-tuning of the tiny BERT (the reference); LoRA on it (``lm.lora.apply_lora``: r 8, alpha 16, on
``query`` and ``value``, the head trained too, for 3x the epochs at a larger learning rate: 1e-2 for the quick
model, 3e-3 for the course model, against full fine-tuning's 1e-3 (the LoRA paper used 20-40x on RoBERTa-base),
each chosen on the validation split: quick model, 400 reviews, 1e-2: macro-F1 0.44 after 2 epochs (9% predicted
positive), 0.58 after 6; course model, 1500 reviews, 9 epochs: 1e-2 collapsed to one class, 3e-3 gave 0.63. Its
training time is reported as a ratio to full fine-tuning's, ``lora_time_ratio``); the tiny BERT distilled from the
teacher on the same reviews, batches, steps and seed as the reference (``lm.distillation.distill``). The
distillation loss, with temperature T = 2 and weight w = 0.5::

    L = w T^2 KL(softmax(z_teacher / T) || softmax(z_student / T)) + (1 - w) CE(z_student, y)

The ratios of the RESULT line (its first key, ``ratio``, repeats ``int8_speedup``: the compressed model against the
fp32 reference; macro-F1: ``lm.efficiency.classification_scores`` on the same test sample):

- ``lora_trainable_share`` = LoRA's trainable parameters (A, B and the head) / all parameters of the LoRA model;
- ``lora_gap`` = (full fine-tuning macro-F1 - LoRA macro-F1) in points (positive: LoRA is worse);
- ``int8_size_ratio`` = fp32 state-dict MB / int8 state-dict MB of the fully fine-tuned tiny BERT
  (``lm.compression.quantize_dynamic_int8(..., embeddings=True)``: the linear layers and the word embeddings, as
  chapter 6 records it; ``int8_linear_size_ratio`` after the RESULT's seven keys: the linear layers only);
- ``int8_speedup`` = fp32 latency / int8 latency of that model;
- ``distill_retained`` = distilled student macro-F1 / teacher macro-F1;
- ``distill_speedup`` = teacher latency / student latency on the same texts (each with its own tokenizer): the
  student's throughput as a multiple of the teacher's;
- ``onnx_speedup`` = torch fp32 latency / onnxruntime latency of the fully fine-tuned tiny BERT
  (``lm.export``), after checking that the ONNX logits equal torch's within 1e-4.

A latency is the fastest of ``--repeats`` forward passes after one warm-up (``xlrec_lib.timing.time_call``) over
one fixed batch of test reviews (the first ``--batch`` of the test sample, padded to the longest), under
``torch.no_grad``, on the CPU, with torch and onnxruntime both at ``--threads`` intra-op threads (default: torch's
own count, the physical cores it sees; the whole run uses that many). Pass ``--threads 1`` on a machine that
another process is using: on 2 cores shared that way, a second OpenMP thread made a training step ten times slower.
Extra keys after the seven: the macro-F1 of every model, int8's loss in points, the
teacher's own int8 size ratio and speedup (a 384-wide model, where int8 matmuls pay), and 50% global magnitude
pruning (``compression.magnitude_prune``) of the reference's encoder: its F1 loss and speedup (dense kernels: none).

Where the time goes on a first run: e5-small's forward passes (about 70 ms per review on one thread here) over the
teacher's training reviews, every student training review (the soft targets) and the test sample; then ONNX export
(~12 s). Measured on a 2-core machine, otherwise idle: on an AVX-512 host with one thread, ``--quick`` 41 s on a
first run (teacher trained, its logits computed; an earlier measurement under load took 73-100 s) and 22 s on later
runs, which load them, full about 8.5 minutes on a first run; on an AVX2-only host (no AVX-512), a later ``--quick``
run took 64 s with one thread and 55 s with two (the wall time, imports included; the same macro-F1 scores).
Two runs give the same macro-F1 scores (the run seeds torch's global generator first); the latency ratios
vary from run to run (int8_speedup 1.38, 1.33 and 0.90 in three quick runs on the AVX2 host, batches of 8).
Smaller quick samples were tried and rejected: with 300 / 120 / 64 reviews (54 s) the student and the teacher
predicted one class (macro-F1 0.35 each), and every ratio of the RESULT line lost its meaning.

    python benchmarks/efficient.py --quick      # small samples
    python benchmarks/efficient.py              # larger samples
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time
import warnings
from pathlib import Path

import torch

from xlrec_lib.config import seed_everything
from xlrec_lib.data import chinese_reviews
from xlrec_lib.encoders.e5_small import e5_small_encoder
from xlrec_lib.lm import fine_tuning as ft
from xlrec_lib.lm.compression import magnitude_prune, quantize_dynamic_int8, state_dict_megabytes
from xlrec_lib.lm.distillation import cached_teacher_logits, distill
from xlrec_lib.lm.efficiency import classification_scores, forward_latency, scores_from_logits
from xlrec_lib.lm.export import export_onnx, max_abs_error, onnx_logits, onnx_session
from xlrec_lib.lm.lora import apply_lora, lora_parameter_count, trainable_parameters
from xlrec_lib.lm.pretrained import load_or_train
from xlrec_lib.timing import time_call

SEED = 0
MAX_LENGTH = 64
TEMPERATURE, KD_WEIGHT = 2.0, 0.5
LORA = {"r": 8, "alpha": 16, "target_modules": ("query", "value"), "trainable": ("classifier",)}
# (student train reviews, test reviews, teacher train reviews, student epochs, latency batch)
SIZES = {True: (400, 200, 128, 2, 8), False: (1500, 800, 640, 3, 32)}
LORA_LR = {True: 1e-2, False: 3e-3}  # quick model, course model (module docstring)
TEACHER_LAYERS = 2  # e5-small's top layers fine-tuned with the new head (module docstring)


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "n/a"


def _cached_models() -> set[str]:
    """The model folders in the course cache (a teacher trained in this run adds one)."""
    from xlrec_lib.config import cache_dir

    folder = cache_dir("models")
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def macro_f1(model, data, pad_id: int) -> float:
    return classification_scores(model, data, pad_id)["macro_f1"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small samples (see the timings in the docstring)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="torch and onnxruntime intra-op threads (default: torch's own, the physical cores)")
    parser.add_argument("--repeats", type=int, default=None, help="timed passes per latency (default 3 quick, 5)")
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 5)
    if repeats < 1 or args.threads < 1:
        parser.error("--repeats and --threads must be >= 1")
    start = time.perf_counter()
    seed_everything(SEED)  # LoRA's A matrices draw from the global generator, which torch seeds at random
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message=".*(deprecated|torchvision|axis name).*")
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    n_train, n_test, n_teacher, epochs, n_batch = SIZES[args.quick]
    print(f"torch {torch.__version__}, {args.threads} thread(s), {os.cpu_count()} CPUs, load {_load()}; "
          f"{n_train} train / {n_test} test reviews, teacher trained on {n_teacher}, {MAX_LENGTH} tokens")

    train_df = chinese_reviews("train").sample(n_train, random_state=SEED)
    test_df = chinese_reviews("test").sample(n_test, random_state=SEED)
    tok, mlm = load_or_train(quick=args.quick, progress=False)
    pad = tok.pad_token_id
    train, test = (ft.tokenize(tok, f["text"], f["label"], max_length=MAX_LENGTH) for f in (train_df, test_df))
    timing_batch = ft.collate(test, range(n_batch), pad)
    cfg = ft.FineTuneConfig(lr=1e-3, batch_size=32, epochs=epochs, patience=None, seed=SEED)
    t = {}

    # full fine-tuning (the reference) and LoRA
    t0 = time.perf_counter()
    full, _ = ft.fine_tune(ft.classifier_from_encoder(mlm, 2, seed=SEED), train, cfg, pad_id=pad, progress=False)
    t["full fine-tuning"] = time.perf_counter() - t0
    lora = ft.classifier_from_encoder(mlm, 2, seed=SEED)
    wrapped = apply_lora(lora, **LORA)
    lora_count, lora_share = trainable_parameters(lora)
    shapes = [(lora.get_submodule(n).in_features, lora.get_submodule(n).out_features) for n in wrapped]
    head = sum(p.numel() for p in lora.classifier.parameters())
    assert lora_count == lora_parameter_count(shapes, LORA["r"]) + head, "LoRA trains other parameters than A, B, head"
    t0 = time.perf_counter()
    lora_cfg = ft.FineTuneConfig(**{**cfg.__dict__, "lr": LORA_LR[args.quick], "epochs": 3 * epochs})
    ft.fine_tune(lora, train, lora_cfg, pad_id=pad, progress=False)
    t["LoRA"] = time.perf_counter() - t0
    f1 = {"full fine-tuning": macro_f1(full, test, pad), "LoRA": macro_f1(lora, test, pad)}

    # the teacher: e5-small, top two layers and head fine-tuned on a subset
    t0 = time.perf_counter()
    e5 = e5_small_encoder(prefix="query: ", max_length=MAX_LENGTH)
    e5_pad = e5.tokenizer.pad_token_id
    e5_train, e5_test = (ft.tokenize(e5.tokenizer, f["text"], f["label"], max_length=MAX_LENGTH, prefix="query: ")
                         for f in (train_df, test_df))

    def teacher_start():
        model = ft.classifier_from_encoder(e5.model, 2, seed=SEED)
        ft.freeze(model, train_layers=TEACHER_LAYERS)
        return model

    teacher_cfg = ft.FineTuneConfig(lr=1e-3, batch_size=8, epochs=1, patience=None, seed=SEED)
    teacher_key = {"encoder": e5.key, "train_layers": TEACHER_LAYERS, "head": "mean pool, 2 classes", "seed": SEED}
    teacher_train = e5_train.select(range(n_teacher))
    cached_before = _cached_models()
    teacher, _ = ft.cached_fine_tune("bench-e5-teacher", teacher_start, teacher_key, teacher_train, teacher_cfg,
                                     e5.tokenizer, progress=False)
    teacher_cached = _cached_models() == cached_before  # no new folder: loaded, not trained
    teacher.eval()
    t["teacher"] = time.perf_counter() - t0
    logits_key = {"teacher": teacher_key, "teacher reviews": n_teacher}
    test_logits = cached_teacher_logits(f"bench-test-{n_test}", logits_key, teacher, e5_test, e5_pad)
    f1["teacher (e5-small)"] = scores_from_logits(test_logits, e5_test["labels"])["macro_f1"]
    t0 = time.perf_counter()
    soft = cached_teacher_logits(f"bench-train-{n_train}", logits_key, teacher, e5_train, e5_pad)  # (n_train, 2)
    student, _ = distill(ft.classifier_from_encoder(mlm, 2, seed=SEED), train, soft, cfg, pad_id=pad,
                         temperature=TEMPERATURE, weight=KD_WEIGHT, progress=False)
    t["distillation"] = time.perf_counter() - t0
    f1["distilled student"] = macro_f1(student, test, pad)

    # latency: teacher, student, int8, pruned, ONNX
    ms = {"teacher (e5-small)": forward_latency(teacher, ft.collate(e5_test, range(n_batch), e5_pad), repeats),
          "full fine-tuning": forward_latency(full, timing_batch, repeats),
          "distilled student": forward_latency(student, timing_batch, repeats)}
    int8 = quantize_dynamic_int8(full, embeddings=True)
    linear_only_mb = state_dict_megabytes(quantize_dynamic_int8(full))
    ms["int8"], f1["int8"] = forward_latency(int8, timing_batch, repeats), macro_f1(int8, test, pad)
    size = {"fp32": state_dict_megabytes(full), "int8": state_dict_megabytes(int8)}
    teacher_int8 = quantize_dynamic_int8(teacher)
    ms["teacher int8"] = forward_latency(teacher_int8, ft.collate(e5_test, range(n_batch), e5_pad), repeats)
    teacher_size_ratio = state_dict_megabytes(teacher) / state_dict_megabytes(teacher_int8)
    pruned = copy.deepcopy(full)
    magnitude_prune(pruned.bert, 0.5)
    ms["pruned 50%"], f1["pruned 50%"] = forward_latency(pruned, timing_batch, repeats), macro_f1(pruned, test, pad)
    with tempfile.TemporaryDirectory() as tmp:
        session = onnx_session(export_onnx(full, Path(tmp) / "student.onnx"), threads=args.threads)
    error = max_abs_error(full, session, [timing_batch, ft.collate(test, range(n_batch, 2 * n_batch), pad)])
    ms["onnxruntime"] = time_call(lambda: onnx_logits(session, timing_batch["input_ids"],
                                                      timing_batch["attention_mask"]), repeats, warmup=1)
    ms = {k: 1000 * v for k, v in ms.items()}

    print("\ntraining seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in t.items()) + f" (load {_load()})")
    print(f"{'model':<22}{'test macro-F1':>14}{'latency (ms)':>14}   batch of {n_batch} reviews")
    for name in ["full fine-tuning", "LoRA", "teacher (e5-small)", "distilled student", "int8", "pruned 50%",
                 "onnxruntime", "teacher int8"]:
        score = f"{100 * f1[name]:>14.1f}" if name in f1 else f"{'':>14}"
        lat = f"{ms[name]:>14.1f}" if name in ms else f"{'':>14}"
        print(f"{name:<22}{score}{lat}")
    print(f"LoRA trains {lora_count:,} parameters ({lora_share:.2%}); state dict fp32 {size['fp32']:.2f} MB, int8 "
          f"{size['int8']:.2f} MB; ONNX max |logit error| {error:.1e}; total {time.perf_counter() - start:.0f} s")
    print(f"RESULT efficient ratio={ms['full fine-tuning'] / ms['int8']:.2f} "
          f"lora_trainable_share={lora_share:.4f} "
          f"lora_gap={100 * (f1['full fine-tuning'] - f1['LoRA']):.1f} "
          f"int8_size_ratio={size['fp32'] / size['int8']:.2f} int8_speedup={ms['full fine-tuning'] / ms['int8']:.2f} "
          f"distill_retained={f1['distilled student'] / f1['teacher (e5-small)']:.3f} "
          f"distill_speedup={ms['teacher (e5-small)'] / ms['distilled student']:.1f} "
          f"onnx_speedup={ms['full fine-tuning'] / ms['onnxruntime']:.2f} "
          f"lora_time_ratio={t['LoRA'] / t['full fine-tuning']:.2f} "
          f"f1_full={f1['full fine-tuning']:.4f} f1_lora={f1['LoRA']:.4f} f1_teacher={f1['teacher (e5-small)']:.4f} "
          f"f1_distilled={f1['distilled student']:.4f} int8_f1_loss={100 * (f1['full fine-tuning'] - f1['int8']):.1f} "
          f"teacher_int8_size_ratio={teacher_size_ratio:.2f} "
          f"int8_linear_size_ratio={size['fp32'] / linear_only_mb:.2f} "
          f"teacher_int8_speedup={ms['teacher (e5-small)'] / ms['teacher int8']:.2f} "
          f"prune50_f1_loss={100 * (f1['full fine-tuning'] - f1['pruned 50%']):.1f} "
          f"prune50_speedup={ms['full fine-tuning'] / ms['pruned 50%']:.2f} onnx_max_error={error:.1e} "
          f"threads={args.threads} batch={n_batch} train={n_train} test={n_test} teacher_cached={int(teacher_cached)} "
          f"seconds={time.perf_counter() - start:.0f} load={_load()} quick={int(args.quick)}")


if __name__ == "__main__":
    main()

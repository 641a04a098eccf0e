import time

import pandas as pd
import pytest
import torch

from xlrec_lib.lm import fine_tuning as ft
from xlrec_lib.lm.compression import state_dict_megabytes
from xlrec_lib.lm.efficiency import (
    bf16_in_hardware,
    choose_lr,
    classification_scores,
    correct,
    cpu_flags,
    efficiency_row,
    efficiency_table,
    forward_latency,
    goal_verdicts,
    step_seconds,
    trainable_megabytes,
)
from xlrec_lib.lm.lora import apply_lora


def test_trainable_megabytes_counts_only_what_trains(toy_encoder):
    model = ft.classifier_from_encoder(toy_encoder, 2)
    assert trainable_megabytes(model) == pytest.approx(sum(p.numel() for p in model.parameters()) * 4 / 2**20)
    apply_lora(model, r=2, alpha=4, trainable=("classifier",))
    n = 4 * 2 * (16 + 16) + 16 * 2 + 2  # 4 wrapped layers x r (in + out), and the head
    assert trainable_megabytes(model) == pytest.approx(n * 4 / 2**20)


def test_rows_and_table(toy_encoder, toy_data):
    model = ft.classifier_from_encoder(toy_encoder, 2).eval()
    batch = ft.collate(toy_data["valid"], range(8))
    assert forward_latency(model, batch, repeats=2) > 0
    assert forward_latency(model, batch, repeats=1, autocast_dtype=torch.bfloat16) > 0
    scores = classification_scores(model, toy_data["valid"])
    labels = torch.tensor(toy_data["valid"]["labels"])
    pred = ft.predict_logits(model, toy_data["valid"]).argmax(-1)
    assert scores["accuracy"] == pytest.approx(float((pred == labels).float().mean()))
    full = efficiency_row(model, toy_data["valid"], 0, batch, train_seconds=2.0, repeats=1)
    assert full["checkpoint_mb"] == pytest.approx(state_dict_megabytes(model)) and full["trainable_share"] == 1
    lora = ft.classifier_from_encoder(toy_encoder, 2)
    apply_lora(lora, r=2, alpha=4, trainable=("classifier",))
    small = efficiency_row(lora, toy_data["valid"], 0, batch, train_seconds=1.0, repeats=1)
    assert small["checkpoint_mb"] == pytest.approx(trainable_megabytes(lora))
    table = efficiency_table({"full": full, "lora": small}, reference="full")
    assert table.loc["full", "train_time_ratio"] == 1 and table.loc["lora", "train_time_ratio"] == 0.5
    assert table.loc["full", "f1_gap"] == 0 and table.loc["full", "trainable_%"] == 100
    with pytest.raises(ValueError, match="reference row"):
        efficiency_table({"lora": small}, reference="full")


def test_table_ratios_and_gaps_by_hand():
    base = {"trainable": 100, "trainable_share": 1.0, "checkpoint_mb": 1.0, "accuracy": 0.8}
    rows = {"ref": {**base, "train_s": 10.0, "latency_ms": 20.0, "macro_f1": 0.75},
            "b": {**base, "trainable_share": 0.01, "train_s": 4.0, "latency_ms": 30.0, "macro_f1": 0.70}}
    table = efficiency_table(rows, "ref")
    assert table.loc["b", "train_time_ratio"] == pytest.approx(0.4)
    assert table.loc["b", "latency_ratio"] == pytest.approx(1.5)
    assert table.loc["b", "f1_gap"] == pytest.approx(5.0)  # 75 - 70 points: positive = worse
    assert table.loc["b", "trainable_%"] == pytest.approx(1.0) and table.loc["b", "macro_f1_%"] == pytest.approx(70)
    with pytest.raises(ValueError, match="needs train_s"):
        efficiency_table({"ref": {**rows["ref"], "train_s": None}}, "ref")


def test_forward_latency_runs_under_autocast(toy_encoder, toy_data):
    model = ft.classifier_from_encoder(toy_encoder, 2).eval()
    seen = []
    handle = model.bert.encoder.layer[0].attention.self.query.register_forward_hook(
        lambda module, args, out: seen.append(out.dtype))
    try:
        forward_latency(model, ft.collate(toy_data["valid"], range(4)), repeats=1, autocast_dtype=torch.bfloat16)
        forward_latency(model, ft.collate(toy_data["valid"], range(4)), repeats=1)
    finally:
        handle.remove()
    assert seen[:2] == [torch.bfloat16] * 2 and seen[-1] == torch.float32  # warm-up and timed run, then fp32


def test_correct_choose_lr_step_seconds_and_verdicts(toy_encoder, toy_data):
    model = ft.classifier_from_encoder(toy_encoder, 2, seed=0)
    right = correct(model, toy_data["valid"])
    assert right.shape == (64,) and right.mean() == pytest.approx(classification_scores(model, toy_data["valid"])
                                                                  ["accuracy"])
    cfg = ft.FineTuneConfig(batch_size=16, epochs=2, patience=None, seed=0)
    lr, best, scores = choose_lr(lambda: ft.classifier_from_encoder(toy_encoder, 2, seed=0), toy_data["train"],
                                 toy_data["valid"], cfg, (1e-5, 1e-2))
    assert lr == 1e-2 and scores[1e-2] > scores[1e-5] and scores[1e-2] == classification_scores(
        best, toy_data["valid"])["macro_f1"]
    assert step_seconds(lambda: ft.classifier_from_encoder(toy_encoder, 2), toy_data["train"], cfg, steps=3) > 0
    with pytest.raises(ValueError, match="need 1600 rows"):
        step_seconds(lambda: model, toy_data["train"], cfg, steps=99)
    verdicts = goal_verdicts([("a", 0.5, "<=", 1), ("b", 3.0, ">=", 5), ("c", 1.0, "<", 1)])
    assert verdicts["met"].tolist() == [True, False, False] and verdicts.loc["b", "bound"] == ">= 5"
    with pytest.raises(ValueError, match="comparison"):
        goal_verdicts([("x", 1, "==", 1)])


def test_step_seconds_times_the_steps_after_the_first(toy_encoder, toy_data, monkeypatch):
    calls, clock, caller = [], iter([10.0, 11.0, 13.0, 16.0]), []

    def fake_fine_tune(model, train, cfg, after_step=None, **kw):
        calls.append((len(train), cfg.epochs))
        for step in range(1, len(train) // cfg.batch_size + 1):
            after_step(step)
        return model, pd.DataFrame()

    monkeypatch.setattr(ft, "fine_tune", fake_fine_tune)
    monkeypatch.setattr(time, "perf_counter", lambda: next(clock))
    cfg = ft.FineTuneConfig(batch_size=16, epochs=2, patience=None, seed=0)
    seconds = step_seconds(lambda: object(), toy_data["train"], cfg, steps=3, after_step=caller.append)
    # 4 steps end at 10, 11, 13 and 16 s: the last three took 6 s, the first step is left out
    assert calls == [(64, 1.0)] and seconds == 2.0 and caller == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        step_seconds(lambda: object(), toy_data["train"], cfg, steps=0)


def test_cpu_flags_and_bf16(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16\n\nflags\t: ignored\n")
    assert cpu_flags(str(info)) == {"fpu", "sse2", "avx512f", "avx512_bf16"}
    assert bf16_in_hardware(str(info)) is True
    (tmp_path / "amx").write_text("flags : fpu amx_bf16\n")
    (tmp_path / "plain").write_text("flags : fpu avx512f amx_tile\n")
    assert bf16_in_hardware(str(tmp_path / "amx")) is True and bf16_in_hardware(str(tmp_path / "plain")) is False
    # no flags line (another system, or an ARM CPU's "Features"), a malformed one, or no file: nothing to say
    (tmp_path / "arm").write_text("processor\t: 0\nFeatures\t: fp asimd bf16\nflags\n")
    assert cpu_flags(str(tmp_path / "arm")) is None and cpu_flags(str(tmp_path / "missing")) is None
    assert bf16_in_hardware(str(tmp_path / "missing")) is None

import pytest
import torch

from xlrec_lib.lm import fine_tuning as ft
from xlrec_lib.lm.compression import state_dict_megabytes
from xlrec_lib.lm.efficiency import (
    classification_scores,
    efficiency_row,
    efficiency_table,
    forward_latency,
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

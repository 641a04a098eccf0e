import pytest
import torch

from xlrec_lib.lm import fine_tuning as ft
from xlrec_lib.lm import peft_methods as pm
from xlrec_lib.lm.lora import lora_parameter_count, trainable_parameters

HIDDEN, LAYERS, HEAD = 16, 2, 16 * 2 + 2


def test_trainable_counts_follow_the_formulas(toy_encoder):
    lora = pm.peft_model(ft.classifier_from_encoder(toy_encoder, 2), "lora", r=4, alpha=8)
    shapes = [(HIDDEN, HIDDEN)] * 2 * LAYERS  # query and value of each layer
    assert trainable_parameters(lora)[0] == lora_parameter_count(shapes, 4) + HEAD
    ia3 = pm.peft_model(ft.classifier_from_encoder(toy_encoder, 2), "ia3")
    # per layer: key and value (16 outputs each), attention output and FFN output (scaled on their inputs: 16, 32)
    assert trainable_parameters(ia3)[0] == LAYERS * (16 + 16 + 16 + 32) + HEAD
    ada = pm.peft_model(ft.classifier_from_encoder(toy_encoder, 2), "adalora", r=4, alpha=8, total_steps=40)
    init_r = 6  # 1.5 r: P (r x in), Q (out x r), lambda (r x 1) per layer, plus the head
    assert trainable_parameters(ada)[0] == 2 * LAYERS * init_r * (HIDDEN + HIDDEN + 1) + HEAD


def test_peft_methods_train_and_keep_the_base_frozen(toy_encoder, toy_data):
    """On a random base, LoRA learns the toy rule; IA3 can only rescale what the random base computes, so it is
    held to a lower validation loss than its start."""
    cfg = ft.FineTuneConfig(lr=3e-2, batch_size=16, epochs=8, patience=None, seed=0)
    steps = cfg.steps(len(toy_data["train"]))
    for method in pm.METHODS:
        model = pm.peft_model(ft.classifier_from_encoder(toy_encoder, 2, seed=0), method, r=4, alpha=8,
                              total_steps=steps)
        frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
        extra = ({"loss_fn": pm.labels_loss_fn(), "after_step": pm.adalora_after_step(model)}
                 if method == "adalora" else {})
        start = ft.evaluate(model, toy_data["valid"])
        ft.fine_tune(model, toy_data["train"], cfg, progress=False, **extra)
        end = ft.evaluate(model, toy_data["valid"])
        assert end["loss"] < start["loss"] - 0.02, (method, start, end)
        # AdaLoRA also pays its orthogonality penalty and prunes ranks on the way: a lower bar
        assert end["accuracy"] > {"lora": 0.9, "adalora": 0.6, "ia3": 0.0}[method], (method, end)
        assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if n in frozen), method


def test_adalora_reallocation_prunes_ranks(toy_encoder, toy_data):
    cfg = ft.FineTuneConfig(lr=3e-2, batch_size=16, epochs=2, patience=None, seed=0)
    steps = cfg.steps(len(toy_data["train"]))
    model = pm.peft_model(ft.classifier_from_encoder(toy_encoder, 2, seed=0), "adalora", r=2, alpha=4,
                          total_steps=steps)
    ft.fine_tune(model, toy_data["train"], cfg, progress=False, loss_fn=pm.labels_loss_fn(),
                 after_step=pm.adalora_after_step(model))
    ranks = pm.adalora_ranks(model)  # "layer 0 query" -> singular values kept
    assert sorted(ranks) == [f"layer {i} {m}" for i in range(LAYERS) for m in ("query", "value")]
    assert sum(ranks.values()) == 2 * len(ranks)  # target_r = 2 on average


def test_bad_method_or_schedule_is_refused(toy_encoder):
    with pytest.raises(ValueError, match="method must be one of"):
        pm.peft_model(ft.classifier_from_encoder(toy_encoder, 2), "prefix")
    with pytest.raises(ValueError, match="total_steps"):
        pm.peft_model(ft.classifier_from_encoder(toy_encoder, 2), "adalora")


def test_adalora_trains_on_its_orthogonality_penalty(toy_encoder, toy_data):
    model = pm.peft_model(ft.classifier_from_encoder(toy_encoder, 2, seed=0), "adalora", r=2, alpha=4,
                          total_steps=20).eval()  # eval: no dropout, so the two passes below agree
    with torch.no_grad():  # P and Q far from orthogonal: the penalty is large
        for name, p in model.named_parameters():
            if "lora_A" in name or "lora_B" in name:
                p.mul_(10)
    batch = ft.collate(toy_data["train"], range(8))
    loss, _ = pm.labels_loss_fn()(model, batch)
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    plain = ft.classification_loss(logits, batch["labels"])
    assert loss > plain + 0.1  # the penalty (weight 0.5) is in the loss the row trains on
    lora = pm.peft_model(ft.classifier_from_encoder(toy_encoder, 2, seed=0), "lora", r=2, alpha=4).eval()
    loss, _ = pm.labels_loss_fn()(lora, batch)
    torch.testing.assert_close(loss, ft.classification_loss(lora(**{k: batch[k] for k in ("input_ids",
                                                                                           "attention_mask")}).logits,
                                                           batch["labels"]))

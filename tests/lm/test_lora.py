import copy

import pytest
import torch
from peft import LoraConfig, get_peft_model
from torch import nn
from transformers import BertConfig, BertModel

from xlrec_lib.lm.fine_tuning import classifier_from_encoder
from xlrec_lib.lm.lora import (
    LoRALinear,
    apply_lora,
    copy_peft_lora,
    lora_layers,
    lora_parameter_count,
    merge_lora,
    randomise_lora_b,
    trainable_parameters,
    unmerge_lora,
)

HIDDEN, LAYERS, INTER = 16, 2, 32


def _bert(seed: int = 0) -> BertModel:
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=40, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=2,
                        intermediate_size=INTER, max_position_embeddings=16, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    return BertModel(config, add_pooling_layer=False).eval()


def _batch(seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 40, (3, 9), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    return ids, mask


class _One(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(12, 7)

    def forward(self, x):
        return self.proj(x)


def _randomise_b(model: nn.Module, seed: int = 3, std: float = 0.1) -> None:
    """B is zero at init; give every adapter a non-zero B (std 0.1: the update (alpha / r) B A is then of the
    order of the base weight's entries, std 0.02) so that the comparisons test the update too."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in lora_layers(model):
            layer.lora_B.weight.copy_(std * torch.randn(layer.lora_B.weight.shape, generator=g))


# --- LoRALinear against peft ----------------------------------------------------------------------------------------


def test_lora_linear_equals_peft_on_the_same_weights_in_eval_and_with_dropout():
    torch.manual_seed(0)
    base = _One()
    ours = copy.deepcopy(base)
    peft_model = get_peft_model(copy.deepcopy(base), LoraConfig(r=3, lora_alpha=6, lora_dropout=0.25,
                                                                target_modules=["proj"]))
    peft_layer = peft_model.base_model.model.proj
    with torch.no_grad():
        peft_layer.lora_B["default"].weight.normal_()
    ours.proj = LoRALinear(ours.proj, r=3, alpha=6, dropout=0.25)
    assert copy_peft_lora(ours, peft_model) == 2
    assert ours.proj.lora_A.weight.shape == (3, 12) and ours.proj.lora_B.weight.shape == (7, 3)
    assert ours.proj.scaling == peft_layer.scaling["default"] == 2.0
    x = torch.randn(5, 4, 12)
    ours.eval()
    peft_model.eval()
    torch.testing.assert_close(ours(x), peft_model(x), atol=1e-6, rtol=0)
    assert (ours(x) - ours.proj.base(x)).abs().max() > 1e-2  # B non-zero: the update is there
    # training mode: the same dropout mask (same seed, drawn at the same point) gives the same output
    ours.train()
    peft_model.train()
    torch.manual_seed(7)
    out_ours = ours(x)
    torch.manual_seed(7)
    out_peft = peft_model(x)
    torch.testing.assert_close(out_ours, out_peft, atol=1e-6, rtol=0)
    torch.manual_seed(8)
    assert not torch.allclose(ours(x), out_ours)  # dropout did act on the adapter path


def test_apply_lora_on_bert_equals_peft_and_merges_like_it():
    ids, mask = _batch()
    ours, theirs = _bert(), _bert()
    peft_model = get_peft_model(theirs, LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"]))
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_()
    wrapped = apply_lora(ours, r=4, alpha=8, target_modules=("query", "value"))
    assert len(wrapped) == 2 * LAYERS
    assert copy_peft_lora(ours, peft_model) == 4 * LAYERS
    peft_model.eval()
    out_peft = peft_model(input_ids=ids, attention_mask=mask).last_hidden_state
    out_ours = ours(input_ids=ids, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(out_ours, out_peft, atol=1e-6, rtol=0)
    # merged weights equal peft's merged weights
    merged = peft_model.merge_and_unload()
    merge_lora(ours)
    for name in wrapped:
        torch.testing.assert_close(ours.get_submodule(name).base.weight, merged.get_submodule(name).weight,
                                   atol=1e-6, rtol=0)


# --- merge, unmerge, init ---------------------------------------------------------------------------------------------


def test_merged_equals_unmerged_and_unmerge_restores_the_base_weight():
    model = _bert()
    ids, mask = _batch()
    original = {k: v.clone() for k, v in model.state_dict().items()}
    apply_lora(model, r=2, alpha=5, target_modules=("query", "key", "value", "dense"))
    _randomise_b(model)
    base_out = _bert()(input_ids=ids, attention_mask=mask).last_hidden_state
    unmerged = model(input_ids=ids, attention_mask=mask).last_hidden_state
    assert (unmerged - base_out).abs().max() > 0.05  # the adapters change the output
    assert merge_lora(model) == 6 * LAYERS  # q, k, v, attention.output.dense, intermediate.dense, output.dense
    merged = model(input_ids=ids, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(merged, unmerged, atol=1e-6, rtol=0)
    layer = model.encoder.layer[0].attention.self.query
    assert layer.merged
    with pytest.raises(ValueError, match="already merged"):
        layer.merge()
    unmerge_lora(model)
    with pytest.raises(ValueError, match="not merged"):
        layer.unmerge()
    for name, module in model.named_modules():
        if isinstance(module, LoRALinear):
            torch.testing.assert_close(module.base.weight, original[f"{name}.weight"], atol=1e-6, rtol=0)
            assert not torch.equal(module.delta_weight(), torch.zeros_like(module.base.weight))
    torch.testing.assert_close(model(input_ids=ids, attention_mask=mask).last_hidden_state, unmerged,
                               atol=1e-6, rtol=0)


def test_b_is_zero_at_init_so_the_wrapped_model_equals_the_base_model_exactly():
    base, model = _bert(), _bert()
    ids, mask = _batch()
    apply_lora(model, r=8, alpha=16, target_modules=("query", "value"))
    for layer in lora_layers(model):
        assert torch.count_nonzero(layer.lora_B.weight) == 0 and torch.count_nonzero(layer.lora_A.weight) > 0
    assert torch.equal(model(input_ids=ids, attention_mask=mask).last_hidden_state,
                       base(input_ids=ids, attention_mask=mask).last_hidden_state)


# --- counts and gradients ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("r", [1, 4, 16])
def test_trainable_parameter_count_equals_the_formula(r):
    model = classifier_from_encoder(_bert(), num_labels=3)
    total_before = sum(p.numel() for p in model.parameters())
    apply_lora(model, r=r, alpha=2 * r, target_modules=("query", "value"), trainable=("classifier",))
    head = HIDDEN * 3 + 3
    adapters = 2 * LAYERS * r * (HIDDEN + HIDDEN)  # query and value, each h -> h, in every layer: 4 L r h
    assert lora_parameter_count([(HIDDEN, HIDDEN)] * (2 * LAYERS), r) == adapters
    count, share = trainable_parameters(model)
    assert count == adapters + head
    assert share == pytest.approx(count / (total_before + adapters))


def test_gradients_reach_only_the_adapters_and_the_kept_head():
    model = classifier_from_encoder(_bert(), num_labels=2)
    apply_lora(model, r=2, alpha=4, target_modules=("query", "value"), trainable=("classifier",))
    _randomise_b(model)
    ids, mask = _batch()
    model(input_ids=ids, attention_mask=mask, labels=torch.tensor([0, 1, 1])).loss.backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    expected = {n for n, _ in model.named_parameters() if "lora_" in n or n.startswith("classifier.")}
    assert with_grad == expected
    assert all(not p.requires_grad for n, p in model.named_parameters() if n not in expected)


# --- bad arguments ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, message", [
    ({"r": 0, "alpha": 1}, "rank r must be an integer >= 1"),
    ({"r": 2.5, "alpha": 1}, "rank r must be an integer >= 1"),
    ({"r": 2, "alpha": 0}, "alpha must be a finite number > 0"),
    ({"r": 2, "alpha": float("nan")}, "alpha must be a finite number > 0"),
    ({"r": 2, "alpha": 4, "dropout": 1.0}, r"dropout must lie in \[0, 1\)"),
])
def test_lora_linear_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LoRALinear(nn.Linear(4, 4), **kwargs)


def test_lora_linear_wraps_only_a_plain_linear():
    with pytest.raises(ValueError, match="wraps an nn.Linear, got Conv1d"):
        LoRALinear(nn.Conv1d(4, 4, 1), r=2, alpha=4)
    with pytest.raises(ValueError, match="wraps an nn.Linear, got LoRALinear"):
        LoRALinear(LoRALinear(nn.Linear(4, 4), r=2, alpha=4), r=2, alpha=4)


def test_apply_lora_rejects_unknown_names_and_a_second_application():
    model = _bert()
    with pytest.raises(ValueError, match=r"no nn.Linear of BertModel is named \['qeury'\]"):
        apply_lora(model, r=2, alpha=4, target_modules=("qeury",))
    with pytest.raises(ValueError, match=r"trainable names \['classifier'\] match no module"):
        apply_lora(model, r=2, alpha=4, trainable=("classifier",))
    with pytest.raises(ValueError, match="sequences of names"):
        apply_lora(model, r=2, alpha=4, target_modules="query")
    assert not lora_layers(model)  # nothing was changed by the failed calls
    apply_lora(model, r=2, alpha=4)
    with pytest.raises(ValueError, match="already has LoRA layers"):
        apply_lora(model, r=2, alpha=4)
    with pytest.raises(ValueError, match="rank r must be"):
        lora_parameter_count([(4, 4)], 0)


def test_randomise_lora_b_and_copy_errors():
    model = _One()
    with pytest.raises(ValueError, match="no lora_B"):
        randomise_lora_b(model)
    model.proj = LoRALinear(model.proj, r=2, alpha=4)
    assert randomise_lora_b(model, std=0.1, seed=0) == 1 and model.proj.lora_B.weight.abs().sum() > 0
    other = get_peft_model(_One(), LoraConfig(r=2, lora_alpha=4, target_modules=["proj"]))
    model.extra = LoRALinear(nn.Linear(3, 3), r=2, alpha=4)  # a layer peft's model does not have
    with pytest.raises(ValueError, match="0 tensors for extra.lora_A"):
        copy_peft_lora(model, other)

import copy
import io

import pytest
import torch
from torch import nn
from transformers import BertConfig, BertModel

from xlrec_lib.lm.compression import (
    head_importance,
    head_parameter_count,
    head_pruning_sweep,
    linear_weights,
    magnitude_prune,
    prune_heads,
    prune_smallest_heads,
    pruning_sweep,
    quantize_dynamic_int8,
    sparsity,
    state_dict_bytes,
    state_dict_megabytes,
)
from xlrec_lib.lm.fine_tuning import classifier_from_encoder

HIDDEN, HEADS, LAYERS = 64, 4, 2
HEAD_SIZE = HIDDEN // HEADS
# the int8 model's logits stay within this of float32's on the tiny model below (its logits are ~0.2 in size, the
# measured error 3e-3: int8 weights and activations carry ~1% relative error each)
INT8_ATOL = 0.01

# torch 2.13 warns about its own old quantization API; quantize_dynamic_int8's docstring states it
DEPRECATIONS = [
    "ignore:torch.ao.quantization is deprecated:DeprecationWarning",
    "ignore:torch.quantize_per_tensor, torch.quantize_per_channel:UserWarning",
    "ignore:TypedStorage is deprecated:UserWarning",
]


@pytest.fixture()
def model():
    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                        intermediate_size=4 * HIDDEN, max_position_embeddings=32)
    return classifier_from_encoder(BertModel(config), num_labels=3, seed=1).eval()


def _inputs(seed: int = 2):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 50, (4, 12), generator=g)
    mask = torch.ones_like(ids)
    mask[2, 8:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def _logits(model):
    with torch.no_grad():
        return model(**_inputs()).logits


def _n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


# --- magnitude pruning ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("share", [0.0, 0.3, 0.5, 0.9])
def test_magnitude_prune_reaches_the_requested_sparsity_and_prunes_the_smallest(model, share):
    before = {id(layer): layer.weight.detach().clone() for layer, _ in linear_weights(model.bert)}
    keys = set(model.state_dict())
    head = model.classifier.weight.detach().clone()
    magnitude_prune(model.bert, share)
    n = sum(w.numel() for w in before.values())
    zeros = sum(int((layer.weight == 0).sum()) for layer, _ in linear_weights(model.bert))
    assert abs(zeros - share * n) <= 1
    assert sparsity(model.bert) == pytest.approx(zeros / n)
    assert set(model.state_dict()) == keys  # permanent: no weight_orig / weight_mask left behind
    assert torch.equal(model.classifier.weight, head)  # only the encoder given was pruned
    pruned = torch.cat([before[id(layer)][layer.weight == 0].abs() for layer, _ in linear_weights(model.bert)])
    kept = torch.cat([before[id(layer)][layer.weight != 0].abs() for layer, _ in linear_weights(model.bert)])
    if share > 0:
        assert pruned.max() <= kept.min()  # global: the smallest |w| of all layers together
    for layer, _ in linear_weights(model.bert):  # what survives is unchanged
        assert torch.equal(layer.weight[layer.weight != 0], before[id(layer)][layer.weight != 0])


def test_pruning_again_tops_the_zeros_up_and_bad_sparsity_is_refused(model):
    magnitude_prune(model.bert, 0.4)
    magnitude_prune(model.bert, 0.7)
    n = sum(layer.weight.numel() for layer, _ in linear_weights(model.bert))
    assert abs(sparsity(model.bert) * n - 0.7 * n) <= 1
    assert sparsity(model) < sparsity(model.bert)  # the head (dense) counts in the whole model's share
    with pytest.raises(ValueError, match=r"sparsity must lie in \[0, 1\], got 1.5"):
        magnitude_prune(model.bert, 1.5)
    with pytest.raises(ValueError, match="LayerNorm has no nn.Linear layer"):
        magnitude_prune(nn.LayerNorm(4), 0.5)


def test_a_pruned_dense_checkpoint_is_not_smaller(model):
    size = state_dict_bytes(model)
    magnitude_prune(model.bert, 0.9)
    assert abs(state_dict_bytes(model) - size) < 100  # zeros are stored like any other float


# --- head pruning ----------------------------------------------------------------------------------------------


def test_head_importance_is_the_norm_of_the_output_projection_slice(model):
    scores = head_importance(model)
    assert scores.shape == (LAYERS, HEADS)
    w = model.bert.encoder.layer[1].attention.output.dense.weight
    assert scores[1, 2] == pytest.approx(float(w.detach()[:, 2 * HEAD_SIZE:3 * HEAD_SIZE].norm()), rel=1e-6)


def test_pruning_a_head_equals_zeroing_its_output_projection_slice(model):
    masked = copy.deepcopy(model)
    heads = {0: [1, 3], 1: [0]}
    with torch.no_grad():
        for i, chosen in heads.items():
            for h in chosen:
                masked.bert.encoder.layer[i].attention.output.dense.weight[:, h * HEAD_SIZE:(h + 1) * HEAD_SIZE] = 0
    before = _n_params(model)
    prune_heads(model, heads)
    assert before - _n_params(model) == 3 * head_parameter_count(HIDDEN, HEAD_SIZE)
    assert model.bert.encoder.layer[0].attention.self.query.weight.shape == (2 * HEAD_SIZE, HIDDEN)
    assert model.bert.encoder.layer[1].attention.output.dense.weight.shape == (HIDDEN, 3 * HEAD_SIZE)
    torch.testing.assert_close(_logits(model), _logits(masked), atol=1e-6, rtol=0)


def test_prune_smallest_heads_removes_the_least_important_by_the_formula(model):
    scores = head_importance(model)
    before = _n_params(model)
    pruned = prune_smallest_heads(model, 3)
    assert sum(len(v) for v in pruned.values()) == 3
    assert before - _n_params(model) == 3 * head_parameter_count(HIDDEN, HEAD_SIZE)
    chosen = torch.tensor([float(scores[i, h]) for i, hs in pruned.items() for h in hs])
    left = torch.tensor([float(scores[i, h]) for i in range(LAYERS) for h in range(HEADS)
                         if h not in pruned.get(i, [])])
    assert chosen.max() <= left.min()
    assert _logits(model).shape == (4, 3)
    # numbering follows the layer as it is now: a second round sees fewer heads, marks the gone ones inf
    assert torch.isinf(head_importance(model)).sum() == 3


def test_head_pruning_keeps_one_head_per_layer_and_refuses_bad_requests(model):
    pruned = prune_smallest_heads(model, LAYERS * (HEADS - 1))
    assert all(len(v) == HEADS - 1 for v in pruned.values())
    assert [layer.attention.self.num_attention_heads for layer in model.bert.encoder.layer] == [1] * LAYERS
    assert _logits(model).shape == (4, 3)
    with pytest.raises(ValueError, match=r"n must lie in 0..0"):
        prune_smallest_heads(model, 1)
    with pytest.raises(ValueError, match="would leave it no attention"):
        prune_heads(model, {0: [0]})
    with pytest.raises(ValueError, match="layer 5 does not exist"):
        prune_heads(model, {5: [0]})
    with pytest.raises(ValueError, match=r"layer 1 has heads 0..0, asked to prune \[2\]"):
        prune_heads(model, {1: [2]})
    with pytest.raises(ValueError, match="needs a BertModel"):
        head_importance(nn.Linear(3, 3))


# --- quantization and size --------------------------------------------------------------------------------------


@pytest.mark.filterwarnings(*DEPRECATIONS)
def test_int8_logits_stay_within_the_stated_tolerance_and_the_checkpoint_shrinks(model):
    reference = _logits(model)
    quantized = quantize_dynamic_int8(model)
    assert isinstance(model.classifier, nn.Linear)  # the float model is left as it was
    assert not any(type(m) is nn.Linear for m in quantized.modules())
    logits = _logits(quantized)
    error = (logits - reference).abs().max()
    scale = float(reference.abs().max())
    assert 0 < error <= INT8_ATOL, f"int8 logits differ by {float(error):.4f} (logits up to {scale:.3f})"
    assert (logits.argmax(1) == reference.argmax(1)).all()
    fp32, int8 = state_dict_bytes(model), state_dict_bytes(quantized)
    linear = sum(layer.weight.numel() for layer, _ in linear_weights(model))
    # each linear weight shrinks from 4 bytes to 1: the saving is at least 3 bytes per linear weight (less overhead)
    assert fp32 - int8 >= 0.95 * 3 * linear
    assert state_dict_megabytes(model) == pytest.approx(fp32 / 2**20)


@pytest.mark.filterwarnings(*DEPRECATIONS)
def test_int8_word_embeddings_shrink_the_table_and_keep_the_logits(model):
    reference = _logits(model)
    linear_only = quantize_dynamic_int8(model)
    both = quantize_dynamic_int8(model, embeddings=True)
    table = model.bert.embeddings.word_embeddings.weight
    assert type(both.bert.embeddings.word_embeddings) is not nn.Embedding
    assert type(both.bert.embeddings.position_embeddings) is nn.Embedding  # small tables stay float32
    # 4 bytes -> 1 per entry, plus a float scale and offset per row, plus a few hundred bytes of serialised metadata
    saved = state_dict_bytes(linear_only) - state_dict_bytes(both)
    assert saved >= 3 * table.numel() - 8 * table.shape[0] - 1024
    assert (_logits(both) - reference).abs().max() <= INT8_ATOL
    with pytest.raises(ValueError, match="word_embeddings"):
        quantize_dynamic_int8(nn.Sequential(nn.Linear(4, 4)), embeddings=True)


@pytest.mark.filterwarnings(*DEPRECATIONS)
def test_the_int8_checkpoint_loads_without_pickle(model):
    buffer = io.BytesIO()
    torch.save(quantize_dynamic_int8(model).state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert any(k.endswith("_packed_params._packed_params") for k in state)


def test_pruning_sweeps_leave_the_model_and_report_each_step(model):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    table = pruning_sweep(model, (0.0, 0.5), lambda m: {"zeros": sparsity(m.bert)})
    assert table["reached"].round(3).tolist() == [0.0, 0.5] and table["zeros"].tolist() == table["reached"].tolist()
    heads, pruned = head_pruning_sweep(model, (0, 2), lambda m: {})
    assert list(heads.index) == [f"0 of {LAYERS * HEADS}", f"2 of {LAYERS * HEADS}"]
    saved = heads["encoder layer parameters"].iloc[0] - heads["encoder layer parameters"].iloc[1]
    assert saved == 2 * head_parameter_count(HIDDEN, HEAD_SIZE) and heads["checkpoint_mb"].is_monotonic_decreasing
    assert sum(layer.attention.self.num_attention_heads for layer in pruned[2].bert.encoder.layer) == 6
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


@pytest.mark.filterwarnings(*DEPRECATIONS)
def test_int8_refuses_a_model_off_the_cpu(model):
    with pytest.raises(ValueError, match="run on the CPU"):
        quantize_dynamic_int8(copy.deepcopy(model).to("meta"))

import numpy as np
import onnx
import pytest
import torch
from transformers import BertConfig, BertModel

from xlrec_lib.lm.export import (
    export_onnx,
    max_abs_error,
    onnx_latency,
    onnx_logits,
    onnx_predict_logits,
    onnx_session,
    onnx_size_breakdown,
)
from xlrec_lib.lm.fine_tuning import classifier_from_encoder, predict_logits

VOCAB, MAX_LEN = 50, 32


def _classifier(seed: int = 0):
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=MAX_LEN)
    return classifier_from_encoder(BertModel(config), num_labels=3, seed=seed)


def _batch(n: int, length: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, VOCAB, (n, length), generator=g)
    mask = torch.ones_like(ids)
    mask[0, length // 2:] = 0  # one padded row: the mask must reach the graph
    return {"input_ids": ids, "attention_mask": mask}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = _classifier()
    path = export_onnx(model, tmp_path_factory.mktemp("onnx") / "classifier.onnx")
    return model, path


def test_onnx_logits_equal_torch_on_two_batch_and_sequence_shapes(exported):
    model, path = exported
    session = onnx_session(path, threads=1)
    batches = [_batch(3, 7, seed=1), _batch(6, 19, seed=2)]
    assert max_abs_error(model, session, batches, atol=1e-4) <= 1e-4
    for batch in batches:
        got = onnx_logits(session, batch["input_ids"], batch["attention_mask"])
        assert got.shape == (len(batch["input_ids"]), 3) and got.dtype == np.float32
        with torch.no_grad():
            expected = model(**batch).logits.numpy()
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    # the padding mask is honoured: changing a padded token changes nothing, changing a real one does
    batch = _batch(3, 7, seed=1)
    ids = batch["input_ids"].clone()
    ids[0, -1] = (ids[0, -1] % (VOCAB - 1)) + 1
    padded_changed = onnx_logits(session, ids, batch["attention_mask"])
    np.testing.assert_allclose(padded_changed, onnx_logits(session, **batch), atol=1e-6)
    ids[0, 0] = (ids[0, 0] % (VOCAB - 1)) + 1
    assert np.abs(onnx_logits(session, ids, batch["attention_mask"]) - padded_changed).max() > 1e-5


def test_the_exported_graph_has_dynamic_batch_and_sequence_axes(exported):
    _, path = exported
    graph = onnx.load(str(path)).graph
    onnx.checker.check_model(onnx.load(str(path)))
    def dims(tensor):
        return [d.dim_param or d.dim_value for d in tensor.type.tensor_type.shape.dim]

    assert {t.name: dims(t) for t in graph.input} == {"input_ids": ["batch", "sequence"],
                                                      "attention_mask": ["batch", "sequence"]}
    assert {t.name: dims(t) for t in graph.output} == {"logits": ["batch", 3]}


def test_a_mismatch_beyond_atol_is_reported(exported):
    model, path = exported
    session = onnx_session(path)
    other = _classifier(seed=5)  # different weights: its logits are not the file's
    with pytest.raises(ValueError, match=r"ONNX logits differ from torch's by .* > atol 0.0001 on batch 0"):
        max_abs_error(other, session, [_batch(2, 5, seed=3)])


def test_bad_inputs_are_refused(tmp_path, exported):
    _, path = exported
    with pytest.raises(ValueError, match="no ONNX file at"):
        onnx_session(tmp_path / "missing.onnx")
    with pytest.raises(ValueError, match="should end in .onnx"):
        export_onnx(_classifier(), tmp_path / "model.bin")
    with pytest.raises(ValueError, match="must both be"):
        onnx_logits(onnx_session(path), torch.ones(2, 3, dtype=torch.long), torch.ones(2, 4, dtype=torch.long))


def test_the_weights_are_inside_the_one_file(exported):
    model, path = exported
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no .onnx.data beside it
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    assert path.stat().st_size >= 0.95 * weights  # the file holds every float32 weight


def test_the_size_breakdown_counts_the_parameters_and_the_exporters_notes(tmp_path):
    model = _classifier()
    with torch.no_grad():  # distinct values everywhere: the exporter stores identical tensors once
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    path = export_onnx(model, tmp_path / "perturbed.onnx")
    parts = onnx_size_breakdown(path)
    params = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20
    assert parts["weights"] == pytest.approx(params, rel=0.01)  # every parameter once, transposed or not
    assert 0 < parts["constants"] < 0.05 * parts["weights"]  # position ids, shapes
    assert parts["rest"] > 0 and parts["file"] * 2**20 == path.stat().st_size
    # the notes, measured another way: the file written again without them is smaller by about that much
    stripped = onnx.load(str(path))
    for node in stripped.graph.node:
        del node.metadata_props[:]
    onnx.save(stripped, str(tmp_path / "stripped.onnx"))
    saved = (path.stat().st_size - (tmp_path / "stripped.onnx").stat().st_size) / 2**20
    assert parts["node_metadata"] > 0 and saved == pytest.approx(parts["node_metadata"], rel=0.05)


def test_the_size_breakdown_refuses_a_missing_or_split_file(tmp_path, exported):
    with pytest.raises(ValueError, match="no ONNX file"):
        onnx_size_breakdown(tmp_path / "missing.onnx")
    model = onnx.load(str(exported[1]))
    onnx.save(model, str(tmp_path / "split.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="split.onnx.data", size_threshold=0)
    with pytest.raises(ValueError, match="external data"):
        onnx_size_breakdown(tmp_path / "split.onnx")


def test_onnx_latency_is_a_time(exported):
    _, path = exported
    assert 0 < onnx_latency(onnx_session(path, threads=1), _batch(2, 5, seed=3), repeats=1) < 10


def test_onnx_predict_logits_equal_torch_on_a_dataset(exported):
    from datasets import Dataset

    model, path = exported
    rows = _batch(5, 9, seed=4)
    ids = [r[m.bool()].tolist() for r, m in zip(rows["input_ids"], rows["attention_mask"], strict=True)]
    data = Dataset.from_dict({"input_ids": ids, "attention_mask": [[1] * len(r) for r in ids], "labels": [0] * 5,
                              "length": [len(r) for r in ids]})
    got = onnx_predict_logits(onnx_session(path, threads=1), data, batch_size=2)
    torch.testing.assert_close(got, predict_logits(model, data), atol=1e-4, rtol=0)

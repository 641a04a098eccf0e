"""Deployment: a sequence-classification model exported to ONNX and run with ``onnxruntime`` on the CPU.

    >>> path = export_onnx(model, "model.onnx")  # doctest: +SKIP
    >>> session = onnx_session(path)
    >>> # (batch, num_labels) numpy float32:
    >>> logits = onnx_logits(session, input_ids, attention_mask)
    >>> max_abs_error(model, session, [batch_a, batch_b])  # doctest: +SKIP
    >>> onnx_size_breakdown(path)  # MB: weights, constants, node_metadata, rest, file  # doctest: +SKIP

The graph takes ``input_ids`` and ``attention_mask`` (int64, ``(batch, sequence)``, both axes dynamic, the sequence
at most ``max_position_embeddings``) and returns ``logits``. It is traced with ``torch.onnx.export(dynamo=True)``
(``torch.export``, then onnxscript's translation), in eval mode, so dropout is gone from the graph. The file is
ONNX protobuf, not pickle.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from torch import nn

INPUTS = ("input_ids", "attention_mask")


class _LogitsOnly(nn.Module):
    """``(input_ids, attention_mask) -> logits``: the model's output object reduced to the one tensor ONNX needs."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def _example(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """A (2, 8) batch with padding: batch and sequence > 1 so that ``torch.export`` keeps both axes symbolic."""
    ids = torch.randint(1, model.config.vocab_size, (2, 8), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    return ids, mask


def export_onnx(model: nn.Module, path: str | Path, opset: int = 18) -> Path:
    """Write ``model`` (a ``transformers`` sequence-classification model on the CPU, e.g. ``BertMeanPoolClassifier``)
    to ``path`` as ONNX with dynamic ``batch`` and ``sequence`` axes; returns the path. The weights are inside the
    one file (``external_data=False``: the exporter's default writes them to a separate ``.onnx.data`` file, and a
    size read from the ``.onnx`` alone would be the graph's; protobuf's 2 GB limit is far above the course's
    models). The model is put in eval mode (and left there)."""
    if not hasattr(model, "config") or not hasattr(model.config, "max_position_embeddings"):
        raise ValueError(f"export_onnx: expected a transformers model with a config, got {type(model).__name__}")
    path = Path(path)
    if path.suffix != ".onnx":
        raise ValueError(f"export_onnx: the file should end in .onnx, got {path}")
    model.eval()
    batch = torch.export.Dim("batch")
    sequence = torch.export.Dim("sequence", max=model.config.max_position_embeddings)
    axes = {0: batch, 1: sequence}
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(_LogitsOnly(model).eval(), _example(model), str(path), input_names=list(INPUTS),
                          output_names=["logits"], dynamic_shapes={name: axes for name in INPUTS}, opset_version=opset,
                          dynamo=True, external_data=False, verbose=False)
    return path


def onnx_size_breakdown(path: str | Path) -> dict[str, float]:
    """Where the bytes of a one-file ONNX model go, in MB (2**20 bytes): ``weights`` (the floating-point initializers'
    raw tensors: the model's parameters, a linear weight stored transposed at the same size), ``constants`` (the
    other initializers: integer buffers such as position ids, shapes), ``node_metadata`` (what ``torch.onnx.export``
    writes on every node for debugging: module names, the FX node, stack traces; not needed to run the graph),
    ``rest`` (the graph's nodes, names, shapes and the protobuf framing: the file less the three) and ``file``.
    A file whose tensors live in a separate ``.data`` file is refused: its size would not be the model's."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"onnx_size_breakdown: no ONNX file at {path}")
    model = onnx.load(str(path), load_external_data=False)
    tensors = list(model.graph.initializer)
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in tensors):
        raise ValueError(f"onnx_size_breakdown: {path} keeps its tensors in an external data file; export it with "
                         "external_data=False (export_onnx does) to measure one file")
    floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16, onnx.TensorProto.DOUBLE}

    def nbytes(t) -> int:
        return len(t.raw_data) if t.raw_data else onnx.numpy_helper.to_array(t).nbytes

    weights = sum(nbytes(t) for t in tensors if t.data_type in floats)
    constants = sum(nbytes(t) for t in tensors if t.data_type not in floats)
    nodes = [*model.graph.node, *(node for function in model.functions for node in function.node)]
    metadata = sum(prop.ByteSize() for node in nodes for prop in node.metadata_props)
    size = path.stat().st_size
    return {"weights": weights / 2**20, "constants": constants / 2**20, "node_metadata": metadata / 2**20,
            "rest": (size - weights - constants - metadata) / 2**20, "file": size / 2**20}


def onnx_session(path: str | Path, threads: int | None = None):
    """An ``onnxruntime.InferenceSession`` of the file on ``CPUExecutionProvider`` (``threads``: intra-op threads,
    None = onnxruntime's default, all cores)."""
    import onnxruntime as ort

    if not Path(path).is_file():
        raise ValueError(f"onnx_session: no ONNX file at {path}")
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_logits(session, input_ids, attention_mask) -> np.ndarray:
    """``(batch, num_labels)`` float32 logits of the ONNX model for int ``(batch, sequence)`` inputs (tensors or
    arrays)."""
    feeds = {"input_ids": np.asarray(torch.as_tensor(input_ids).cpu(), dtype=np.int64),
             "attention_mask": np.asarray(torch.as_tensor(attention_mask).cpu(), dtype=np.int64)}
    if feeds["input_ids"].ndim != 2 or feeds["input_ids"].shape != feeds["attention_mask"].shape:
        raise ValueError(f"onnx_logits: input_ids {feeds['input_ids'].shape} and attention_mask "
                         f"{feeds['attention_mask'].shape} must both be (batch, sequence)")
    return session.run(["logits"], feeds)[0]


def onnx_predict_logits(session, data, pad_id: int = 0, batch_size: int = 128) -> torch.Tensor:
    """``(n, num_labels)`` logits of the ONNX model on every row of a ``fine_tuning.tokenize`` dataset, in order:
    what ``fine_tuning.predict_logits`` gives for the torch model, so both are scored on the same rows."""
    from xlrec_lib.lm.fine_tuning import collate

    out = [torch.from_numpy(onnx_logits(session, **{k: v for k, v in collate(data, range(i, min(i + batch_size,
           len(data))), pad_id).items() if k in INPUTS})) for i in range(0, len(data), batch_size)]
    return torch.cat(out) if out else torch.empty(0)


def onnx_latency(session, batch: dict, repeats: int = 5) -> float:
    """Seconds of one ``onnx_logits`` call on ``batch`` (``input_ids``, ``attention_mask``): the fastest of
    ``repeats`` after a warm-up, as ``lm.efficiency.forward_latency`` times torch."""
    from xlrec_lib.timing import time_call

    return time_call(lambda: onnx_logits(session, batch["input_ids"], batch["attention_mask"]), repeats, warmup=1)


def max_abs_error(model: nn.Module, session, batches: Iterable[dict], atol: float = 1e-4) -> float:
    """The largest absolute difference between ONNX and torch logits over ``batches`` (dicts with ``input_ids`` and
    ``attention_mask``), the torch model in eval mode; a ``ValueError`` if it exceeds ``atol`` (the export does
    not compute the model)."""
    model.eval()
    worst = 0.0
    for i, batch in enumerate(batches):
        with torch.no_grad():
            expected = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        got = onnx_logits(session, batch["input_ids"], batch["attention_mask"])
        error = float(np.abs(got - expected.float().cpu().numpy()).max())
        if error > atol:
            raise ValueError(f"ONNX logits differ from torch's by {error:.2e} > atol {atol:g} on batch {i} of "
                             f"shape {tuple(batch['input_ids'].shape)}")
        worst = max(worst, error)
    return worst

"""Fine-tuning a pretrained encoder for sentence classification: the model, its losses, imbalance, early stopping.

    >>> model = classifier_from_encoder(encoder, num_labels=2)  # doctest: +SKIP
    >>> train = tokenize(tokenizer, texts, labels, max_length=64)  # a datasets.Dataset
    >>> cfg = FineTuneConfig(lr=5e-5)
    >>> model, history = fine_tune(model, train, cfg, valid=tokenize(...))  # doctest: +SKIP

The model (``BertMeanPoolClassifier``) is a ``transformers`` sequence-classification model: a ``BertModel``, the mean
of its last hidden states over the real tokens, dropout and one linear layer. Mean pooling (not BERT's [CLS] pooler)
because the course's encoders were trained with it (``xlrec_lib.encoders.pooling.mean_pool`` computes the same
average; ``lm`` may not import ``encoders``, and the tests check that the two agree). It is registered with the
``Auto`` classes, so ``AutoModelForSequenceClassification.from_pretrained(folder)`` loads a saved one
(``trust_remote_code`` stays False: the class is ours, imported with this module).

Heads and losses. With ``num_labels = K >= 2`` the head gives K logits and the loss is softmax cross-entropy; with
``num_labels = 1`` it gives one logit z for the positive class and the loss is binary cross-entropy on
p = sigmoid(z), as seed 003's ``BCEWithLogitsLoss``::

    L(z, y) = -[y log sigma(z) + (1 - y) log(1 - sigma(z))] = softplus(z) - y z
    dL/dz = sigma(z) - y

(since d softplus(z)/dz = sigma(z)). Two logits with softmax are the same model: softmax([z1, z0])_1 =
sigma(z1 - z0) for logits (z0, z1).

Imbalance (seed 001's cures, measured in chapter 5): ``class_weights`` (each class's loss weighted by n / (K n_c)),
and sampling with class shares proportional to ``n_c ** alpha`` (``sampled_batches``: alpha = 1 the data as it is,
0 balanced re-sampling, 0.5 the smoothed middle, XLM's exponent idea applied to classes).

Training goes through the course's one loop, ``xlrec_lib.lm.training.fit``, with ``classification_loss_fn``;
``EarlyStopping`` is its ``evaluate`` callback (validation loss, the best weights kept and restored).
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModelForSequenceClassification, BertConfig, BertModel
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.models.bert.modeling_bert import BertPreTrainedModel

from xlrec_lib.lm.training import TrainConfig, endless_batches, fit

VERSION = 2  # the model, losses, batches and fine_tune below; a change that changes a fine-tuned model bumps it


# --- losses ------------------------------------------------------------------------------------------------------


def bce_with_logits(z: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean binary cross-entropy of logits ``z`` against 0/1 targets ``y``: softplus(z) - y z, optionally weighted
    per example (a weighted mean). Equals ``F.binary_cross_entropy_with_logits``; stable for large |z|."""
    losses = F.softplus(z) - y * z
    if weight is None:
        return losses.mean()
    return (weight * losses).sum() / weight.sum()


def bce_logit_grad(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The gradient of ``bce_with_logits(z, y)`` (the mean over n) with respect to ``z``: (sigma(z) - y) / n."""
    return (torch.sigmoid(z) - y) / z.numel()


def classification_loss(logits: torch.Tensor, labels: torch.Tensor, class_weight: torch.Tensor | None = None
                        ) -> torch.Tensor:
    """Softmax cross-entropy for ``(n, K >= 2)`` logits, binary cross-entropy for ``(n, 1)``; ``class_weight``:
    ``(K,)`` (``(2,)`` for the one-logit head) weights, the loss a weighted mean over the examples."""
    if logits.ndim != 2:
        raise ValueError(f"classification_loss: logits must be (n, K), got shape {tuple(logits.shape)}")
    if logits.shape[1] == 1:
        bad = labels[(labels != 0) & (labels != 1)]
        if bad.numel():
            raise ValueError(f"classification_loss: a one-logit head takes 0/1 labels, got {bad[0].item()!r}")
        y = labels.to(logits.dtype)
        weight = None if class_weight is None else class_weight.to(logits)[labels.long()]
        return bce_with_logits(logits[:, 0], y, weight)
    weight = None if class_weight is None else class_weight.to(logits)
    return F.cross_entropy(logits, labels.long(), weight=weight)


def predicted_labels(logits: torch.Tensor) -> torch.Tensor:
    """Arg-max class of ``(n, K)`` logits; for one logit, 1 where z > 0 (p > 0.5)."""
    return (logits[:, 0] > 0).long() if logits.shape[1] == 1 else logits.argmax(1)


# --- imbalance ---------------------------------------------------------------------------------------------------


def class_counts(labels: Sequence[int], num_classes: int) -> np.ndarray:
    """Examples per class ``0..num_classes-1``; a label outside that range or an empty class is a ``ValueError``."""
    y = np.asarray(labels)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise ValueError(f"labels must be a 1-D sequence of class indices, got dtype {y.dtype}, shape {y.shape}")
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}, got {y.min()}..{y.max()}")
    counts = np.bincount(y, minlength=num_classes)
    if (counts == 0).any():
        raise ValueError(f"classes {np.flatnonzero(counts == 0).tolist()} have no examples; weights and sampling "
                         "need every class")
    return counts


def class_weights(labels: Sequence[int], num_classes: int) -> torch.Tensor:
    """w_c = n / (K n_c): a class's examples weigh inversely to its size, the mean weight per example is 1 (as
    sklearn's ``class_weight="balanced"``); every class then adds the same total weight, n / K, to the loss."""
    counts = class_counts(labels, num_classes)
    return torch.tensor(counts.sum() / (num_classes * counts), dtype=torch.float32)


def class_shares(counts: Sequence[int], alpha: float) -> np.ndarray:
    """Share of the sampled examples that each class gets: n_c ** alpha / sum_k n_k ** alpha."""
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must lie in [0, 1] (1 = as the data is, 0 = balanced), got {alpha}")
    powered = np.asarray(counts, dtype=np.float64) ** alpha
    return powered / powered.sum()


def sampled_batches(labels: Sequence[int], num_classes: int, batch_size: int, alpha: float, seed: int
                    ) -> Iterator[list[int]]:
    """Endless index batches drawn with replacement so that class c fills ``class_shares(counts, alpha)[c]`` of
    them on average, each example of a class equally likely (seeded)."""
    y = np.asarray(labels)
    counts = class_counts(y, num_classes)
    per_example = (class_shares(counts, alpha) / counts)[y]
    rng = np.random.default_rng(seed)
    while True:
        yield rng.choice(len(y), size=batch_size, replace=True, p=per_example).tolist()


# --- the model ---------------------------------------------------------------------------------------------------


class MeanPoolBertConfig(BertConfig):
    """``BertConfig`` of ``BertMeanPoolClassifier`` (its own ``model_type`` so that the Auto classes find it)."""

    model_type = "xlrec-mean-pool-bert"


class BertMeanPoolClassifier(BertPreTrainedModel):
    """BERT, mean pooling over the real tokens, dropout, a linear head: ``logits (batch, num_labels)``.

    ``num_labels = 1`` is the one-logit (binary cross-entropy) head; with ``labels`` the output carries the loss of
    ``classification_loss``, so ``transformers.Trainer`` trains it as any sequence-classification model.
    """

    config_class = MeanPoolBertConfig

    def __init__(self, config: MeanPoolBertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        dropout = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                           token_type_ids=token_type_ids).last_hidden_state  # (batch, seq, hidden)
        m = attention_mask.to(hidden.dtype).unsqueeze(-1)  # (batch, seq, 1)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1)  # the mean of encoders.pooling.mean_pool
        if getattr(self.config, "normalize_pooled", False):  # unit vectors, as the encoder protocol's
            pooled = F.normalize(pooled, dim=-1)
        logits = self.classifier(self.dropout(pooled))  # (batch, num_labels)
        loss = None if labels is None else classification_loss(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)


AutoConfig.register(MeanPoolBertConfig.model_type, MeanPoolBertConfig, exist_ok=True)
AutoModelForSequenceClassification.register(MeanPoolBertConfig, BertMeanPoolClassifier, exist_ok=True)


def classifier_from_encoder(encoder, num_labels: int, dropout: float = 0.1, seed: int = 0,
                            normalize: bool = False) -> BertMeanPoolClassifier:
    """A ``BertMeanPoolClassifier`` whose BERT is a copy of ``encoder``'s weights (a ``BertModel``, or a model
    whose ``base_model`` is one: ``BertForMaskedLM``) and whose head is new (initialised from ``seed``; the global
    torch generator is left as it was). ``normalize``: L2-normalise the pooled vector (the encoder protocol's unit
    rows), so that a linear probe fitted on ``encode`` vectors can become the head (``set_head``). ``encoder`` is not
    changed; the model is on ``encoder``'s device."""
    if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1:
        raise ValueError(f"num_labels must be an integer >= 1 (1 = one logit with BCE), got {num_labels!r}")
    base = getattr(encoder, "base_model", encoder)
    if not isinstance(base, BertModel):
        raise ValueError(f"classifier_from_encoder: encoder must be a BertModel (or wrap one), got "
                         f"{type(base).__name__}")
    dropped = ("model_type", "architectures", "id2label", "label2id")
    settings = {k: v for k, v in base.config.to_dict().items() if k not in dropped}
    settings.update(num_labels=num_labels, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
                    classifier_dropout=dropout, normalize_pooled=normalize)
    config = MeanPoolBertConfig(**settings)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertMeanPoolClassifier(config)
    missing, unexpected = model.bert.load_state_dict(base.state_dict(), strict=False)
    if [k for k in missing if "pooler" not in k] or [k for k in unexpected if "pooler" not in k]:
        raise ValueError(f"encoder weights do not fit: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return model.to(next(base.parameters()).device)


def set_head(model: BertMeanPoolClassifier, coef, intercept) -> BertMeanPoolClassifier:
    """Start the head from a linear probe (linear probing, then fine-tuning: Kumar et al., 2022): ``coef`` ``(K, d)``
    and ``intercept`` ``(K,)`` of a logistic regression on the model's pooled vectors; a binary probe's single row
    ``(1, d)`` becomes the logit of class 1 (class 0's logit 0) for a two-logit head. Fine-tuning then starts at the
    probe's predictions instead of a random head's, which a short run on a CPU cannot afford to unlearn."""
    coef = torch.as_tensor(np.asarray(coef), dtype=torch.float32)
    intercept = torch.as_tensor(np.asarray(intercept), dtype=torch.float32).reshape(-1)
    k = model.config.num_labels
    if coef.ndim != 2 or coef.shape[1] != model.config.hidden_size or coef.shape[0] != len(intercept):
        raise ValueError(f"set_head: coef must be (K, {model.config.hidden_size}) with K intercepts, got "
                         f"{tuple(coef.shape)} and {tuple(intercept.shape)}")
    if coef.shape[0] == 1 and k == 2:
        coef, intercept = torch.cat([torch.zeros_like(coef), coef]), torch.cat([torch.zeros(1), intercept])
    if coef.shape[0] != k:
        raise ValueError(f"set_head: a probe of {coef.shape[0]} rows does not fit a head of {k} logits")
    with torch.no_grad():
        model.classifier.weight.copy_(coef)
        model.classifier.bias.copy_(intercept)
    return model


def classifier_from_probe(encoder, probe, train_layers: int | None = None, seed: int = 0) -> BertMeanPoolClassifier:
    """Linear probing, then fine-tuning (Kumar et al., 2022): a classifier on ``encoder`` whose pooled vector is
    L2-normalised and whose head is ``probe`` (a ``linear_probe.Probe`` fitted on the same encoder's unit vectors,
    same tokenizer and ``max_length``), so its first predictions are the probe's; the token embeddings and all but
    the top ``train_layers`` layers are frozen (``freeze``)."""
    coef = np.asarray(probe.model.coef_)
    model = classifier_from_encoder(encoder, 2 if coef.shape[0] == 1 else coef.shape[0], seed=seed, normalize=True)
    set_head(model, coef, probe.model.intercept_)
    freeze(model, train_layers, embeddings=True)
    return model


def dataset_fingerprint(data) -> str:
    """sha256 (16 hex digits) of a ``tokenize`` dataset's token ids and labels: what a model trained on it saw."""
    import hashlib

    h = hashlib.sha256()
    for ids, label in zip(data["input_ids"], data["labels"], strict=True):
        h.update(np.asarray(ids, dtype=np.int64).tobytes() + b"|" + str(int(label)).encode() + b";")
    return h.hexdigest()[:16]


def load_classifier(folder, device=None):
    """``AutoModelForSequenceClassification.from_pretrained(folder)`` in eval mode, its tensors copied out of the
    memory-mapped file: the same weights in freshly allocated memory give bit-identical logits to the model that was
    saved (a memory-mapped tensor's alignment can send BLAS down another path, off by ~1e-9)."""
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    with torch.no_grad():
        for tensor in itertools.chain(model.parameters(), model.buffers()):
            tensor.data = tensor.data.clone()
    return model.to(device or "cpu").eval()


def freeze(model: BertMeanPoolClassifier, train_layers: int | None = None, embeddings: bool = True) -> int:
    """Freeze the token embeddings (``embeddings``) and all but the top ``train_layers`` Transformer layers (None:
    train every layer); the head always trains. Returns the number of trainable parameters."""
    layers = model.bert.encoder.layer
    if train_layers is not None and not 0 <= train_layers <= len(layers):
        raise ValueError(f"train_layers must lie in 0..{len(layers)} or be None, got {train_layers}")
    for p in model.parameters():
        p.requires_grad_(True)
    if embeddings:
        model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    if train_layers is not None:
        model.bert.embeddings.requires_grad_(False)
        for layer in layers[: len(layers) - train_layers]:
            layer.requires_grad_(False)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --- data --------------------------------------------------------------------------------------------------------


def tokenize(tokenizer, texts: Sequence[str], labels: Sequence[int], max_length: int, prefix: str = ""):
    """A ``datasets.Dataset`` of ``input_ids, attention_mask, labels, length`` (tokenised with ``.map``; no padding,
    truncated to ``max_length``); ``prefix`` goes before every text (E5's ``"query: "``)."""
    from datasets import Dataset

    texts, labels = list(texts), [int(v) for v in labels]
    if len(texts) != len(labels):
        raise ValueError(f"tokenize: {len(texts)} texts but {len(labels)} labels")
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise ValueError(f"tokenize: texts[{bad}] is {texts[bad]!r}, not a text")

    def encode(batch):
        out = tokenizer([prefix + t for t in batch["text"]], truncation=True, max_length=max_length)
        return {"input_ids": out["input_ids"], "attention_mask": out["attention_mask"],
                "length": [len(ids) for ids in out["input_ids"]]}

    data = Dataset.from_dict({"text": texts, "labels": labels})
    return data.map(encode, batched=True, remove_columns=["text"], desc="tokenizing")


def collate(data, indices: Sequence[int], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Rows ``indices`` of a ``tokenize`` dataset as padded tensors ``input_ids, attention_mask, labels`` (and
    ``teacher_logits`` ``(n, K)`` when the dataset has that column: ``distillation.with_teacher_logits``)."""
    rows = data[list(indices)]
    n, width = len(rows["input_ids"]), max(len(ids) for ids in rows["input_ids"])
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    mask = torch.zeros((n, width), dtype=torch.long)
    for i, row in enumerate(rows["input_ids"]):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    out = {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor(rows["labels"])}
    if "teacher_logits" in rows:
        out["teacher_logits"] = torch.tensor(rows["teacher_logits"], dtype=torch.float32)
    return out


def train_batches(data, batch_size: int, seed: int, alpha: float | None = None, num_classes: int | None = None,
                  pad_id: int = 0, window: int = 1) -> Iterator[dict[str, torch.Tensor]]:
    """Endless padded batches of ``data``: epochs of shuffled batches (``training.endless_batches``; ``window`` > 1
    groups similar lengths, see below), or, with ``alpha``, class-rebalanced draws (``sampled_batches``; needs
    ``num_classes``).

    Plain random batches by default: where length goes with the label (positive reviews run longer than negative
    ones), batches of similar length are batches of mostly one label, and a short run learns from skewed
    gradients; with texts cut at a few dozen tokens, the padding that grouping would save is small."""
    if alpha is None:
        index_batches = endless_batches(data["length"], batch_size, seed, window=window)
    else:
        if num_classes is None:
            raise ValueError("train_batches: sampling with alpha needs num_classes")
        index_batches = sampled_batches(data["labels"], num_classes, batch_size, alpha, seed)
    for idx in index_batches:
        yield collate(data, idx, pad_id)


# --- training and evaluation -------------------------------------------------------------------------------------


def classification_loss_fn(class_weight: torch.Tensor | None = None):
    """``loss_fn(model, batch) -> (loss, {"accuracy": ...})`` for ``training.fit``: ``classification_loss`` of the
    model's logits against ``batch["labels"]``."""

    def loss_fn(model, batch):
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss = classification_loss(logits, batch["labels"], class_weight)
        accuracy = (predicted_labels(logits.detach()) == batch["labels"]).float().mean().item()
        return loss, {"accuracy": accuracy}

    return loss_fn


@torch.no_grad()
def predict_logits(model, data, batch_size: int = 128, pad_id: int = 0) -> torch.Tensor:
    """``(n, num_labels)`` float32 logits of every row of ``data`` (in order) on the CPU; model in eval mode,
    batches of similar length. The model's train/eval mode is restored afterwards."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    order = np.argsort(np.asarray(data["length"]), kind="stable")
    out = torch.empty(len(order), model.config.num_labels)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        batch = collate(data, idx.tolist(), pad_id)
        logits = model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device))
        out[torch.from_numpy(idx)] = logits.logits.float().cpu()
    model.train(was_training)
    return out


def evaluate(model, data, class_weight: torch.Tensor | None = None, batch_size: int = 128, pad_id: int = 0) -> dict:
    """``{"loss", "accuracy"}`` of ``model`` on ``data`` (the training loss, unweighted unless ``class_weight``)."""
    logits = predict_logits(model, data, batch_size, pad_id)
    labels = torch.tensor(data["labels"])
    return {"loss": float(classification_loss(logits, labels, class_weight)),
            "accuracy": float((predicted_labels(logits) == labels).float().mean())}


def seed_loop(model, data, steps: int, lr: float = 1e-3, seed: int = 0, pad_id: int = 0) -> list[float]:
    """Seed 003's training loop, kept to measure it: ``torch.optim.Adam`` at a constant ``lr``, one example per step
    (drawn at random, seeded), no warm-up, no clipping, no validation. Returns the loss of every step."""
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    order = np.random.default_rng(seed).integers(len(data), size=steps)
    device = next(model.parameters()).device
    model.train()
    losses = []
    with torch.random.fork_rng(devices=[] if not torch.cuda.is_available() else None):
        torch.manual_seed(seed)
        for i in order.tolist():
            batch = {k: v.to(device) for k, v in collate(data, [i], pad_id).items()}
            loss = classification_loss(model(input_ids=batch["input_ids"],
                                             attention_mask=batch["attention_mask"]).logits, batch["labels"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    model.eval()
    return losses


class StopEarly(Exception):
    """Raised by ``EarlyStopping`` inside ``fit`` when the validation loss stopped improving."""


class EarlyStopping:
    """``fit``'s ``evaluate`` callback: the validation loss and accuracy at each call; the weights of the best
    call (lowest loss) are kept on the CPU; after ``patience`` calls without a loss below the best minus
    ``min_delta``, ``StopEarly`` ends the run (``patience=None``: never stop, only keep the best). ``restore(model)``
    loads the best weights back. ``history``: one row per call (``call, valid_loss, valid_accuracy``)."""

    def __init__(self, valid, patience: int | None = 2, min_delta: float = 0.0, batch_size: int = 128,
                 pad_id: int = 0):
        if patience is not None and patience < 1:
            raise ValueError(f"patience must be >= 1 or None, got {patience}")
        self.valid, self.patience, self.min_delta = valid, patience, min_delta
        self.batch_size, self.pad_id = batch_size, pad_id
        self.best_loss, self.best_call, self.best_state, self.bad = math.inf, 0, None, 0
        self.history: list[dict] = []

    def __call__(self, model) -> dict:
        metrics = evaluate(model, self.valid, batch_size=self.batch_size, pad_id=self.pad_id)
        row = {"call": len(self.history) + 1, "valid_loss": metrics["loss"], "valid_accuracy": metrics["accuracy"]}
        self.history.append(row)
        if metrics["loss"] < self.best_loss - self.min_delta:
            self.best_loss, self.best_call, self.bad = metrics["loss"], row["call"], 0
            self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        else:
            self.bad += 1
            if self.patience is not None and self.bad >= self.patience:
                raise StopEarly(f"validation loss has not improved for {self.bad} evaluations")
        return {"valid_loss": row["valid_loss"], "valid_accuracy": row["valid_accuracy"]}

    def restore(self, model) -> None:
        if self.best_state is None:
            raise ValueError("EarlyStopping.restore: no evaluation has run yet")
        model.load_state_dict(self.best_state)


@dataclass(frozen=True)
class FineTuneConfig:
    """How ``fine_tune`` trains: AdamW (``lr``, ``weight_decay``), warm-up share and linear decay, clipping at
    ``clip``, ``epochs`` over the training set (a fraction is fine) in batches of ``batch_size``; validation
    ``evals_per_epoch`` times per epoch with early stopping after ``patience`` evaluations without progress
    (None: keep the best, never stop); ``alpha``: class-rebalanced sampling (None: plain epochs); ``weighted``:
    the class-weighted loss."""

    lr: float = 5e-5
    batch_size: int = 32
    epochs: float = 1.0
    warmup: float = 0.1
    weight_decay: float = 0.01
    clip: float = 1.0
    evals_per_epoch: int = 1
    patience: int | None = 2
    alpha: float | None = None
    weighted: bool = False
    seed: int = 0

    def __post_init__(self):
        if not (self.epochs > 0 and self.batch_size >= 1 and self.evals_per_epoch >= 1):
            raise ValueError(f"FineTuneConfig needs epochs > 0, batch_size >= 1, evals_per_epoch >= 1; got {self}")

    def steps(self, n: int) -> int:
        return max(1, math.ceil(self.epochs * n / self.batch_size))


def fine_tune(model, train, cfg: FineTuneConfig, valid=None, pad_id: int = 0, progress: bool = True,
              desc: str = "fine-tuning", loss_fn=None, after_step=None) -> tuple[object, pd.DataFrame]:
    """Train ``model`` on the ``tokenize`` dataset ``train`` with ``training.fit``; returns ``(model, history)``.

    With ``valid``, ``EarlyStopping`` evaluates the starting weights (step 0: a head copied from a probe may
    already be the best model) and then ``cfg.evals_per_epoch`` times per epoch, may end the run, and the best
    weights are restored at the end (``history.attrs["best_step"]``, 0 when no step beat the start). The history has
    one row per step (``step, loss, accuracy`` and, at evaluations, ``valid_loss, valid_accuracy``; row 0 is the
    evaluation of the start). Dropout draws from the global torch generator, which is seeded with ``cfg.seed`` for
    the run and restored afterwards; ``history.attrs["train_seconds"]`` is the wall time of the run.
    ``loss_fn(model, batch) -> (loss, parts)`` replaces the classification loss (with ``cfg.weighted``: a
    ``ValueError``); ``after_step`` goes to ``training.fit``.
    """
    n, num_classes = len(train), max(2, model.config.num_labels)
    steps = cfg.steps(n)
    per_epoch = max(1, math.ceil(n / cfg.batch_size))
    eval_every = max(1, per_epoch // cfg.evals_per_epoch)
    if after_step is not None and valid is not None:
        raise ValueError("fine_tune: after_step changes the model outside the optimizer (AdaLoRA's masks); early "
                         "stopping would restore a state from before it. Train without valid")
    if loss_fn is not None and cfg.weighted:
        raise ValueError("fine_tune: cfg.weighted weights the classification loss; a custom loss_fn replaces it")
    weight = class_weights(train["labels"], num_classes) if cfg.weighted else None
    base_fn = loss_fn or classification_loss_fn(weight)
    trace: list[dict] = []

    def traced_loss(m, batch):  # keeps the per-step losses, which fit's history loses when StopEarly ends the run
        loss, parts = base_fn(m, batch)
        trace.append({"step": len(trace) + 1, "loss": loss.item(), **parts})
        return loss, parts

    start_time = time.perf_counter()
    stopper = EarlyStopping(valid, cfg.patience, pad_id=pad_id) if valid is not None else None
    eval_steps = [0] + [s for s in range(1, steps + 1) if s % eval_every == 0 or s == steps]  # fit's schedule
    train_cfg = TrainConfig(steps=steps, lr=cfg.lr, warmup=cfg.warmup, weight_decay=cfg.weight_decay, clip=cfg.clip,
                            eval_every=eval_every if stopper else 0, log_every=max(1, min(10, steps)))
    batches = train_batches(train, cfg.batch_size, cfg.seed, cfg.alpha, num_classes if cfg.alpha is not None
                            else None, pad_id)
    with torch.random.fork_rng(devices=[] if not torch.cuda.is_available() else None):
        torch.manual_seed(cfg.seed)
        if stopper is not None:
            stopper(model)  # step 0
        try:
            history = fit(model, traced_loss, batches, train_cfg, evaluate=stopper, progress=progress, desc=desc,
                          after_step=after_step)
            history = history.drop(columns=["valid_loss", "valid_accuracy"], errors="ignore")
        except StopEarly:
            history = pd.DataFrame(trace)
    if stopper is not None:
        evals = pd.DataFrame(stopper.history)
        evals["step"] = [eval_steps[c - 1] for c in evals["call"]]
        history = history.merge(evals.drop(columns="call"), on="step", how="outer").sort_values("step")
        history = history.reset_index(drop=True)  # row 0: the evaluation of the start (no training loss)
        stopper.restore(model)
        history.attrs["best_step"] = eval_steps[stopper.best_call - 1]
        history.attrs["stopped_early"] = len(trace) < steps
    history.attrs["train_seconds"] = time.perf_counter() - start_time  # validation included; kept by the cache
    model.eval()
    return model, history


def kept_validation(history: pd.DataFrame) -> dict:
    """``{"best_step", "valid_loss", "valid_accuracy"}`` of the weights a ``fine_tune`` run kept: its evaluation at
    ``history.attrs["best_step"]``."""
    if "best_step" not in history.attrs or "valid_loss" not in history:
        raise ValueError("kept_validation needs the history of a fine_tune run with valid= (no best_step or "
                         "valid_loss in it)")
    rows = history[(history["step"] == history.attrs["best_step"]) & history["valid_loss"].notna()]
    if len(rows) != 1:
        raise ValueError(f"kept_validation: {len(rows)} evaluations at best_step {history.attrs['best_step']}, "
                         "expected 1")
    row = rows.iloc[0]
    return {"best_step": int(row["step"]), "valid_loss": float(row["valid_loss"]),
            "valid_accuracy": float(row["valid_accuracy"])}


def choose_start(histories: dict[str, pd.DataFrame], by: str = "valid_accuracy") -> pd.DataFrame:
    """Choose between fine-tuning runs that differ in where they start (a probe's head or a random head, each with
    its own learning rate), all evaluated on the same validation set: one row per run (``kept_validation``) and
    ``chosen``, True for the best ``by``: the highest ``"valid_accuracy"`` (the metric reported) or the lowest
    ``"valid_loss"`` (early stopping's criterion inside a run). A tie goes to the run given first. A non-finite
    value raises ``ValueError`` naming the run."""
    if by not in ("valid_accuracy", "valid_loss"):
        raise ValueError(f"choose_start: by must be 'valid_accuracy' or 'valid_loss', got {by!r}")
    if not histories:
        raise ValueError("choose_start needs at least one run")
    kept = {}
    for name, history in histories.items():
        try:
            kept[name] = kept_validation(history)
        except ValueError as err:
            raise ValueError(f"choose_start: run {name!r}: {err}") from err
    frame = pd.DataFrame.from_dict(kept, orient="index")
    bad = frame.index[~np.isfinite(frame[by].to_numpy(dtype=float))].tolist()
    if bad:
        raise ValueError(f"choose_start: non-finite {by} for {bad}; the run diverged, so lower its learning rate")
    frame["chosen"] = False
    frame.loc[frame[by].idxmax() if by == "valid_accuracy" else frame[by].idxmin(), "chosen"] = True
    return frame


def trainer_fine_tune(model, train, cfg: FineTuneConfig, tokenizer, output_dir, progress: bool = False):
    """The same run as ``fine_tune`` (no validation) through ``transformers.Trainer``: AdamW with the same groups,
    learning rate, weight decay, warm-up steps, linear decay, clipping, batch size and number of steps; only the
    batch order differs (Trainer's seeded random sampler). Returns ``(model, log frame)``; saves no checkpoint.
    Class weights and class sampling (``cfg.weighted``, ``cfg.alpha``) have no Trainer counterpart here: a
    ``ValueError``."""
    from transformers import DataCollatorWithPadding, PrinterCallback, Trainer, TrainingArguments

    if cfg.alpha is not None or cfg.weighted:
        raise ValueError(f"trainer_fine_tune runs the plain loss on plain epochs; got alpha={cfg.alpha}, "
                         f"weighted={cfg.weighted}")
    steps = cfg.steps(len(train))
    args = TrainingArguments(
        output_dir=str(output_dir), per_device_train_batch_size=cfg.batch_size, learning_rate=cfg.lr,
        weight_decay=cfg.weight_decay, max_grad_norm=cfg.clip, max_steps=steps,
        warmup_steps=TrainConfig(steps=steps, lr=cfg.lr, warmup=cfg.warmup).warmup_steps,
        lr_scheduler_type="linear", seed=cfg.seed, data_seed=cfg.seed, logging_steps=max(1, steps // 20),
        save_strategy="no", report_to="none", disable_tqdm=not progress, dataloader_num_workers=0,
        use_cpu=next(model.parameters()).device.type == "cpu")
    trainer = Trainer(model=model, args=args, train_dataset=train.remove_columns("length"),
                      data_collator=DataCollatorWithPadding(tokenizer))
    trainer.remove_callback(PrinterCallback)  # its printed dict per log step; the logs are returned instead
    trainer.train()
    model.eval()
    return model, pd.DataFrame(trainer.state.log_history)


def cached_fine_tune(name: str, start, start_key: dict, train, cfg: FineTuneConfig, tokenizer, valid=None,
                     device=None, progress: bool = True) -> tuple[object, pd.DataFrame]:
    """``fine_tune(start(), train, cfg, valid)`` through ``load_or_fine_tune``: trained on first use, loaded after.

    ``start() -> model`` builds the starting model; ``start_key`` must name everything it depends on (the base
    weights' key, the head: a probe's ``linear_probe.fingerprint``, frozen layers, seed). The key adds the token
    ids and labels of ``train`` and ``valid`` (``dataset_fingerprint``) and ``cfg``."""
    key = {"start": start_key, "train": dataset_fingerprint(train),
           "valid": None if valid is None else dataset_fingerprint(valid), "config": cfg}
    pad_id = tokenizer.pad_token_id or 0
    return load_or_fine_tune(name, key, lambda: fine_tune(start(), train, cfg, valid=valid, pad_id=pad_id,
                                                          progress=progress, desc=name), tokenizer, device)


def load_or_fine_tune(name: str, key: dict, train_fn, tokenizer, device=None) -> tuple[object, pd.DataFrame]:
    """``(model, history)`` of ``train_fn() -> (model, history)``, saved through ``xlrec_lib.cache`` (model and
    tokenizer with ``save_pretrained``, the history as CSV) in ``models/finetuned-<name>-<fingerprint of key>`` and
    loaded (checked) on later calls. ``key`` must name everything the model depends on: the base checkpoint, the
    training data, the ``FineTuneConfig``; ``VERSION`` is added."""
    from xlrec_lib import cache

    folder = cache.artefact_dir("models", f"finetuned-{name}-{cache.fingerprint(key, VERSION)}")

    def build(tmp):
        model, history = train_fn()
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        history.to_csv(tmp / "history.csv", index=False)
        (tmp / "history_attrs.json").write_text(json.dumps(history.attrs))  # best_step, stopped_early

    def load(path):
        history = pd.read_csv(path / "history.csv")
        history.attrs.update(json.loads((path / "history_attrs.json").read_text()))
        return load_classifier(path, device), history

    return cache.load_or_build(folder, build, load)


__all__ = ["VERSION", "bce_with_logits", "bce_logit_grad", "classification_loss", "predicted_labels",
           "class_counts", "class_weights", "class_shares", "sampled_batches", "MeanPoolBertConfig",
           "BertMeanPoolClassifier", "classifier_from_encoder", "set_head", "classifier_from_probe",
           "dataset_fingerprint", "load_classifier", "freeze", "tokenize",
           "collate",
           "train_batches", "classification_loss_fn", "predict_logits", "evaluate", "seed_loop", "StopEarly",
           "EarlyStopping", "FineTuneConfig", "fine_tune", "kept_validation", "choose_start",
           "trainer_fine_tune", "cached_fine_tune",
           "load_or_fine_tune"]

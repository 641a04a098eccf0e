"""Two towers learned from interactions: the course encoder fine-tuned on the related-verse task's training links.

A training edge of ``related_verses.RelatedVerseTask`` is an interaction between two items: a human linked verse a
to verse b. A two-tower recommender embeds each side with an encoder and scores a pair by the cosine of the two
vectors (seed 000's h_u, h_i and cos). Trained with in-batch negatives (``crosslingual.contrastive.
train_contrastive``: the other pairs of a batch are the negatives), the towers learn which verses go together.
Both towers are one shared encoder, since a verse is a query on one visit and a candidate on the next.

The languages of the training pairs decide what there is to transfer: with ``langs=("en",)`` every pair is English
and the other languages ride on the alignment the encoder already has; with all six, each end of a pair is drawn in
a language of its own, so batches mix languages as the test grid does.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from xlrec_lib import cache
from xlrec_lib.config import device
from xlrec_lib.encoders.pooling import HFEncoder
from xlrec_lib.encoders.protocol import texts_digest

VERSION = 2  # 2: trained with the encoder's prefix, under train_contrastive's seeded torch generator
INFO_FILE = "xlrec_two_tower.json"


@dataclass(frozen=True)
class TwoTowerConfig:
    """``langs``: the languages each end of a training pair is drawn from (uniformly, independently per end);
    ``steps`` of ``batch_size`` pairs at ``lr`` (AdamW, warm-up and linear decay), InfoNCE at ``temperature``."""

    langs: tuple[str, ...] = ("en",)
    steps: int = 500
    batch_size: int = 64
    lr: float = 5e-4
    temperature: float = 0.05
    max_length: int = 128
    seed: int = 0

    def __post_init__(self):
        if not self.langs or self.steps < 1 or self.batch_size < 2 or not self.lr > 0 or not self.temperature > 0:
            raise ValueError(f"TwoTowerConfig needs langs, steps >= 1, batch_size >= 2, lr > 0 and temperature > 0; "
                             f"got {self}")


def edge_ends(task) -> tuple[np.ndarray, np.ndarray]:
    """Catalogue positions ``(a, b)``, each ``(n_edges,)``, of every undirected training edge of ``task`` once
    (``a < b`` by verse id), in the order of ``task.train_edges``: the pairs ``edge_text_pairs`` turns into text."""
    edges = task.train_edges[task.train_edges[:, 0] < task.train_edges[:, 1]]
    return task.index(edges[:, 0]), task.index(edges[:, 1])


def edge_text_pairs(task, texts: Mapping[str, Sequence[str]], langs: Sequence[str],
                    seed: int = 0) -> tuple[list[str], list[str]]:
    """``(src, tgt)``: one pair of texts per undirected training edge of ``task``, in the order of
    ``task.train_edges``. ``texts[lang][i]`` is catalogue verse ``i`` (``task.catalogue[i]``) in ``lang``; each end's
    language is drawn uniformly from ``langs``, independently (a NumPy generator seeded with ``seed``). ``texts[lang]``
    is read by position (a list, or a Series in catalogue order)."""
    langs = list(langs)
    missing = [lang for lang in langs if lang not in texts]
    if not langs or missing:
        raise ValueError(f"edge_text_pairs: no texts for languages {missing or langs}; texts has {sorted(texts)}")
    short = {lang: len(texts[lang]) for lang in langs if len(texts[lang]) != len(task.catalogue)}
    if short:
        raise ValueError(f"edge_text_pairs: texts must hold one text per catalogue verse ({len(task.catalogue)}); "
                         f"got {short}")
    texts = {lang: list(texts[lang]) for lang in langs}  # by position: a Series' own index plays no part
    a, b = edge_ends(task)
    if len(a) < 2:
        raise ValueError(f"edge_text_pairs: {len(a)} training edge(s); in-batch negatives need at least 2")
    rng = np.random.default_rng(seed)
    lang_a, lang_b = rng.integers(len(langs), size=len(a)), rng.integers(len(langs), size=len(a))
    src = [texts[langs[la]][i] for la, i in zip(lang_a.tolist(), a.tolist(), strict=True)]
    tgt = [texts[langs[lb]][j] for lb, j in zip(lang_b.tolist(), b.tolist(), strict=True)]
    return src, tgt


def in_batch_false_negatives(task, texts: Mapping[str, Sequence[str]], cfg: TwoTowerConfig) -> dict[str, float]:
    """How many in-batch negatives of ``load_or_train``'s run were no negatives at all.

    Replays the batches it trains on in one process (``contrastive.pair_batch_indices`` over ``edge_text_pairs(task,
    texts, cfg.langs, cfg.seed)``, ``cfg.steps`` of them; a multi-process launch splits them) and, in both
    directions of the symmetric loss, counts the candidates from the other pairs of a batch that are linked to the
    query verse by a training edge (a row's own positive, drawn again by another pair, is one of these) or are the
    query verse itself (another link of the same verse: the same text, or its translation). Returns ``negatives``
    (all candidates counted), ``false``, ``share`` (false / negatives), ``itself`` (how many of the false are the
    query verse) and ``rows_with_one`` (the share of a batch's rows, per direction, with at least one)."""
    from itertools import islice

    from xlrec_lib.crosslingual.contrastive import pair_batch_indices

    src, tgt = edge_text_pairs(task, texts, cfg.langs, cfg.seed)
    a, b = edge_ends(task)  # pair i of (src, tgt) is edge (a[i], b[i])
    linked = task.adjacency()
    negatives = false = itself = rows = rows_with_one = 0
    for idx in islice(pair_batch_indices(src, tgt, cfg.batch_size, cfg.seed), cfg.steps):
        for query, positive in ((a[idx], b[idx]), (b[idx], a[idx])):  # each direction of the loss
            same = query[:, None] == positive[None, :]  # (batch, batch): query r, candidate c
            bad = (linked[query][:, positive].toarray() > 0) | same
            np.fill_diagonal(bad, False)  # the diagonal is the positive itself
            np.fill_diagonal(same, False)
            negatives += bad.size - len(idx)
            false += int(bad.sum())
            itself += int(same.sum())
            rows += len(idx)
            rows_with_one += int(bad.any(axis=1).sum())
    return {"negatives": negatives, "false": false, "share": false / negatives, "itself": itself,
            "rows_with_one": rows_with_one / rows}


def load_or_train(encoder: HFEncoder, task, texts: Mapping[str, Sequence[str]], cfg: TwoTowerConfig,
                  name: str = "two-tower", progress: bool = True) -> tuple[HFEncoder, dict]:
    """``(towers, info)``: a copy of ``encoder``'s model fine-tuned on ``edge_text_pairs(task, texts, cfg.langs)``
    with ``train_contrastive`` (``encoder`` is not changed), behind the encoder protocol. Trained on first use and
    cached (key: ``encoder.key``, with its text prefix, the training edges and catalogue, the texts of ``cfg.langs``,
    ``cfg``); ``info`` holds the number of pairs, the loss of every step and the
    training seconds. The towers train on the texts as they encode them, with ``encoder.prefix`` in front (e5's
    ``"query: "``) and cut at ``cfg.max_length`` tokens, and load back with the base model's own class
    (``AutoModel``; a BERT without its pooler). The inputs are checked before anything is trained or looked up."""
    from transformers import AutoConfig, AutoModel, BertModel

    from xlrec_lib.crosslingual.contrastive import train_contrastive

    src, tgt = edge_text_pairs(task, texts, cfg.langs, cfg.seed)  # checks the texts before they are digested
    edges = np.ascontiguousarray(task.train_edges, dtype=np.int64)
    key = {"base": encoder.key, "edges": hashlib.sha256(edges.tobytes()).hexdigest()[:16],
           "catalogue": hashlib.sha256(np.ascontiguousarray(task.catalogue, np.int64).tobytes()).hexdigest()[:16],
           "texts": {lang: texts_digest(list(texts[lang])) for lang in cfg.langs}, "config": asdict(cfg)}
    folder = cache.artefact_dir("models", f"two-tower-{cache.fingerprint(key, VERSION)}")

    def build(tmp: Path) -> None:
        model = copy.deepcopy(getattr(encoder.model, "base_model", encoder.model))
        a, b = [encoder.prefix + t for t in src], [encoder.prefix + t for t in tgt]
        start = time.perf_counter()
        history = train_contrastive(model, encoder.tokenizer, a, b, steps=cfg.steps, batch_size=cfg.batch_size,
                                    lr=cfg.lr, temperature=cfg.temperature, max_length=cfg.max_length,
                                    seed=cfg.seed, center=False, progress=progress)
        model.save_pretrained(tmp)
        encoder.tokenizer.save_pretrained(tmp)
        info = {"pairs": len(a), "losses": history["loss"].tolist(), "seconds": time.perf_counter() - start,
                "config": asdict(cfg)}
        (tmp / INFO_FILE).write_text(json.dumps(info), encoding="utf-8")

    def load(path: Path) -> tuple[HFEncoder, dict]:
        if AutoConfig.from_pretrained(path).model_type == "bert":  # the course's BERT, saved without a pooler
            model = BertModel.from_pretrained(path, add_pooling_layer=False)
        else:
            model = AutoModel.from_pretrained(path, trust_remote_code=False)
        model = model.to(device()).eval()
        info = json.loads((path / INFO_FILE).read_text(encoding="utf-8"))
        towers = HFEncoder(model, encoder.tokenizer, name, prefix=encoder.prefix, max_length=cfg.max_length,
                           batch_size=encoder.batch_size, weights_key=path.name)
        return towers, info

    return cache.load_or_build(folder, build, load)


__all__ = ["VERSION", "TwoTowerConfig", "edge_ends", "edge_text_pairs", "in_batch_false_negatives", "load_or_train"]

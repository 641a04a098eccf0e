"""The course's aligned encoder: the MLM chapter's tiny BERT, fine-tuned by InfoNCE on parallel training verses.

Training pairs are translation pairs of verses from the ``train`` split of ``xlrec_lib.lm.corpus`` (Mark, John and
Psalms never enter): English-pivot pairs or every pair of languages, languages drawn uniformly or by size
(``crosslingual.pair_sampling``). The course's encoder is trained in two stages, English-Chinese first, then every
pair of the six languages from that model (``course_encoder``). The model and its tokenizer are saved through
``xlrec_lib.cache`` under a key made of the base checkpoint, this configuration and the versions of the code that
trains it, so that the chapter trains once and loads (checked) afterwards; the folder also loads through
``XLREC_ENCODER=hf:<folder>``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from xlrec_lib import cache
from xlrec_lib.config import device, is_quick
from xlrec_lib.crosslingual.pair_sampling import MIXES, PairSample, language_pairs, pair_probabilities, sample_pairs
from xlrec_lib.encoders.pooling import HFEncoder
from xlrec_lib.lm.tokenization import language_sampling_probs, tokens_per_unit

VERSION = 2  # training_sample and align (with the loop in crosslingual.contrastive): bumped with their results
INFO_FILE = "xlrec_align.json"


def versions() -> dict:
    """What an aligned model depends on besides its config and base: this module, the pair sampling, the pooling it
    trains through, the code-switching and lexicon rules and the lexicon's archive, the word rules and the corpus."""
    from xlrec_lib.crosslingual import code_switching, pair_sampling
    from xlrec_lib.data import text
    from xlrec_lib.data.cedict import VERSION as CEDICT_VERSION
    from xlrec_lib.data.sources import get_source
    from xlrec_lib.encoders import pooling
    from xlrec_lib.lm import corpus

    return {"aligned_encoder": VERSION, "pair_sampling": pair_sampling.VERSION, "pooling": pooling.VERSION,
            "code_switching": code_switching.VERSION, "cedict": CEDICT_VERSION,
            "cedict_archive": get_source("cedict").sha256, "text": text.VERSION, "corpus": corpus.versions()}


@dataclass(frozen=True)
class AlignConfig:
    """Everything that determines the aligned model besides its base checkpoint (and so the cache key)."""

    langs: tuple[str, ...] = ("zh",)  # the languages besides English
    pair_mix: str = "pivot"  # "pivot": (en, X) pairs only; "all": every pair of en + langs (pair_sampling)
    alpha: float = 0.0  # language sampling q_l ~ n_l^alpha, n_l = tokens of l's pretraining text; 0 = uniform
    steps: int = 200
    batch_size: int = 128
    lr: float = 1e-3  # the 4-layer model with code-switching needs <= 1e-3 to converge
    temperature: float = 0.05
    max_length: int = 64
    train_fraction: float = 1.0  # share of the training pairs used (seeded)
    code_switch: float = 0.0  # code-switching rate (0 = off); see xlrec_lib.crosslingual.code_switching
    center: bool = True  # batch-centred InfoNCE (crosslingual.contrastive.info_nce)
    seed: int = 0
    eval_every: int = 0  # > 0: P@1 on Mark (valid) every this many steps, kept in the info as a curve
    eval_verses: int = 300  # first verses of Mark for that curve

    def __post_init__(self):
        langs_ok = (isinstance(self.langs, tuple) and bool(self.langs) and "en" not in self.langs
                    and all(isinstance(x, str) for x in self.langs) and len(set(self.langs)) == len(self.langs))
        bad = {name: getattr(self, name) for name, ok in (
            ("langs", langs_ok), ("pair_mix", self.pair_mix in MIXES),
            ("alpha", self.alpha >= 0), ("steps", self.steps >= 1), ("batch_size", self.batch_size >= 2),
            ("lr", self.lr > 0), ("temperature", self.temperature > 0), ("max_length", self.max_length >= 4),
            ("train_fraction", 0 < self.train_fraction <= 1), ("code_switch", 0 <= self.code_switch < 1),
            ("eval_every", self.eval_every >= 0), ("eval_verses", self.eval_verses >= 1)) if not ok}
        if bad:
            raise ValueError(f"AlignConfig: {bad} out of range: langs a tuple of distinct languages besides English "
                             f"(at least one), pair_mix in {MIXES}, alpha >= 0, steps >= 1, batch_size >= 2, lr and "
                             "temperature > 0, max_length >= 4, 0 < train_fraction <= 1, 0 <= code_switch < 1, "
                             "eval_every >= 0, eval_verses >= 1")

    def key(self, base: str, data: str | None = None) -> str:
        """Cache folder name of the model aligned from the checkpoint named ``base`` with this config, on the verses
        whose :func:`data_digest` is ``data``."""
        what = {"base": base, **asdict(self)} | ({"data": data} if data is not None else {})
        return f"aligned-{cache.fingerprint(what, versions())}"


def data_digest(verses, cfg: AlignConfig) -> str:
    """A digest of what ``align`` reads of ``verses``: the ids and texts (in the languages of ``cfg``) of the train
    rows, and of the valid rows when ``cfg.eval_every`` records the Mark curve. Part of the cache key, so that
    another frame (a subset, other translations) trains its own model instead of loading one trained on the
    course's."""
    langs = sorted({lang for pair in language_pairs(cfg.langs, cfg.pair_mix) for lang in pair})
    missing = [c for c in ("verse_id", "split", *langs) if c not in verses.columns]
    if missing:
        raise ValueError(f"verses have no column {missing}; build them with lm.corpus.load_verses")
    part = verses[verses["split"].isin(["train", "valid"] if cfg.eval_every else ["train"])]
    h = hashlib.sha256()
    for column in ("verse_id", "split", *langs):  # unit and record separators: no two frames join alike
        h.update(f"\x1e{column}\x1f".encode())
        h.update("\x1f".join(map(str, part[column].tolist())).encode("utf-8"))
    return h.hexdigest()[:16]


def training_sample(verses, cfg: AlignConfig, tokenizer=None) -> PairSample:
    """The translation pairs ``cfg`` trains on: ``round(train_fraction * len(train) * len(langs))`` pairs of the
    ``train`` split (as many as one pass of every English-pivot pair), drawn with ``cfg.pair_mix`` and
    ``cfg.alpha``. With ``alpha > 0`` the language sizes are the token counts (``tokenizer``) of each language's
    pretraining text (``lm.corpus``: training verses plus the extra reviews and titles)."""
    pairs = language_pairs(cfg.langs, cfg.pair_mix)
    langs = list(dict.fromkeys(lang for pair in pairs for lang in pair))
    if cfg.alpha == 0:
        sizes = dict.fromkeys(langs, 1)
    else:
        if tokenizer is None:
            raise ValueError("training_sample: alpha > 0 weighs languages by their token counts; pass the tokenizer")
        sizes = language_sizes(tokenizer, verses, langs)
    probs = pair_probabilities(pairs, language_sampling_probs(sizes, cfg.alpha))
    n_train = int((verses["split"] == "train").sum())
    n = max(2, int(round(cfg.train_fraction * n_train * len(cfg.langs))))
    return sample_pairs(verses, pairs, probs, n, seed=cfg.seed)


def language_sizes(tokenizer, verses, langs) -> dict[str, int]:
    """Tokens of each language's pretraining text (training verses plus ``corpus.extra_training_texts``), untruncated
    and without special tokens: close to, not equal to, the counts pretraining samples by (``build_streams`` counts
    its truncated examples)."""
    from xlrec_lib.lm.corpus import extra_training_texts, monolingual_texts

    texts = monolingual_texts(verses, langs, "train", extra_training_texts())
    return tokens_per_unit(tokenizer, texts)["tokens"].astype(int).to_dict()


def valid_hits(model, tokenizer, verses, langs: tuple[str, ...], n_verses: int | None, max_length: int,
               skip: int = 0) -> dict[tuple[str, str], np.ndarray]:
    """Per-verse P@1 hits on ``n_verses`` of Mark (valid; ``None``: all the rest) after its first ``skip``, for every
    directed pair of ``langs``: ``{(src, tgt): (n,) 0/1}``, for choices with paired intervals
    (``intervals.paired_difference``). ``skip`` keeps a second choice off the verses a first one was made on."""
    from xlrec_lib.crosslingual.per_query import hits_at
    from xlrec_lib.encoders.pooling import embed_texts

    if skip < 0 or (n_verses is not None and n_verses < 1):
        raise ValueError(f"valid_hits: skip must be >= 0 and n_verses None or >= 1, got {skip} and {n_verses}")
    mark = verses[verses["split"] == "valid"]
    mark = mark.iloc[skip:] if n_verses is None else mark.iloc[skip:skip + n_verses]
    if mark.empty:
        raise ValueError(f"valid_hits: no verse of Mark (the 'valid' split) after the first {skip}")
    emb = {lang: embed_texts(model, tokenizer, mark[lang].tolist(), max_length=max_length) for lang in langs}
    return {(a, b): hits_at(emb[a], emb[b]) for a in langs for b in langs if a != b}


def p1_means(hits: dict[tuple[str, str], np.ndarray], pivot: str = "en") -> dict[str, float]:
    """Mean P@1 of ``valid_hits`` over every directed pair (``mark_p1``), over those with the ``pivot``
    (``mark_p1_pivot``) and over the others (``mark_p1_other``); each of the last two absent when it has no pair."""
    p1 = {pair: h.mean() for pair, h in hits.items()}
    with_pivot = [v for pair, v in p1.items() if pivot in pair]
    other = [v for pair, v in p1.items() if pivot not in pair]
    if not p1:
        raise ValueError("p1_means: no language pair")
    out = {"mark_p1": float(np.mean(list(p1.values())))}
    out |= {"mark_p1_pivot": float(np.mean(with_pivot))} if with_pivot else {}
    return out | ({"mark_p1_other": float(np.mean(other))} if other else {})


def mark_curve(tokenizer, verses, langs: tuple[str, ...], n_verses: int, max_length: int, pivot: str = "en"):
    """``evaluate(model) -> dict`` for ``training.fit``: ``p1_means`` of ``valid_hits`` on the first ``n_verses``
    of Mark."""

    def evaluate(model) -> dict:
        return p1_means(valid_hits(model, tokenizer, verses, langs, n_verses, max_length), pivot)

    return evaluate


def align(tokenizer, model, verses, cfg: AlignConfig = AlignConfig(), progress: bool = True):
    """``(encoder, info)``: a ``BertModel`` aligned from a copy of ``model``'s encoder (``model`` is not changed);
    ``info`` holds the config, the number of pairs and each language pair's share of them, the loss of every step,
    the Mark curve (``cfg.eval_every``; it includes the evaluation time) and the seconds. Saves nothing
    (``load_or_align`` caches)."""
    import time

    from xlrec_lib.crosslingual.contrastive import train_contrastive

    encoder = copy.deepcopy(getattr(model, "base_model", model))
    sample = training_sample(verses, cfg, tokenizer)
    src, tgt = sample.src, sample.tgt
    augment = None
    if cfg.code_switch > 0:
        from xlrec_lib.crosslingual.code_switching import code_switcher
        from xlrec_lib.data import bilingual_lexicon

        if cfg.langs != ("zh",) or cfg.pair_mix != "pivot":
            raise ValueError("code-switching uses the English-Chinese lexicon: it needs langs=('zh',) and "
                             f"pair_mix='pivot', not {cfg.langs} and {cfg.pair_mix!r}")
        augment = code_switcher(bilingual_lexicon("train"), rate=cfg.code_switch)
    evaluate = None
    if cfg.eval_every:
        langs = tuple(dict.fromkeys(lang for pair in language_pairs(cfg.langs, cfg.pair_mix) for lang in pair))
        evaluate = mark_curve(tokenizer, verses, langs, cfg.eval_verses, cfg.max_length)
    start = time.perf_counter()
    history = train_contrastive(encoder, tokenizer, src, tgt, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
                                temperature=cfg.temperature, max_length=cfg.max_length, seed=cfg.seed,
                                augment=augment, progress=progress, center=cfg.center, evaluate=evaluate,
                                eval_every=cfg.eval_every)
    curve = history[[]]
    if evaluate is not None:
        curve = history.dropna(subset=["mark_p1"])[["step"] + [c for c in history if c.startswith("mark_")]]
    info = {"config": asdict(cfg), "pairs": len(src), "pair_shares": sample.shares().round(4).to_dict(),
            "losses": history["loss"].tolist(), "curve": curve.to_dict("list"),
            "seconds": time.perf_counter() - start}
    return encoder.eval(), info


def load_or_align(tokenizer, model, base_key: str, verses, cfg: AlignConfig = AlignConfig(), progress: bool = True,
                  name: str = "aligned tiny BERT") -> tuple[HFEncoder, dict]:
    """``(encoder, info)`` of ``align``: the aligned model behind the encoder protocol (on ``device()``), trained on
    first use and loaded from the cache afterwards. ``base_key`` names ``model``'s weights (its cache folder
    name: the MLM checkpoint's, or an aligned model's to continue from it); ``verses``: a frame with ``split``
    and one column per language (``xlrec_lib.lm.corpus.load_verses``); the key holds ``cfg``, ``base_key``, the
    code's versions and :func:`data_digest` of ``verses``."""
    from transformers import BertModel

    def build(tmp: Path) -> None:
        encoder, info = align(tokenizer, model, verses, cfg, progress)
        encoder.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / INFO_FILE).write_text(json.dumps({**info, "base": base_key}), encoding="utf-8")

    def load(folder: Path) -> tuple[HFEncoder, dict]:
        encoder = BertModel.from_pretrained(folder, add_pooling_layer=False).to(device()).eval()
        info = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
        return HFEncoder(encoder, tokenizer, name, weights_key=folder.name), info

    return cache.load_or_build(cache.artefact_dir("models", cfg.key(base_key, data_digest(verses, cfg))), build,
                               load)


SIX_LANGUAGES = ("zh", "fr", "es", "de", "ru")  # with English: the six pretraining languages


def pair_config(quick: bool, cuda: bool = False, center: bool = True) -> AlignConfig:
    """The mapping chapter's English-Chinese alignment, its model (c), for a mode: quick 120 steps x 64 pairs at
    lr 2e-3; full 1,000 steps x 128 (1,500 with CUDA) at 1e-3. The six-language model continues from it
    (:func:`course_encoder`)."""
    if quick:
        return AlignConfig(steps=120, batch_size=64, lr=2e-3, center=center)
    return AlignConfig(steps=1500 if cuda else 1000, batch_size=128, center=center)


def multilingual_config(quick: bool, cuda: bool = False, pair_mix: str = "all", alpha: float = 0.0,
                        center: bool = True) -> AlignConfig:
    """The mapping chapter's six-language alignment for a mode, trained from the English-Chinese model of
    :func:`pair_config` (a curriculum: one pair, then every pair; :func:`course_encoder`). The defaults (every pair
    of the six languages, uniform language sampling, the batch-centred loss) are the choices that chapter made on
    Mark when they were set, in quick mode on an earlier checkpoint. Any run can choose otherwise (short runs are
    sensitive to their start): the chapter then measures this default beside its choice and checks that it
    learned, since ``course_encoder`` loads it. Quick: 120 steps x 64 pairs at lr 2e-3; full: 1,000 steps x 128
    (1,500 with CUDA) at 1e-3, with the Mark curve."""
    common = dict(langs=SIX_LANGUAGES, pair_mix=pair_mix, alpha=alpha, center=center)
    if quick:
        return AlignConfig(steps=120, batch_size=64, lr=2e-3, **common)
    return AlignConfig(steps=1500 if cuda else 1000, batch_size=128, eval_every=250, **common)


def choice_config(quick: bool, pair_mix: str = "all", alpha: float = 0.0, center: bool = True) -> AlignConfig:
    """One arm of the mapping chapter's pair-mix choice (made on Mark). Quick: the quick configuration itself (the
    quick model is the chosen arm). Full: a shorter run of the full configuration, ``eval_every`` steps (250 x 128
    at 1e-3, a quarter of the CPU run) on its own warm-up and decay, without the Mark curve: not the final run
    stopped at its first curve point, whose learning rate is still high there. At quick's 120 x 64 the arms of the
    4-layer full model failed: at 1e-3 all four ended above log B, at 2e-3 three of four (0.15 below it)."""
    cfg = multilingual_config(quick, pair_mix=pair_mix, alpha=alpha, center=center)
    if quick:
        return cfg
    return replace(cfg, steps=cfg.eval_every, eval_every=0)


def pair_encoder(tokenizer, bert, base_key: str, verses, quick: bool | None = None, progress: bool = True,
                 center: bool = True) -> tuple[HFEncoder, dict]:
    """``(encoder, info)``: the MLM checkpoint ``bert`` (named ``base_key``) aligned on English-Chinese pairs with
    :func:`pair_config` for the mode (``None``: ``XLREC_QUICK``; with CUDA present, the longer GPU budget), through
    :func:`load_or_align`: :func:`course_encoder`'s first stage, and the mapping chapter's model (c) when that
    chapter keeps the centred loss (``center``)."""
    cfg = pair_config(is_quick(quick), cuda=device().type == "cuda", center=center)
    return load_or_align(tokenizer, bert, base_key, verses, cfg, progress=progress, name="tiny BERT + InfoNCE")


def course_encoder(quick: bool | None = None, progress: bool = True) -> tuple[HFEncoder, dict]:
    """``(encoder, info)``: the course's six-language aligned encoder, in one call for the chapters after the mapping
    chapter. Loads (or trains, then caches) the MLM chapter's checkpoint for the mode, aligns it on English-Chinese
    pairs (:func:`pair_config`, the chapter's model (c)) and continues from that model on every pair of the six
    languages (:func:`multilingual_config`): the same cached models the mapping chapter builds when its choices are
    the defaults. The six-language model's cache key holds the English-Chinese model's, so each stage trains once."""
    from xlrec_lib.lm.corpus import PRETRAIN_LANGS, load_verses
    from xlrec_lib.lm.pretrained import checkpoint_dir, load_or_train

    quick = is_quick(quick)
    tokenizer, mlm = load_or_train(quick=quick, progress=progress)
    verses = load_verses(PRETRAIN_LANGS)
    first, _ = pair_encoder(tokenizer, getattr(mlm, "bert", mlm), checkpoint_dir(quick=quick).name, verses, quick,
                            progress)
    return load_or_align(tokenizer, first.model, first.weights_key, verses,
                         multilingual_config(quick, cuda=device().type == "cuda"), progress=progress,
                         name="tiny BERT, six languages")


__all__ = ["VERSION", "AlignConfig", "versions", "training_sample", "language_sizes", "valid_hits", "p1_means",
           "mark_curve", "align", "data_digest", "load_or_align", "SIX_LANGUAGES", "pair_config",
           "multilingual_config", "choice_config", "pair_encoder", "course_encoder"]

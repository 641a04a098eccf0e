"""The course's tiny multilingual BERT: one configuration, trained once, cached, loaded by later chapters.

    >>> from xlrec_lib.lm.pretrained import load_or_train
    >>> tokenizer, model = load_or_train(quick=True)   # doctest: +SKIP  (trains on first call, then loads)

The checkpoint is an ordinary ``transformers`` folder (``config.json``, ``model.safetensors``, tokenizer
files): ``AutoModel.from_pretrained(checkpoint_dir(...))`` and ``pipeline("fill-mask", ...)`` work on it.
It is made through ``xlrec_lib.cache`` (atomic, checked on load) under a key of the configuration and the
versions of the code that trains it, so a changed configuration or a bumped ``VERSION`` trains anew.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from xlrec_lib import cache
from xlrec_lib import config as xconfig
from xlrec_lib.lm import corpus, tokenization
from xlrec_lib.lm.corpus import (
    PRETRAIN_LANGS,
    extra_training_texts,
    load_verses,
    monolingual_texts,
    next_sentence_pairs,
    translation_pairs,
)
from xlrec_lib.lm.mlm import Stream, masked_lm_loss, tokenize_examples, train, unigram_log_probs
from xlrec_lib.lm.tokenization import language_sampling_probs, train_wordpiece

# pretrain() and the training code it calls (lm.mlm, lm.masking, lm.training): a change that changes the trained
# model bumps it in the same commit. 2: held-out perplexity hides every scored token (the saved history changed).
VERSION = 2
OBJECTIVES = ("mlm", "mlm+tlm", "mlm+tlm+nsp")
INFO_FILE = "xlrec_pretrain.json"


@dataclass(frozen=True)
class PretrainConfig:
    """Everything that determines the trained model (and so its cache key)."""

    objective: str = "mlm+tlm"
    langs: tuple[str, ...] = PRETRAIN_LANGS
    vocab_size: int = 12000
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 512
    max_length: int = 128
    dropout: float = 0.0  # pretraining sees each verse about once: underfitting, not overfitting, is the risk
    batch_size: int = 64
    steps: int = 400
    lr: float = 2e-3  # the fastest of 1e-3, 2e-3, 4e-3 that converges (4e-3 diverges)
    alpha: float = 0.5  # language sampling exponent (XLM)
    tlm_share: float = 0.5  # share of micro-batches drawn from translation pairs
    nsp_share: float = 0.25  # share drawn from next-sentence pairs (objective mlm+tlm+nsp only)
    train_fraction: float = 1.0  # share of the training verses used (quick mode uses fewer)
    eval_verses: int = 0  # held-out verses per language for perplexity during training (0 = the whole book)
    eval_every: int = 100
    seed: int = 0

    def __post_init__(self):
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")

    def key(self) -> str:
        """Cache folder name: the objective, then ``cache.fingerprint`` of this configuration and the versions of
        the training code, the tokenizer recipe and the corpus."""
        versions = {"pretrained": VERSION, "tokenization": tokenization.VERSION, "corpus": corpus.versions()}
        if "nsp" in self.objective:
            versions["nsp_pairs"] = corpus.NSP_PAIRS_VERSION
        return f"{self.objective.replace('+', '-')}-{cache.fingerprint(self, versions)}"


def course_config(quick: bool | None = None, objective: str = "mlm+tlm") -> PretrainConfig:
    """The configuration the chapters use: a 4-layer, 128-wide BERT (about 0.8M parameters in its layers and
    1.6M in its embedding block) that pretrains in minutes on two CPU cores; in quick mode a 2-layer one on a
    quarter of the verses, with half the batch size (480 steps x 32 sequences against 400 x 64)."""
    base = PretrainConfig(objective=objective)
    if xconfig.is_quick(quick):
        return replace(base, vocab_size=8000, num_layers=2, num_heads=2, batch_size=32, steps=480, lr=2e-3,
                       train_fraction=0.25, eval_verses=200, eval_every=120)
    return base


def checkpoint_dir(cfg: PretrainConfig | None = None, quick: bool | None = None) -> Path:
    """The cache folder of ``cfg``'s checkpoint (default: the course model for the current mode); not created."""
    cfg = cfg or course_config(quick)
    return cache.artefact_dir("models", cfg.key())


# --- data --------------------------------------------------------------------------------------------


def load_or_train_tokenizer(cfg: PretrainConfig, verses: pd.DataFrame, extra: dict[str, list[str]]):
    """WordPiece trained on the training split of every language (+ extra texts), through ``xlrec_lib.cache``
    under a key of the texts themselves, the vocabulary size, ``max_length`` and ``tokenization.VERSION``."""
    from transformers import PreTrainedTokenizerFast

    texts = [t for lang_texts in monolingual_texts(verses, cfg.langs, "train", extra).values() for t in lang_texts]
    key = cache.fingerprint({"texts": cache.fingerprint(texts, None), "vocab_size": cfg.vocab_size,
                             "max_length": cfg.max_length}, tokenization.VERSION)
    folder = cache.artefact_dir("tokenizers", f"wordpiece-{'-'.join(cfg.langs)}-{cfg.vocab_size}-{key}")

    def build(tmp: Path) -> None:
        train_wordpiece(texts, vocab_size=cfg.vocab_size, max_length=cfg.max_length).save_pretrained(tmp)

    return cache.load_or_build(folder, build, PreTrainedTokenizerFast.from_pretrained)


def subsample_training(cfg: PretrainConfig, verses: pd.DataFrame, extra: dict[str, list[str]]):
    """Keep ``cfg.train_fraction`` of the training verses (seeded) and of the extra texts; held-out books stay."""
    if cfg.train_fraction >= 1.0:
        return verses, extra
    train_rows = verses[verses["split"] == "train"].sample(frac=cfg.train_fraction, random_state=cfg.seed)
    verses = pd.concat([train_rows, verses[verses["split"] != "train"]]).sort_values("verse_id")
    return verses, {lang: t[: int(len(t) * cfg.train_fraction)] for lang, t in extra.items()}


# Inside shared_tokenization(), build_streams keeps what it tokenised: chapter 3's three objectives share their
# monolingual streams (and two of them their translation pairs), about 10 s a model to tokenise in quick mode. An
# entry is only read, never changed (Stream, collate and unigram_log_probs index or copy its Examples).
_TOKENIZED: dict[tuple, object] = {}
_SHARING = 0


@contextmanager
def shared_tokenization():
    """Within the block, ``build_streams`` tokenises each set of texts once per tokenizer and ``max_length`` and
    reuses it (the same ``Examples``, so training is bit-identical); what it kept is freed on leaving the block.

        >>> with shared_tokenization():            # doctest: +SKIP
        ...     models = {o: load_or_train(replace(cfg, objective=o)) for o in OBJECTIVES}
    """
    global _SHARING
    _SHARING += 1
    try:
        yield
    finally:
        _SHARING -= 1
        if not _SHARING:
            _TOKENIZED.clear()


def _tokenized(tokenizer, max_length: int, texts: list[str] | None = None, pairs: list[tuple] | None = None):
    """``tokenize_examples(tokenizer, texts=..., pairs=..., max_length=...)``; inside ``shared_tokenization`` read
    from ``_TOKENIZED`` when the same tokenizer, texts and ``max_length`` were tokenised before. The tokenizer is
    keyed by what ``tokenize_examples`` reads: its backend's definition with padding and truncation off, whether it
    splits special tokens, and its truncation side."""
    own = tokenization.backend_copy(tokenizer) if _SHARING else None  # the copy only to key the memo
    if own is None:  # outside the block, or a slow tokenizer (tokenize_examples names the problem)
        return tokenize_examples(tokenizer, texts=texts, pairs=pairs, max_length=max_length)
    data = list(texts) if texts is not None else [list(p) for p in pairs]
    try:
        data_key = cache.fingerprint(data, None)
    except (TypeError, ValueError):  # not plain JSON (numpy labels, NaN): tokenised without the memo
        return tokenize_examples(tokenizer, texts=texts, pairs=pairs, max_length=max_length)
    who = (hashlib.sha256(own.to_str().encode("utf-8")).hexdigest(), own.encode_special_tokens,
           tokenizer.truncation_side)
    if any(k[:3] != who for k in _TOKENIZED):  # another tokenizer: keep only its entries
        _TOKENIZED.clear()
    key = (*who, max_length, "texts" if texts is not None else "pairs", data_key)
    if key not in _TOKENIZED:
        _TOKENIZED[key] = tokenize_examples(tokenizer, texts=texts, pairs=pairs, max_length=max_length)
    return _TOKENIZED[key]


def build_streams(cfg: PretrainConfig, tokenizer, verses: pd.DataFrame, extra: dict[str, list[str]]):
    """Training streams and their sampling probabilities for ``cfg.objective``.

    Monolingual streams are sampled with XLM's smoothed probabilities (exponent ``alpha``) over their token
    counts; translation pairs (TLM) and next-sentence pairs (NSP) get fixed shares of the micro-batches.
    """
    pad = tokenizer.pad_token_id
    mono = monolingual_texts(verses, cfg.langs, "train", extra)
    streams = {lang: Stream(_tokenized(tokenizer, cfg.max_length, texts=t), cfg.batch_size, pad, cfg.seed)
               for lang, t in mono.items()}
    counts = {lang: sum(s.examples.lengths()) for lang, s in streams.items()}
    mono_share = 1.0 - (cfg.tlm_share if "tlm" in cfg.objective else 0.0) - (
        cfg.nsp_share if "nsp" in cfg.objective else 0.0)
    probs = {lang: mono_share * p for lang, p in language_sampling_probs(counts, cfg.alpha).items()}
    if "tlm" in cfg.objective:
        pairs = translation_pairs(verses, cfg.langs, "train", seed=cfg.seed)
        for name, p in pairs.items():
            streams[name] = Stream(_tokenized(tokenizer, cfg.max_length, pairs=p), cfg.batch_size, pad, cfg.seed)
            probs[name] = cfg.tlm_share / len(pairs)
    if "nsp" in cfg.objective:
        triples = [t for lang in cfg.langs for t in next_sentence_pairs(verses, lang, "train", seed=cfg.seed)]
        if not triples:
            raise ValueError(f"build_streams: no training verse is followed by the next verse (train_fraction="
                             f"{cfg.train_fraction}); the NSP objective needs consecutive verses: raise train_fraction")
        streams["nsp"] = Stream(_tokenized(tokenizer, cfg.max_length, pairs=triples), cfg.batch_size, pad, cfg.seed)
        probs["nsp"] = cfg.nsp_share
    return streams, probs


def held_out_examples(cfg: PretrainConfig, tokenizer, verses: pd.DataFrame, split: str = "valid"):
    """``{lang: Examples}`` of the held-out book(s) of ``split`` (the first ``cfg.eval_verses`` if set)."""
    limit = cfg.eval_verses or None
    return {lang: tokenize_examples(tokenizer, texts=t[:limit], max_length=cfg.max_length)
            for lang, t in monolingual_texts(verses, cfg.langs, split).items()}


def perplexities(model, tokenizer, held_out: dict, seed: int = 0) -> dict[str, float]:
    """Held-out masked-token perplexity per language, ``exp(mean cross-entropy)``, on fixed masks."""
    return {lang: float(torch.tensor(masked_lm_loss(model, tokenizer, ex, seed=seed)).exp()) for lang, ex in
            held_out.items()}


def geometric_mean(values) -> float:
    """``exp(mean(log v))`` of positive numbers (perplexities over languages: one language's large value does not
    dominate, as it would in the arithmetic mean)."""
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 and negatives are refused below
        logs = np.log(np.asarray(list(values), dtype=np.float64))
    if logs.size == 0 or not np.isfinite(logs).all():
        raise ValueError("geometric_mean needs one or more positive, finite values")
    return float(np.exp(logs.mean()))


def held_out_curve(history: pd.DataFrame) -> pd.DataFrame:
    """A pretraining ``history``'s held-out evaluations (one row per step, ``tokens`` read at that step and
    ``valid_ppl_<lang>`` on evaluation steps): ``tokens_seen`` so far and the ``perplexity`` (geometric mean over
    the languages), one row per evaluation, in order."""
    cols = [c for c in history if c.startswith("valid_ppl_")]
    if not cols or "tokens" not in history:
        raise ValueError("held_out_curve needs a 'tokens' column and valid_ppl_<lang> columns")
    seen = history["tokens"].cumsum()
    evaluated = history.dropna(subset=cols)
    return pd.DataFrame({"tokens_seen": seen[evaluated.index].astype("int64").to_numpy(),
                         "perplexity": [geometric_mean(row) for row in evaluated[cols].to_numpy(float)]})


def perplexity_at_tokens(curve: pd.DataFrame, start: float, tokens: float) -> float:
    """Held-out perplexity of a run after ``tokens`` tokens: its log-perplexity interpolated linearly in tokens
    between the two evaluations around ``tokens`` (``curve`` from :func:`held_out_curve`; ``start``, the perplexity
    before the first step, sits at 0 tokens). Reading the last evaluation before ``tokens`` instead would read a run
    up to one evaluation interval early. ``tokens`` beyond the last evaluation is a ValueError."""
    missing = {"tokens_seen", "perplexity"} - set(curve)
    if missing:
        raise ValueError(f"perplexity_at_tokens: curve lacks {sorted(missing)} (held_out_curve gives both)")
    seen = np.concatenate([[0.0], curve["tokens_seen"].to_numpy(float)])
    ppl = curve["perplexity"].to_numpy(float)
    if not np.all(np.diff(seen) > 0):
        raise ValueError("perplexity_at_tokens: curve's tokens_seen must be positive and increasing")
    if not (np.isfinite(ppl).all() and (ppl > 0).all()):
        raise ValueError("perplexity_at_tokens: curve's perplexities must be positive and finite")
    if not (np.isfinite(start) and start > 0):
        raise ValueError(f"perplexity_at_tokens: start must be a positive, finite perplexity, got {start}")
    log_ppl = np.log(np.concatenate([[start], ppl]))
    if not 0 <= tokens <= seen[-1]:
        raise ValueError(f"perplexity_at_tokens: {tokens:,.0f} tokens lies outside the evaluations (0 to "
                         f"{seen[-1]:,.0f})")
    return float(np.exp(np.interp(tokens, seen, log_ppl)))


# --- model ------------------------------------------------------------------------------------------


def build_model(cfg: PretrainConfig, tokenizer, log_prior: torch.Tensor | None = None):
    """A freshly initialised ``BertForMaskedLM`` (``BertForPreTraining`` when the objective has NSP).

    ``log_prior``: ``(vocab,)`` log-frequencies of the training tokens. Starting the output bias there makes
    the untrained model predict the unigram distribution (loss = the unigram baseline, not log(vocab)), so
    training spends its few steps on context rather than on re-learning word frequencies.
    """
    from transformers import BertConfig, BertForMaskedLM, BertForPreTraining

    bert_cfg = BertConfig(vocab_size=len(tokenizer), hidden_size=cfg.hidden_size, num_hidden_layers=cfg.num_layers,
                          num_attention_heads=cfg.num_heads, intermediate_size=cfg.intermediate_size,
                          max_position_embeddings=cfg.max_length, type_vocab_size=2,
                          hidden_dropout_prob=cfg.dropout, attention_probs_dropout_prob=cfg.dropout,
                          pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(cfg.seed)
    cls = BertForPreTraining if "nsp" in cfg.objective else BertForMaskedLM
    model = cls(bert_cfg)
    if log_prior is not None:
        with torch.no_grad():
            model.cls.predictions.bias.copy_(log_prior - log_prior.mean())
    return model


def training_start(cfg: PretrainConfig):
    """Everything ``pretrain(cfg)`` starts from, seeded as it seeds: ``(tokenizer, verses, streams, probs, model)``,
    where ``verses`` is the subsampled verse frame, ``streams, probs`` come from ``build_streams`` and ``model`` is
    ``build_model`` with its output bias at the log-frequencies of the training tokens (on the CPU, untrained)."""
    xconfig.seed_everything(cfg.seed)
    verses, extra = load_verses(cfg.langs), extra_training_texts()
    tokenizer = load_or_train_tokenizer(cfg, verses, extra)
    verses, extra = subsample_training(cfg, verses, extra)
    streams, probs = build_streams(cfg, tokenizer, verses, extra)
    log_prior = unigram_log_probs([s.examples for s in streams.values()], len(tokenizer))
    return tokenizer, verses, streams, probs, build_model(cfg, tokenizer, log_prior)


def starting_model(cfg: PretrainConfig):
    """The model ``pretrain(cfg)`` takes its first step from (``training_start``), in eval mode on ``device()``:
    the step-0 baseline of a training curve. It already predicts the unigram distribution, so it scores far below
    a model built without the prior (``build_model(cfg, tokenizer)``, loss near log(vocab)). Cached beside the
    checkpoint as ``<key>-start``: saved by ``load_or_train`` when it trains the checkpoint, else built here (which
    tokenises the training streams again, unless inside ``shared_tokenization``)."""
    from transformers import BertForMaskedLM, BertForPreTraining

    cls = BertForPreTraining if "nsp" in cfg.objective else BertForMaskedLM

    def build(folder: Path) -> None:
        training_start(cfg)[-1].save_pretrained(folder)

    def load(folder: Path):
        return cls.from_pretrained(folder).to(xconfig.device()).eval()

    return cache.load_or_build(_start_dir(cfg), build, load)


def _start_dir(cfg: PretrainConfig) -> Path:
    """The cache folder of ``cfg``'s starting model (``starting_model``), beside its checkpoint; not created."""
    return cache.artefact_dir("models", f"{cfg.key()}-start")


def pretrain(cfg: PretrainConfig, progress: bool = True, on_start: Callable | None = None):
    """Train ``cfg`` from scratch: returns ``(tokenizer, model, history)``; saves nothing. ``on_start(model)``, if
    given, sees the model before its first step (``load_or_train`` caches it there as ``starting_model``)."""
    tokenizer, verses, streams, probs, model = training_start(cfg)
    if on_start is not None:
        on_start(model)
    held_out = held_out_examples(cfg, tokenizer, verses, "valid")
    model = model.to(xconfig.device())

    def evaluate(m):
        return {f"valid_ppl_{lang}": p for lang, p in perplexities(m, tokenizer, held_out).items()}

    start = time.perf_counter()
    history = train(model, tokenizer, streams, probs, steps=cfg.steps, lr=cfg.lr, seed=cfg.seed, evaluate=evaluate,
                    eval_every=cfg.eval_every, progress=progress)
    history.attrs["seconds"] = time.perf_counter() - start
    history.attrs["probs"] = probs
    return tokenizer, model.eval(), history


def _save_pretrained(cfg: PretrainConfig, progress: bool):
    """The ``build`` step of ``cache.load_or_build``: pretrain ``cfg`` and save model, tokenizer, history, info."""

    def cache_start(model) -> None:
        # the model starting_model would build again (tokenising every stream a second time): saved as it is now
        cache.load_or_build(_start_dir(cfg), model.save_pretrained, lambda folder: None)

    def build(folder: Path) -> None:
        tokenizer, model, history = pretrain(cfg, progress=progress, on_start=cache_start)
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        history.to_csv(folder / "history.csv", index=False)
        info = {"config": asdict(cfg), "seconds": history.attrs["seconds"], "probs": history.attrs["probs"]}
        (folder / INFO_FILE).write_text(json.dumps(info, indent=1), encoding="utf-8")

    return build


def load_or_train(cfg: PretrainConfig | None = None, quick: bool | None = None, progress: bool = True):
    """``(tokenizer, model)`` of ``cfg`` (default: the course model for the current mode), trained and saved
    into the cache on the first call, loaded (checked) from it afterwards. The model is in eval mode on
    ``device()``."""
    from transformers import BertForMaskedLM, BertForPreTraining, PreTrainedTokenizerFast

    cfg = cfg or course_config(quick)
    cls = BertForPreTraining if "nsp" in cfg.objective else BertForMaskedLM

    def load(folder: Path):
        return PreTrainedTokenizerFast.from_pretrained(folder), cls.from_pretrained(folder).to(xconfig.device()).eval()

    return cache.load_or_build(checkpoint_dir(cfg), _save_pretrained(cfg, progress), load)


def training_record(cfg: PretrainConfig | None = None, quick: bool | None = None, progress: bool = True
                    ) -> tuple[pd.DataFrame, dict]:
    """The saved history (one row per step) and info (config, seconds, sampling probabilities) of a checkpoint,
    trained first if it is not in the cache."""
    cfg = cfg or course_config(quick)

    def load(folder: Path):
        return pd.read_csv(folder / "history.csv"), json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))

    return cache.load_or_build(checkpoint_dir(cfg), _save_pretrained(cfg, progress), load)

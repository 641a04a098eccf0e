"""all-MiniLM-L6-v2, a small pretrained English BERT shipped inside a pinned PyPI package, loaded with
``transformers`` (no hub access: the files come from the archive fetched by ``xlrec_lib.data.sources``).

``load_minilm`` gives the model itself (chapter 1 reads its attention); ``minilm_encoder`` the sentence encoder.
"""

from __future__ import annotations

from pathlib import Path

from xlrec_lib.data.sources import extract, extracted_dir, get_source
from xlrec_lib.encoders.pooling import HFEncoder


def minilm_folder() -> Path:
    """Folder holding all-MiniLM-L6-v2 (6-layer, 384-dim English BERT) as ``from_pretrained`` expects it."""
    paths = [extract("minilm", member) for member in get_source("minilm").files]
    return paths[0].parent


def load_minilm(attn_implementation: str = "eager"):
    """``(tokenizer, BertModel)`` of all-MiniLM-L6-v2 in eval mode. ``eager`` attention returns weights."""
    from transformers import AutoTokenizer, BertModel

    folder = minilm_folder()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = BertModel.from_pretrained(folder, attn_implementation=attn_implementation)
    return tokenizer, model.eval()


def minilm_encoder(max_length: int = 128) -> HFEncoder:
    """all-MiniLM-L6-v2 behind the encoder protocol (mean pooling, as sentence-transformers pools it)."""
    tokenizer, model = load_minilm(attn_implementation="sdpa")
    weights = extracted_dir(get_source("minilm")).name  # fingerprints the pinned archive
    return HFEncoder(model, tokenizer, "all-MiniLM-L6-v2", max_length=max_length, weights_key=weights)

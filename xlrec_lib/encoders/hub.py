"""The ``XLREC_ENCODER`` switch: any ``transformers`` encoder from a model hub or a local folder, as an ``HFEncoder``.

``XLREC_ENCODER=hf:<name or folder>`` adds that encoder to the chapters (for readers with network access to a model
hub, or a model folder on disk): ``AutoModel`` + ``AutoTokenizer`` with ``trust_remote_code=False`` and mean
pooling over the real tokens (``pooling.HFEncoder``). A folder is a path that exists or starts with ``/``, ``.``
or ``~`` (``~`` is expanded); anything else is a hub name, read from the local Hugging Face cache when it is
there, else downloaded; when the hub cannot be reached the error says so at once instead of after retries.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from xlrec_lib.encoders.pooling import HFEncoder

ENV = "XLREC_ENCODER"
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model",
                   "tokenizer.model")
CONNECT_TIMEOUT_S = 3.0


def parse_spec(spec: str) -> str:
    """The model name or folder of an encoder spec ``hf:<name or path>``; anything else is an error."""
    kind, sep, target = spec.partition(":")
    if kind != "hf" or not sep or not target.strip():
        raise ValueError(f"{ENV}={spec!r}: expected 'hf:<model name or local folder>', e.g. 'hf:intfloat/"
                         "multilingual-e5-small' or 'hf:/path/to/saved/model'")
    return target.strip()


def local_folder(name_or_path: str | Path) -> Path | None:
    """The folder ``name_or_path`` names (``~`` expanded), or ``None`` for a hub name; a path that does not
    exist, or a folder without ``config.json`` or tokenizer files, is an error that names it."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if not path.exists():
        if text.startswith(("/", ".", "~")) or isinstance(name_or_path, Path):
            raise FileNotFoundError(f"{ENV}: model folder {path} does not exist")
        return None
    if not (path / "config.json").is_file():
        raise ValueError(f"{ENV}: {path} is not a saved model folder (no config.json); save one with "
                         "model.save_pretrained(folder) and tokenizer.save_pretrained(folder)")
    if not any((path / f).is_file() for f in TOKENIZER_FILES):
        raise ValueError(f"{ENV}: {path} has no tokenizer files (none of {', '.join(TOKENIZER_FILES)}); without "
                         f"them every word would become [UNK]. Save the tokenizer there: "
                         f"tokenizer.save_pretrained('{path}')")
    return path


def hub_reachable(timeout: float = CONNECT_TIMEOUT_S) -> bool:
    """Whether a TCP connection to the model hub (``HF_ENDPOINT``, default huggingface.co) opens within ``timeout``."""
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout).close()
        return True
    except OSError:
        return False


def _from_hub(name: str, loader):
    """``loader(name, local_files_only=...)``: the local Hugging Face cache first, then the network if reachable."""
    try:
        return loader(name, local_files_only=True)
    except (OSError, ValueError):
        pass
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    if offline or not hub_reachable():
        why = "HF_HUB_OFFLINE is set" if offline else "the model hub is not reachable (no network?)"
        raise ConnectionError(f"{ENV}=hf:{name}: {why} and {name!r} is not in the local Hugging Face cache. "
                              f"Download it where there is network (`hf download {name}`), or save the model and "
                              f"its tokenizer into a folder and set {ENV}=hf:/path/to/folder")
    return loader(name)


def hf_encoder(name_or_path: str | Path, prefix: str = "", max_length: int = 128) -> HFEncoder:
    """``HFEncoder`` of a hub name or local folder (``AutoModel``/``AutoTokenizer``, no remote code), in eval mode.

    A tokenizer whose vocabulary holds only special tokens is refused: it maps every word to ``[UNK]``.
    """
    from transformers import AutoModel, AutoTokenizer

    folder = local_folder(name_or_path)
    if folder is not None:
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
        model = AutoModel.from_pretrained(folder, trust_remote_code=False)
        name = str(folder)
    else:
        name = str(name_or_path)
        tokenizer = _from_hub(name, lambda n, **kw: AutoTokenizer.from_pretrained(n, trust_remote_code=False, **kw))
        model = _from_hub(name, lambda n, **kw: AutoModel.from_pretrained(n, trust_remote_code=False, **kw))
    if len(tokenizer) <= len(set(tokenizer.all_special_tokens)):
        raise ValueError(f"{ENV}: the tokenizer of {name} has {len(tokenizer)} tokens, all special: every word would "
                         "become [UNK]. Save the model's real tokenizer with it (tokenizer.save_pretrained(folder))")
    return HFEncoder(model.eval(), tokenizer, name, prefix, max_length)


def from_spec(spec: str, prefix: str = "") -> HFEncoder:
    """The encoder of a spec ``hf:<name or path>``."""
    return hf_encoder(parse_spec(spec), prefix)


def from_env(prefix: str = "") -> HFEncoder | None:
    """The encoder named by ``XLREC_ENCODER``, or ``None`` when the variable is unset or empty."""
    spec = os.environ.get(ENV, "").strip()
    return from_spec(spec, prefix) if spec else None


__all__ = ["ENV", "parse_spec", "local_folder", "hub_reachable", "hf_encoder", "from_spec", "from_env"]

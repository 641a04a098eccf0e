"""xlrec_lib: the small, tested library behind the xlrec course on cross-lingual recommendation.

Each module holds one concept (see ``shared/ARCHITECTURE.md``): ``config`` at the ground,
``data`` and ``metrics`` know no model, models know no chapter.
"""

import os as _os

# Loading a model prints a "Loading weights" progress bar (transformers, through huggingface_hub) that an executed
# notebook keeps frozen at 0%: the book showed dozens of stalled bars. The course's model loads are local and take
# seconds, so the bars are off unless the reader has set the variable. huggingface_hub reads it when first imported,
# which is why it is set here, before any module of the library imports transformers.
_os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

__version__ = "0.1.0"

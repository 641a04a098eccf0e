"""xlrec_lib: the small, tested library behind the xlrec course on cross-lingual recommendation.

Each module holds one concept (see ``shared/ARCHITECTURE.md``): ``config`` at the ground,
``data`` and ``metrics`` know no model, models know no chapter.
"""

__version__ = "0.1.0"

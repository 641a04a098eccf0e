"""The numbers the chapters recorded while the book was built (``xlrec_lib.results``), read back after the build.

These tests need a build first, so plain ``pytest`` deselects them (marker ``results``); ``make test`` runs them
after its quick book build, ``XLREC_QUICK=0 pytest -m results tests/test_recorded_results.py`` checks a full
build (``make book``). Both read ``XLREC_RESULTS`` (the Makefile sets it to ``_build/results``).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from xlrec_lib import config, results

pytestmark = pytest.mark.results

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
QUICK = config.is_quick()
MODE = "quick" if QUICK else "full"

# Names each chapter must record (its issue lists them). A chapter absent here must still write its file.
REQUIRED: dict[str, list[str]] = {
    "05_fine_tuning": ["sentiment_accuracy_e5", "sentiment_accuracy_tiny", "sentiment_accuracy_tfidf",
                       "topic_zero_shot_ratio_min", "topic_zero_shot_languages_beating_use"],
    "06_efficient_fine_tuning": ["lora_gap", "lora_trainable_share", "int8_size_ratio", "int8_speedup",
                                 "distill_retained", "distill_speedup", "onnx_speedup"],
    # no issue names its records: the two rows issue 15 quotes, the calibration it teaches, the fused-list split
    "07_scoring": ["ndcg10_popularity", "ndcg10_content_popularity", "ece_sigmoid_cos", "ece_platt_cos",
                   "fused_top10_overlap_with_popularity"],
    "08_collaborative_filtering_and_fusion": ["ndcg10_best", "ndcg10_ease", "ndcg10_als", "ndcg10_popularity",
                                              "ndcg10_best_liked", "fusion_gain_cold_items"],
    "09_cross_lingual_recommendation": ["ndcg10_mean_best", "ndcg10_mean_use", "cells_beating_use",
                                        "ndcg10_min_crosslingual_best", "ndcg10_en_en_use", "ann_recall10_hnsw"],
    "10_cross_domain_and_cold_start": ["ndcg10_target_id", "ndcg10_target_text", "ndcg10_target_fused",
                                       "ndcg10_cold_text", "ndcg10_cold_fused", "ndcg10_warm_id",
                                       "ndcg10_warm_fused", "ndcg10_warm_cf_best"],
    "11_interests_diversity_feedback": ["ndcg10_keywords", "ndcg10_popularity", "ndcg10_cf_best", "mmr_diversity_gain",
                                        "mmr_ndcg_loss", "recall_feedback_round5", "recall_no_feedback"],
}


def _source(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def _recording(path: Path) -> bool:
    """Does the notebook name its chapter (``use_chapter``)? tests/test_notebooks.py says which must."""
    return re.search(r"use_chapter\(", _source(path)) is not None


RECORDING = [nb for nb in NOTEBOOKS if _recording(nb)]


def _numbers(value, where: str):
    """``(where, number)`` for every number inside a recorded value or its context."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, (int, float)):
        yield where, value
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _numbers(v, f"{where}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _numbers(v, f"{where}.{k}")
    else:
        raise TypeError(f"{where}: unexpected {type(value).__name__} in a results file")


def test_the_build_left_results_where_the_tests_look():
    where = results.results_dir()
    assert not RECORDING or any(where.glob(f"*.{MODE}.json")), (
        f"no *.{MODE}.json in {where}: build the book first (make test, make book) with the same XLREC_RESULTS")


@pytest.mark.parametrize("path", RECORDING, ids=lambda p: p.stem)
def test_each_chapter_wrote_finite_numbers(path):
    entries = results.read_results(path.stem, QUICK)
    assert entries, f"{results.results_path(path.stem, QUICK)} is empty"
    bad = [(where, x) for name, entry in entries.items() for where, x in _numbers(entry, name)
           if not math.isfinite(x)]
    assert not bad, f"{path.stem}: non-finite numbers {bad}"
    for name, entry in entries.items():
        assert isinstance(entry, dict) and "value" in entry, f"{path.stem}: {name} has no value"


def test_each_chapter_recorded_the_names_its_issue_requires():
    unknown = sorted(set(REQUIRED) - {nb.stem for nb in NOTEBOOKS})
    assert not unknown, f"REQUIRED names chapters that do not exist: {unknown}"
    missing = {stem: sorted(set(names) - set(results.read_results(stem, QUICK)))
               for stem, names in REQUIRED.items()}
    missing = {stem: names for stem, names in missing.items() if names}
    assert not missing, f"required records missing ({MODE} mode): {missing}"


def _always_recorded(path: Path) -> list[str]:
    """Literal names of the ``record`` calls at the top level of a cell: these run in every mode (calls inside an
    ``if``, loop or function, or with computed names, may not)."""
    return re.findall(r"""^(?:[\w.]+\.)?record\(\s*["']([^"'{}]+)["']""", _source(path), re.M)


@pytest.mark.parametrize("path", RECORDING, ids=lambda p: p.stem)
def test_each_top_level_record_call_left_its_entry(path):
    missing = sorted(set(_always_recorded(path)) - set(results.read_results(path.stem, QUICK)))
    assert not missing, f"{path.stem} calls record() for {missing} at a cell's top level, but they are not in " \
                        f"{results.results_path(path.stem, QUICK)}"


def test_no_results_file_without_a_chapter():
    """A results file whose stem names no notebook comes from a misspelt ``use_chapter`` (or a deleted chapter)."""
    stems = {nb.stem for nb in NOTEBOOKS}
    strays = sorted(p.name for p in results.results_dir().glob(f"*.{MODE}.json")
                    if p.name.removesuffix(f".{MODE}.json") not in stems)
    assert not strays, f"results files of no notebook in {results.results_dir()}: {strays}"

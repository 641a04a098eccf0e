import json

import numpy as np
import pytest
import torch

from xlrec_lib import results
from xlrec_lib.results import read_results, record, results_path


@pytest.fixture(autouse=True)
def _results_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XLREC_RESULTS", str(tmp_path))
    monkeypatch.delenv("XLREC_CHAPTER", raising=False)
    monkeypatch.setattr(results, "_chapter", None)
    monkeypatch.setattr(results, "_quick", None)


def test_record_writes_one_file_per_chapter_and_mode(tmp_path):
    record("ndcg10", np.float32(0.25), chapter="08_cf", quick=True, k=10)
    record("ndcg10", torch.tensor(0.5), chapter="08_cf", quick=False)
    record("best_model", "EASE", chapter="08_cf", quick=True)
    quick = json.loads((tmp_path / "08_cf.quick.json").read_text())
    assert quick["ndcg10"]["value"] == pytest.approx(0.25) and quick["ndcg10"]["k"] == 10
    assert quick["best_model"]["value"] == "EASE"
    assert read_results("08_cf", quick=False)["ndcg10"]["value"] == 0.5
    assert results_path("08_cf", True).name == "08_cf.quick.json"


def test_record_replaces_a_name_and_reads_the_chapter_from_the_environment(monkeypatch):
    monkeypatch.setenv("XLREC_CHAPTER", "07_scoring")
    record("x", 1, quick=True)
    record("x", 2, quick=True)
    assert read_results("07_scoring", True)["x"]["value"] == 2


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), np.float64("nan"), object()])
def test_record_refuses_what_cannot_be_read_back(bad):
    with pytest.raises(ValueError, match="x"):
        record("x", bad, chapter="c", quick=True)


def test_record_without_a_chapter_says_how_to_name_it():
    with pytest.raises(ValueError, match="use_chapter"):
        record("x", 1, quick=True)


def test_reading_missing_or_damaged_results_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="c.quick.json"):
        read_results("c", True)
    (tmp_path / "c.quick.json").write_text("{not json")
    with pytest.raises(ValueError, match="c.quick.json"):
        read_results("c", True)


def test_use_chapter_names_the_file_for_later_records():
    results.use_chapter("04_cross_lingual_mapping")
    record("p_at_1", 0.9, quick=False)
    assert read_results("04_cross_lingual_mapping", False)["p_at_1"]["value"] == 0.9
    with pytest.raises(ValueError, match="stem"):
        results.use_chapter("notebooks/04_cross_lingual_mapping.ipynb")


def test_use_chapter_mode_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv("XLREC_QUICK", "0")
    results.use_chapter("08_cf", quick=True)  # papermill -p QUICK True
    record("x", 1.0)
    assert read_results("08_cf", True)["x"]["value"] == 1.0
    with pytest.raises(FileNotFoundError):
        read_results("08_cf", False)


def test_measured_runs_reads_the_shipped_gpu_run():
    runs = results.measured_runs("e5_long_fine_tune")
    assert {"cpu", "gpu", "long", "longest"} <= set(runs.index)
    assert {"lr", "layers", "max_length", "best_step", "steps_run", "test_reviews"} <= set(runs.columns)
    assert runs["test_accuracy"].between(0.5, 1).all() and runs["valid_accuracy"].between(0.5, 1).all()
    assert runs.loc["cpu", "train_reviews"] == 2000 and runs.loc["gpu", "train_reviews"] > 10_000
    assert all(runs.attrs[k] for k in ("machine", "date", "precision", "torch", "note")) and "rows" not in runs.attrs


def test_pick_recipes_keeps_the_order_named_and_needs_the_reference():
    from types import SimpleNamespace

    recipes = tuple(SimpleNamespace(name=n) for n in ("cpu", "gpu", "x2"))
    assert results.pick_recipes(recipes, None) == recipes and results.pick_recipes(recipes, []) == recipes
    assert [r.name for r in results.pick_recipes(recipes, ["x2", "cpu", "x2"])] == ["x2", "cpu"]
    with pytest.raises(ValueError, match=r"unknown recipes \['x9'\]"):
        results.pick_recipes(recipes, ["cpu", "x9"])
    with pytest.raises(ValueError, match=r"include \['cpu'\]"):
        results.pick_recipes(recipes, ["gpu"])
    both = ("cpu", "gpu")  # a RESULT line that compares two recipes needs both
    assert [r.name for r in results.pick_recipes(recipes, ["gpu", "cpu"], both)] == ["gpu", "cpu"]
    with pytest.raises(ValueError, match=r"include \['gpu'\]"):
        results.pick_recipes(recipes, ["cpu", "x2"], both)


def test_measured_runs_refuses_unknown_names_and_malformed_files(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="no_such_run"):
        results.measured_runs("no_such_run")
    with pytest.raises(ValueError, match="'../x'"):
        results.measured_runs("../x")
    monkeypatch.setattr(results, "_MEASURED", tmp_path)
    (tmp_path / "broken.json").write_text('{"machine": "x", "rows": [{"accuracy": 1}]}')
    with pytest.raises(ValueError, match="broken.json"):
        results.measured_runs("broken")


def test_measured_run_args_parses_inputs_and_refuses_bad_recipes(capsys):
    from types import SimpleNamespace

    full = tuple(SimpleNamespace(name=n) for n in ("cpu", "gpu"))
    quick = tuple(SimpleNamespace(name=n) for n in ("cpu", "tiny"))
    inputs = {"--checkpoint": "a folder"}
    args, picked = results.measured_run_args("d", full, quick, "q", inputs, argv=["--checkpoint", "/x"])
    assert args.checkpoint == "/x" and not args.quick and picked == full and args.out is None
    args, picked = results.measured_run_args("d", full, quick, "q", inputs, argv=["--quick", "--recipes", "tiny",
                                                                                   "cpu"])
    assert [r.name for r in picked] == ["tiny", "cpu"]
    with pytest.raises(SystemExit):  # a usage error names the unknown recipe
        results.measured_run_args("d", full, quick, "q", inputs, argv=["--recipes", "cpu", "tiny"])
    assert "unknown recipes ['tiny']" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # another benchmark's reference recipes
        results.measured_run_args("d", full, quick, "q", {}, argv=["--recipes", "cpu"], required=("cpu", "gpu"))
    assert "include ['gpu']" in capsys.readouterr().err

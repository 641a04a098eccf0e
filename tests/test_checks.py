import pytest
import torch

from xlrec_lib.checks import FormulaChecks


def test_records_errors_and_fails_loudly():
    checks = FormulaChecks()
    checks.check("small error", torch.tensor([1.0, 2.0], dtype=torch.float64),
                 torch.tensor([1.0, 2.0 + 1e-7], dtype=torch.float64))
    table = checks.table()
    assert table["check"].tolist() == ["small error"]
    assert table["max_abs_error"].iloc[0] == pytest.approx(1e-7, rel=1e-6)
    with pytest.raises(AssertionError):
        checks.check("wrong", torch.tensor([1.0]), torch.tensor([1.1]))
    assert len(checks.table()) == 1
    checks.check("loose", torch.tensor([1.0]), torch.tensor([1.1]), atol=0.2, rtol=0)
    assert checks.table()["max_abs_error"].iloc[-1] == pytest.approx(0.1, rel=1e-6)


def test_relative_error_where_the_expected_value_is_zero_is_the_absolute_error():
    checks = FormulaChecks()
    checks.check("zeros", torch.tensor([1e-16, 2.0 * (1 + 1e-9)], dtype=torch.float64),
                 torch.tensor([0.0, 2.0], dtype=torch.float64))
    row = checks.table().iloc[0]
    assert row["max_abs_error"] == pytest.approx(2e-9, rel=1e-6)
    # the element with expected 0 contributes |error| = 1e-16, not 1e-16 / tiny
    assert row["max_rel_error"] == pytest.approx(1e-9, rel=1e-6)
    exact_zero = FormulaChecks()
    exact_zero.check("zero vs tiny", torch.tensor([1e-12]), torch.tensor([0.0]))
    assert exact_zero.table()["max_rel_error"].iloc[0] == pytest.approx(1e-12, rel=1e-3)


def test_near_zero_expected_values_use_the_absolute_error_and_the_tolerance_share_is_reported():
    checks = FormulaChecks()
    # float32 defaults: rtol 1.3e-6, atol 1e-5; expected 1e-8, off by 1e-8: 100% relative, far inside the tolerance
    checks.check("near zero", torch.tensor([2e-8, 1.0]), torch.tensor([1e-8, 1.0]))
    row = checks.table().iloc[0]
    assert row["max_rel_error"] == pytest.approx(1e-8, rel=1e-3)
    assert row["tolerance_used"] == pytest.approx(1e-8 / (1e-5 + 1.3e-6 * 1e-8), rel=1e-3)
    checks.check("at the edge", torch.tensor([1.0 + 0.9 * 0.2]), torch.tensor([1.0]), rtol=0.0, atol=0.2)
    assert checks.table()["tolerance_used"].iloc[-1] == pytest.approx(0.9, rel=1e-5)
    checks.check("exact ints", torch.tensor([3]), torch.tensor([3]))
    assert checks.table()["tolerance_used"].iloc[-1] == 0.0


def test_effective_tolerances():
    from xlrec_lib.checks import effective_tolerances

    f32, f64 = torch.zeros(1), torch.zeros(1, dtype=torch.float64)
    assert effective_tolerances(f32, f32) == (1.3e-6, 1e-5)
    assert effective_tolerances(f64, f64) == (1e-7, 1e-7)
    assert effective_tolerances(f32, f32, 0.1, 0.2) == (0.1, 0.2)
    with pytest.raises(ValueError, match="both rtol and atol"):
        effective_tolerances(f32, f32, rtol=0.1)


def test_default_tolerances_match_torch():
    from torch.testing._comparison import (
        _DTYPE_PRECISIONS,
        default_tolerances,  # private: this test notices if torch changes them
    )

    from xlrec_lib.checks import DEFAULT_TOLERANCES

    assert set(DEFAULT_TOLERANCES) == set(_DTYPE_PRECISIONS)
    for dtype, pair in DEFAULT_TOLERANCES.items():
        assert pair == default_tolerances(dtype), dtype


def test_equal_infinities_nan_and_complex_values():
    checks = FormulaChecks()
    inf, nan = float("inf"), float("nan")
    checks.check("inf and nan", torch.tensor([inf, nan, 1.0]), torch.tensor([inf, nan, 1.0]), equal_nan=True)
    row = checks.table().iloc[0]
    assert (row[["max_abs_error", "max_rel_error", "tolerance_used"]] == 0).all()
    checks.check("complex", torch.tensor([1 + 1.0000001j], dtype=torch.complex128),
                 torch.tensor([1 + 1j], dtype=torch.complex128))
    # the imaginary parts differ: a float64 cast would have dropped them and shown 0
    assert checks.table()["max_abs_error"].iloc[-1] == pytest.approx(1e-7, rel=1e-3)


def test_mixed_dtypes_use_the_looser_default():
    from xlrec_lib.checks import effective_tolerances

    assert effective_tolerances(torch.zeros(1), torch.zeros(1, dtype=torch.float64)) == (1.3e-6, 1e-5)
    assert effective_tolerances(torch.zeros(1, dtype=torch.long), torch.zeros(1, dtype=torch.long)) == (0.0, 0.0)

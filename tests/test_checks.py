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

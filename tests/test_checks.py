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

"""Formula checks that remember their errors: every chapter compares its formulas with a reference
(torch's own implementation or a hand-computed case) and shows the table of worst errors.

The relative error of an element is ``|actual - expected| / |expected|``. Where the expected value is exactly 0 a
relative error means nothing (dividing by the smallest float turned a difference of 1e-16 into 1e+292), so those
elements contribute their absolute error instead, and ``max_rel_error`` is the largest of the two kinds.
"""

from __future__ import annotations

import pandas as pd
import torch
from torch.testing import assert_close


class FormulaChecks:
    """Run ``torch.testing.assert_close`` and keep each check's largest absolute and relative error.

    >>> checks = FormulaChecks()
    >>> checks.check("identity", torch.ones(2), torch.ones(2))
    >>> checks.table()["max_abs_error"].tolist()
    [0.0]
    """

    def __init__(self):
        self.rows: list[dict] = []

    def check(self, name: str, actual, expected, **tolerances) -> None:
        """Assert ``actual`` is close to ``expected`` (torch's default tolerances unless given) and record it."""
        actual, expected = torch.as_tensor(actual), torch.as_tensor(expected)
        assert_close(actual, expected, **tolerances)
        a, e = actual.detach().double(), expected.detach().double()
        abs_err = (a - e).abs()
        nonzero = e != 0
        rel_err = torch.where(nonzero, abs_err / torch.where(nonzero, e.abs(), torch.ones_like(e)), abs_err)
        self.rows.append({
            "check": name,
            "elements": a.numel(),
            "max_abs_error": abs_err.max().item() if a.numel() else 0.0,
            "max_rel_error": rel_err.max().item() if a.numel() else 0.0,
        })

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["check", "elements", "max_abs_error", "max_rel_error"])

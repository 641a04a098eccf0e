"""Formula checks that remember their errors: every chapter compares its formulas with a reference
(torch's own implementation or a hand-computed case) and shows the table of worst errors.

``assert_close`` passes an element when ``|actual - expected| <= atol + rtol |expected|``. The table keeps, per
check, the largest absolute error, the largest relative error ``|actual - expected| / |expected|``, and
``tolerance_used``, the largest ``|actual - expected| / (atol + rtol |expected|)`` (about 1 at most for a check that
passed: ``assert_close`` compares in the tensors' own precision, the table in float64). Elements equal on both
sides (the same infinity, or NaN against NaN where ``equal_nan=True``) count as error 0; complex values count by the
modulus of their difference.

A relative error only means something where the expected value is larger than ``atol``: near 0 a harmless
difference of 1e-12 against an expected 1e-11 reads as 10% (and against an exact 0 dividing by the smallest float
once gave 1e+292), so elements with ``|expected| <= atol`` contribute their absolute error to ``max_rel_error``.
Just above ``atol`` small expected values still give relative errors far above the dtype's precision while the
check uses little of its tolerance: ``tolerance_used`` is the column to read.
"""

from __future__ import annotations

import pandas as pd
import torch
from torch.testing import assert_close

# torch.testing.assert_close's default (rtol, atol) per dtype (its documentation); other dtypes compare exactly
DEFAULT_TOLERANCES = {torch.float16: (1e-3, 1e-5), torch.bfloat16: (1.6e-2, 1e-5), torch.float32: (1.3e-6, 1e-5),
                      torch.float64: (1e-7, 1e-7), torch.complex32: (1e-3, 1e-5), torch.complex64: (1.3e-6, 1e-5),
                      torch.complex128: (1e-7, 1e-7), torch.quint8: (1.3e-6, 1e-5), torch.quint2x4: (1.3e-6, 1e-5),
                      torch.quint4x2: (1.3e-6, 1e-5), torch.qint8: (1.3e-6, 1e-5), torch.qint32: (1.3e-6, 1e-5)}


def effective_tolerances(actual: torch.Tensor, expected: torch.Tensor, rtol=None, atol=None) -> tuple[float, float]:
    """``(rtol, atol)`` that ``assert_close(actual, expected, rtol=rtol, atol=atol)`` applies: the given pair, or
    the looser default of the two dtypes."""
    if (rtol is None) != (atol is None):
        raise ValueError("give both rtol and atol, or neither (as torch.testing.assert_close requires)")
    if rtol is not None:
        return float(rtol), float(atol)
    pairs = [DEFAULT_TOLERANCES.get(t.dtype, (0.0, 0.0)) for t in (actual, expected)]
    return max(p[0] for p in pairs), max(p[1] for p in pairs)


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
        rtol, atol = effective_tolerances(actual, expected, tolerances.get("rtol"), tolerances.get("atol"))
        wide = torch.complex128 if actual.is_complex() or expected.is_complex() else torch.float64
        a, e = actual.detach().to(wide), expected.detach().to(wide)
        same = (a == e) | (a.isnan() & e.isnan())  # equal infinities, NaN vs NaN: no error (assert_close passed)
        abs_err = torch.where(same, 0.0, (a - e).abs())
        large = e.abs() > atol  # where a relative error means something (module docstring)
        rel_err = torch.where(large, abs_err / torch.where(large, e.abs(), torch.ones_like(abs_err)), abs_err)
        allowed = atol + rtol * e.abs()
        used = torch.where(allowed > 0, abs_err / torch.where(allowed > 0, allowed, torch.ones_like(allowed)),
                           (abs_err > 0).double())  # exact comparison: 0 if equal
        self.rows.append({
            "check": name,
            "elements": a.numel(),
            "max_abs_error": abs_err.max().item() if a.numel() else 0.0,
            "max_rel_error": rel_err.max().item() if a.numel() else 0.0,
            "tolerance_used": used.max().item() if a.numel() else 0.0,
        })

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["check", "elements", "max_abs_error", "max_rel_error",
                                                "tolerance_used"])

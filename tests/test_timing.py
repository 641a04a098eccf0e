import time

import pytest

from xlrec_lib.timing import time_call


def test_time_call_returns_the_fastest_run_after_warmup():
    durations = iter([0.2, 0.04, 0.01, 0.03])  # the first call is the warm-up and is not timed
    assert 0.009 <= time_call(lambda: time.sleep(next(durations)), repeats=3, warmup=1) < 0.03


def test_time_call_rejects_no_repeats():
    with pytest.raises(ValueError, match="repeats"):
        time_call(lambda: None, repeats=0)

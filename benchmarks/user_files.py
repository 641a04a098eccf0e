"""Benchmark: reading a reader's interactions file strictly (``load_interactions``) against ``pandas.read_csv``.

Both read the same generated CSV file of ``user_id,item_id,rating,timestamp`` rows (random integer ids, ratings
1..5, unix timestamps; no repeated key, so the strict reader accepts it) and must return equal frames:

- ``pandas.read_csv``: the reference, default arguments (C parser, types inferred, nothing checked);
- ``load_interactions``: ``xlrec_lib.data.user_files``, every rule of its module docstring checked.

Time: each variant's best of ``--repeats`` runs (``xlrec_lib.timing.time_call``: the minimum, default 5).
Memory: each variant runs in a fresh Python subprocess (once with ``--quick``, else the least of 3); its peak is
the rise of the resident set above the level after imports (``VmHWM`` after a reset through
``/proc/self/clear_refs``; elsewhere the rise of ``ru_maxrss``, which only shows new highs). The last line,
``RESULT user_files ratio=<time_ratio> time_ratio=<ours / read_csv> memory_ratio=<ours / read_csv>``, is for the
1M-row file with integer ratings; the goal is <= 2 on both.

    python benchmarks/user_files.py --quick     # 1M rows, under a minute
    python benchmarks/user_files.py             # also 3M rows, and 1M rows with half-star ratings
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from xlrec_lib.data.user_files import load_interactions
from xlrec_lib.timing import time_call

MEMORY_SCRIPT = """
import gc, re, resource, sys
from pathlib import Path
import pandas as pd
from xlrec_lib.data.user_files import load_interactions

def status_kb(field):
    try:
        return int(re.search(rf"{field}:\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1))
    except (OSError, AttributeError):
        return None

gc.collect()
try:
    Path("/proc/self/clear_refs").write_text("5")
    base, hwm = status_kb("VmRSS"), True
except OSError:
    base, hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, False
frame = pd.read_csv(sys.argv[2]) if sys.argv[1] == "read_csv" else load_interactions(sys.argv[2])
peak = status_kb("VmHWM") if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(peak - base)
"""


def write_interactions(path: Path, n_rows: int, half_stars: bool = False, seed: int = 0) -> None:
    """Integer ratings 1..5, or with ``half_stars`` every other rating 0.5 lower (``4`` and ``3.5``)."""
    rng = np.random.default_rng(seed)
    rating = rng.integers(1, 6, n_rows)
    frame = pd.DataFrame({
        "user_id": rng.integers(1, 200_000, n_rows),
        "item_id": rng.integers(1, 50_000, n_rows),
        "rating": rating - 0.5 * (np.arange(n_rows) % 2) if half_stars else rating,
        "timestamp": np.arange(n_rows) + 874_724_710,  # distinct: no repeated (user, item, timestamp)
    })
    frame.to_csv(path, index=False)


def peak_kb(variant: str, path: Path) -> int:
    """Peak resident-set rise (kB) of one read in a fresh subprocess."""
    out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, variant, str(path)], check=True, capture_output=True,
                         text=True)
    return int(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1M rows only, under a minute")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per variant (default 5, 7 in full)")
    args = parser.parse_args()
    repeats = args.repeats or (5 if args.quick else 7)
    cases = [(1_000_000, False)] if args.quick else [(1_000_000, False), (3_000_000, False), (1_000_000, True)]
    print(f"{platform.processor() or platform.machine()}, pandas {pd.__version__}, numpy {np.__version__}; "
          f"best of {repeats} runs")
    ratios = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n, half_stars in cases:
            path = Path(tmp) / f"interactions_{n}{'_half_stars' if half_stars else ''}.csv"
            write_interactions(path, n, half_stars)
            reference, ours = pd.read_csv(path), load_interactions(path)
            pd.testing.assert_frame_equal(ours, reference)  # the same frame, checked
            seconds = {  # the equality check above was the warm-up
                "pandas.read_csv": time_call(lambda p=path: pd.read_csv(p), repeats=repeats, warmup=0),
                "load_interactions": time_call(lambda p=path: load_interactions(p), repeats=repeats, warmup=0),
            }
            memory = {name: min(peak_kb(variant, path) for _ in range(1 if args.quick else 3))
                      for name, variant in (("pandas.read_csv", "read_csv"), ("load_interactions", "ours"))}
            size_mb = path.stat().st_size / 2**20
            print(f"\n{n:,} rows ({size_mb:.1f} MiB){', half-star ratings' if half_stars else ''}")
            print(f"{'variant':<20}{'seconds':>10}{'peak MiB':>12}")
            for name in seconds:
                print(f"{name:<20}{seconds[name]:>10.3f}{memory[name] / 1024:>12.1f}")
            ratios[n, half_stars] = (seconds["load_interactions"] / seconds["pandas.read_csv"],
                         memory["load_interactions"] / memory["pandas.read_csv"])
    time_ratio, memory_ratio = ratios[1_000_000, False]
    print(f"RESULT user_files ratio={time_ratio:.2f} time_ratio={time_ratio:.2f} memory_ratio={memory_ratio:.2f} "
          "rows=1000000")


if __name__ == "__main__":
    main()

"""`make bench` must not rot: its quick scale runs every figure on a handful of messages.

No timing is asserted (the figures of a smoke run mean nothing); the run must complete and
print every section and the target lines.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parents[2] / "benchmarks" / "run.py"


@pytest.mark.skipif(not Path("/usr/bin/time").exists(), reason="needs /usr/bin/time (make peers)")
def test_quick_benchmark_runs(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for section in range(1, 8):
        assert f"\n{section}. " in done.stdout
    assert "targets (set for the full scale;" in done.stdout  # a smoke run says so
    assert "-j 2 vs -j 1" in done.stdout
    assert list(tmp_path.iterdir()) == []  # the work directory is removed

"""The thread budget: one rule for the viewer's screening process and osteo-screen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from osteo_desktop.core import threads

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("cores", "setting", "expected"), [
    (1, None, 1), (2, None, 1), (4, None, 3), (16, None, 15),  # cores - 1, at least 1
    (2, 0, 1), (8, 0, 7),  # 0 is automatic
    (8, 2, 2), (2, 2, 2), (2, 1, 1),  # a setting overrides
    (2, 6, 2),  # never more threads than cores
])
def test_cores_minus_one_at_least_one_a_setting_overrides(cores, setting, expected):
    assert threads.screening_threads(setting, cores) == expected


def test_default_counts_the_cores_this_process_may_use(monkeypatch):
    monkeypatch.setattr(threads, "available_cores", lambda: 5)
    assert threads.screening_threads() == 4
    assert threads.describe_budget() == "4 threads (automatic: 5 cores - 1, at least 1)"
    assert threads.describe_budget(1) == "1 thread (set; 5 cores)"


def test_thread_env_caps_native_pools():
    env = threads.thread_env(3)
    assert env["OMP_NUM_THREADS"] == "3" and env["MKL_NUM_THREADS"] == "3"
    assert threads.thread_env(0)["OMP_NUM_THREADS"] == "1"


def test_budget_and_priority_in_a_fresh_process():
    """torch's pools are capped and the process runs at a lower priority (a child: both are for good)."""
    code = (
        "import os, sys\n"
        "from osteo_desktop.core.threads import apply_thread_budget, lower_priority\n"
        "n = apply_thread_budget(1)\n"
        "import torch\n"
        "before = os.nice(0) if hasattr(os, 'nice') else 0\n"
        "ok = lower_priority()\n"
        "after = os.nice(0) if hasattr(os, 'nice') else 0\n"
        "print(n, torch.get_num_threads(), torch.get_num_interop_threads(), os.environ['OMP_NUM_THREADS'], ok, after - before)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    n, intra, interop, omp, ok, delta = out.stdout.split()
    assert (n, intra, interop, omp) == ("1", "1", "1", "1")
    assert ok == "True"
    if sys.platform != "win32":
        assert int(delta) == threads.NICE_INCREMENT or int(delta) > 0

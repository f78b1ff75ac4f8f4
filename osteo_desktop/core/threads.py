"""The screening thread budget: how many threads the model may use, and at what priority.

One rule for the viewer's screening process and for `osteo-screen`: at most (cores - 1) threads,
at least 1, so that the viewer (or whatever else the clinic PC runs) always has a core. torch's
OpenMP pool with one thread per core collapses when another program keeps a core busy: every
parallel region waits for its slowest thread, and the busy core's thread is always late. One
setting overrides the rule (the viewer's Screening > Threads, `osteo-screen --threads N`).

The screening process also lowers its own priority (`lower_priority`), so that the operating system
serves the viewer first when both want the CPU.

Nothing here imports torch: `apply_thread_budget` sets torch's pools only if torch is already
imported or is importable, and the environment variables that OpenMP/MKL read at start-up are set
by `thread_env` for a process that has not imported torch yet.
"""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger(__name__)

#: Environment variables that OpenMP, MKL, OpenBLAS and friends read once, when they start.
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                   "VECLIB_MAXIMUM_THREADS")
#: How much lower the screening process runs (POSIX nice increment; on Windows "below normal"). 5 gives
#: the viewer three times the screening's share of a contended core; 10 (a ninth) starved screening
#: on a machine where other programs kept the cores busy (a film took ten times as long).
NICE_INCREMENT = 5


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS says, else the CPU count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def screening_threads(setting: int | None = None, cores: int | None = None) -> int:
    """Threads for screening: `setting` when it is a positive number (capped at the core count, since
    more threads than cores only adds contention), else (cores - 1), and always at least 1."""
    n_cores = available_cores() if cores is None else max(1, int(cores))
    if setting is not None and int(setting) > 0:
        return max(1, min(int(setting), n_cores))
    return max(1, n_cores - 1)


def describe_budget(setting: int | None = None, cores: int | None = None) -> str:
    """The budget in words, e.g. "1 thread (automatic: 2 cores - 1)"."""
    n_cores = available_cores() if cores is None else max(1, int(cores))
    n = screening_threads(setting, n_cores)
    unit = "thread" if n == 1 else "threads"
    if setting is not None and int(setting) > 0:
        return f"{n} {unit} (set; {n_cores} cores)"
    return f"{n} {unit} (automatic: {n_cores} cores - 1, at least 1)"


def thread_env(threads: int) -> dict[str, str]:
    """The environment variables that cap native thread pools, for a process about to start them."""
    return {k: str(max(1, int(threads))) for k in THREAD_ENV_VARS}


def apply_thread_budget(threads: int, *, import_torch: bool = True) -> int:
    """Cap this process's compute threads at `threads`: the OpenMP/MKL variables (for pools not
    started yet), torch's intra-op pool (and its inter-op pool while that can still change), and
    OpenCV's. Returns the number applied. Importing torch is skipped with `import_torch=False`
    (then only an already imported torch is capped)."""
    n = max(1, int(threads))
    for k, v in thread_env(n).items():
        os.environ[k] = v
    torch = sys.modules.get("torch")
    if torch is None and import_torch:
        try:
            import torch
        except ImportError:  # the GUI process, or a build without torch: nothing to cap there
            torch = None
    if torch is not None:
        torch.set_num_threads(n)
        try:
            torch.set_num_interop_threads(1)  # only allowed before the first parallel work
        except RuntimeError:
            pass
    cv2 = sys.modules.get("cv2")
    if cv2 is not None:
        cv2.setNumThreads(n)
    log.debug("thread budget: %d compute thread(s)", n)
    return n


def lower_priority(increment: int = NICE_INCREMENT) -> bool:
    """Run this process at a lower priority than the viewer. True when it worked (best effort)."""
    try:
        if sys.platform == "win32":
            import ctypes

            below_normal = 0x00004000  # BELOW_NORMAL_PRIORITY_CLASS
            kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]  # ctypes.windll exists on Windows only
            return bool(kernel32.SetPriorityClass(kernel32.GetCurrentProcess(), below_normal))
        os.nice(increment)
        return True
    except (OSError, AttributeError) as e:
        log.debug("could not lower the screening priority: %s", e)
        return False

"""Run every benchmark in this folder, one after the other (./dev.sh bench)."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
rc = 0
for script in ("bench_engine.py", "gui_responsiveness.py"):
    if (HERE / script).exists():
        print(f"\n##### {script}", flush=True)
        rc |= subprocess.call([sys.executable, str(HERE / script), *sys.argv[1:]])
sys.exit(rc)

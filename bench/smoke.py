"""CI smoke of the benchmarks: every benchmark runs end to end on a small workload.

It proves the benchmark scripts still work and prints their tables; the figures at this size
say nothing about the targets (the README's figures come from full runs by hand). It fails only
if a benchmark crashes or reports lost jobs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SMOKE_RUNS = [
    ["bench_hook.py", "--runs", "5", "--bulk", "20", "--burst", "10", "--enqueue-samples", "50"],
    ["bench_plex_index.py", "--items", "2000"],
    ["bench_sync.py", "--scenes", "60"],
    ["bench_convergence.py", "--scenes", "60", "--renamed", "5", "--hand-edited", "5"],
    ["bench_convergence.py", "--scenes", "60", "--renamed", "5", "--hand-edited", "5", "--choices"],
    ["bench_new_files.py", "--files", "20", "--folders", "4", "--scan-delay", "0.3"],
    ["bench_watch_state.py", "--scenes", "200", "--plays", "20"],
]


def main() -> int:
    failed = []
    for argv in SMOKE_RUNS:
        script = BENCH / argv[0]
        if not script.exists():
            print(f"missing benchmark {argv[0]}", flush=True)
            failed.append(argv[0])
            continue
        print(f"\n== {' '.join(argv)}", flush=True)
        result = subprocess.run([sys.executable, str(script), *argv[1:]], timeout=900)
        if result.returncode != 0:
            failed.append(argv[0])
    if failed:
        print(f"benchmark smoke failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print("\nbenchmark smoke: all benchmarks ran")
    return 0


if __name__ == "__main__":
    sys.exit(main())

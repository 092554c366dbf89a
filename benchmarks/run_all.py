"""`make bench`: every benchmark in sequence, each merging its figures into results.json.

Benchmarks measure ratios against a baseline taken in the same run: the machine is shared and
noisy, so absolute numbers from different runs are not comparable."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = [
    "bench_series_encoding.py",
    "bench_collector.py",
    "bench_processor.py",
    "bench_gateway.py",
    "bench_freshness.py",
    "bench_webhooks.py",
    "bench_compaction.py",
]


def main() -> int:
    failed: list[str] = []
    for name in ORDER:
        script = HERE / name
        if not script.exists():
            continue
        print(f"== {name}", flush=True)
        started = time.monotonic()
        result = subprocess.run([sys.executable, str(script)], check=False)
        print(f"== {name}: exit {result.returncode} in {time.monotonic() - started:.0f}s")
        if result.returncode != 0:
            failed.append(name)
    results = HERE / "results.json"
    if results.exists():
        print(json.dumps(json.loads(results.read_text()), indent=2))
    if failed:
        print(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run every benchmark script in this folder (``make bench``) and print their figures.

Each ``bench_*.py`` runs standalone and prints its own numbers; a failing script is
reported and the others still run. Pass names to run a subset: ``run_all.py ik triangulate``.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if any(a in s.stem for a in argv)]
    failed = []
    for script in scripts:
        print(f"\n=== {script.stem} " + "=" * max(0, 60 - len(script.stem)), flush=True)
        t0 = time.perf_counter()
        code = subprocess.call([sys.executable, str(script)], cwd=HERE.parent)
        print(f"--- {script.stem}: {'ok' if code == 0 else f'FAILED (exit {code})'} in {time.perf_counter() - t0:.1f} s")
        if code:
            failed.append(script.stem)
    print(f"\n{len(scripts) - len(failed)} benchmarks ran, {len(failed)} failed {failed or ''}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

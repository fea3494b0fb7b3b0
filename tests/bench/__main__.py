"""Run the benchmarks: ``python -m tests.bench [NAME ...] [--quick]``.

Each ``tests/bench/bench_<name>.py`` defines ``run(quick: bool = False) -> dict[str, float]``:
it measures, prints a table (medians and p99 over many iterations, with a baseline run in
the same process where there is one) and returns its figures. Results of the whole run are
also written as JSON to ``tests/_artifacts/bench.json`` so the README's numbers can name
the command and the file that produced them.

    python -m tests.bench              # every benchmark, full length
    python -m tests.bench ik recorder  # two of them
    python -m tests.bench --quick      # short versions (what CI runs as a smoke test)
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def available() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {available()})")
    parser.add_argument("--quick", action="store_true", help="short versions, for smoke tests")
    parser.add_argument("--out", type=Path, default=HERE.parent / "_artifacts" / "bench.json")
    args = parser.parse_args(argv)
    names = args.names or available()
    unknown = sorted(set(names) - set(available()))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; available: {available()}")
    results: dict[str, dict] = {}
    for name in names:
        module = importlib.import_module(f"tests.bench.bench_{name}")
        t0 = time.perf_counter()
        print(f"\n=== benchmark: {name} ===", flush=True)
        results[name] = module.run(quick=args.quick)
        print(f"({name}: {time.perf_counter() - t0:.1f} s)", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    previous.update({n: {"figures": r, "quick": args.quick, "machine": platform.machine(),
                         "cpus": __import__("os").cpu_count(), "when": time.strftime("%Y-%m-%d %H:%M")}
                     for n, r in results.items()})
    args.out.write_text(json.dumps(previous, indent=2, default=float))
    print(f"\nfigures written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m benchmarks [--full] [--out FILE]``: the speed suite (see benchmarks/bench.py)."""

from benchmarks.bench import main

main()

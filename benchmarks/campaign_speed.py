"""Benchmark: the same as ``nvdla-fi bench`` (run ``python benchmarks/campaign_speed.py``)."""

import sys

from nvdla_sim.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))

"""Thin entry point: ``python scripts/bench_ray.py ...`` is ``robo-meta bench ray ...``."""

import sys

from robo_meta.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["bench", "ray", *sys.argv[1:]]))

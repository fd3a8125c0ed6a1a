"""Thin entry point: ``python scripts/policies.py ...`` is ``robo-meta policies ...``."""

import sys

from robo_meta.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["policies", *sys.argv[1:]]))

"""Thin entry point: ``python scripts/train.py ...`` is ``robo-meta train ...``."""

import sys

from robo_meta.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))

"""Thin entry point: ``python scripts/families.py ...`` is ``robo-meta families ...``."""

import sys

from robo_meta.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["families", *sys.argv[1:]]))

"""Paths of the files in tests/assets that several test files use."""

from pathlib import Path

# PEARL/ProMP rand-params on the half-cheetah, one factor per body, geom and dof: the per-element
# family these tests need (cheetah-params itself now draws three coherent factors)
RAND_PARAMS = str(Path(__file__).parent / "assets" / "cheetah-rand-params.toml")

# the same on the walker: walker-params before its recalibration (docs/families.md)
WALKER_RAND_PARAMS = str(Path(__file__).parent / "assets" / "walker-rand-params.toml")

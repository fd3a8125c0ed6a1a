"""Parameter distributions of a family spec: sampling, membership and normalization.

Every distribution is a union of closed "bands" (intervals) or a finite set, so that the
train range and the out-of-distribution (ood) range of a parameter use the same classes:
PEARL's "exponents in +-[3, 4]" is a LogUniform with bands ((-4, -3), (3, 4)).
All methods are vectorized over the leading axis: values are arrays of shape (n, dim);
``inside`` answers per element, so a vector parameter can mix train and ood elements.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Tasks written to JSON and read back, or typed by hand, sit within this of a band's edge.
TOLERANCE = 1e-9

Band = tuple[float, float]


def _sample_bands(rng: np.random.Generator, bands: tuple[Band, ...], shape: tuple[int, ...]):
    """Uniform over the union of bands: pick a band in proportion to its length, then a point."""
    lengths = np.array([hi - lo for lo, hi in bands], dtype=float)
    probs = lengths / lengths.sum() if lengths.sum() > 0 else np.full(len(bands), 1 / len(bands))
    which = rng.choice(len(bands), size=shape, p=probs)
    lows = np.array([lo for lo, _ in bands])[which]
    highs = np.array([hi for _, hi in bands])[which]
    return lows + (highs - lows) * rng.random(shape)


def _in_bands(x: np.ndarray, bands: tuple[Band, ...]) -> np.ndarray:
    inside = np.zeros(x.shape, dtype=bool)
    for lo, hi in bands:
        inside |= (x >= lo - TOLERANCE) & (x <= hi + TOLERANCE)
    return inside


def _hull(bands: tuple[Band, ...]) -> Band:
    return min(lo for lo, _ in bands), max(hi for _, hi in bands)


def _unit(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map [lo, hi] to [-1, 1] (a point interval maps to 0)."""
    if hi - lo <= 0:
        return np.zeros_like(x, dtype=float)
    return 2.0 * (x - lo) / (hi - lo) - 1.0


@dataclass(frozen=True)
class Uniform:
    """Each element uniform over the union of ``bands``."""

    bands: tuple[Band, ...]
    #: features per element (``features`` gives (n, feature_width x dim))
    feature_width = 1

    def sample(self, rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
        return _sample_bands(rng, self.bands, (n, dim))

    def inside(self, values: np.ndarray) -> np.ndarray:
        return _in_bands(values, self.bands)

    def features(self, values: np.ndarray) -> np.ndarray:
        """Values normalized to about [-1, 1] over this (train) distribution."""
        return _unit(values, *_hull(self.bands))

    def bounds(self) -> Band:
        """The least and the greatest value."""
        return _hull(self.bands)

    def describe(self) -> str:
        return " u ".join(f"U[{lo:g}, {hi:g}]" for lo, hi in self.bands)


@dataclass(frozen=True)
class Angle(Uniform):
    """An angle in radians, each element uniform over the union of ``bands`` (as Uniform).

    Its features are (cos, sin) per element: continuous across the turn, where a [-1, 1]
    scaling of U[0, 2 pi) would put two equal directions at -1 and +1 (an oracle's network
    would have to learn that jump).
    """

    feature_width = 2

    def features(self, values: np.ndarray) -> np.ndarray:
        """(n, 2 dim): the cosines of every element, then their sines."""
        return np.concatenate([np.cos(values), np.sin(values)], axis=-1)

    def describe(self) -> str:
        return "angle " + super().describe()


@dataclass(frozen=True)
class LogUniform:
    """Each element ``base ** e`` with the exponent e uniform over the union of ``bands``."""

    feature_width = 1

    base: float
    bands: tuple[Band, ...]

    def exponent(self, values: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(values) / math.log(self.base)

    def sample(self, rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
        return self.base ** _sample_bands(rng, self.bands, (n, dim))

    def inside(self, values: np.ndarray) -> np.ndarray:
        return (values > 0) & _in_bands(self.exponent(values), self.bands)

    def features(self, values: np.ndarray) -> np.ndarray:
        """Values normalized to about [-1, 1] over this (train) distribution."""
        return _unit(self.exponent(values), *_hull(self.bands))

    def bounds(self) -> Band:
        """The least and the greatest value."""
        lo, hi = _hull(self.bands)
        return tuple(sorted((self.base**lo, self.base**hi)))  # type: ignore[return-value]

    def describe(self) -> str:
        exps = " u ".join(f"[{lo:g}, {hi:g}]" for lo, hi in self.bands)
        return f"{self.base:g}^U{exps}"


@dataclass(frozen=True)
class Choice:
    """Each element one of ``values``, uniformly."""

    values: tuple[float, ...]
    feature_width = 1

    def sample(self, rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
        return np.asarray(self.values, dtype=float)[rng.integers(len(self.values), size=(n, dim))]

    def inside(self, values: np.ndarray) -> np.ndarray:
        options = np.asarray(self.values, dtype=float)
        return np.abs(values[..., None] - options).min(axis=-1) <= TOLERANCE

    def features(self, values: np.ndarray) -> np.ndarray:
        """Values normalized to about [-1, 1] over this (train) distribution."""
        return _unit(values, min(self.values), max(self.values))

    def bounds(self) -> Band:
        """The least and the greatest value."""
        return min(self.values), max(self.values)

    def describe(self) -> str:
        return "{" + ", ".join(f"{v:g}" for v in self.values) + "}"


@dataclass(frozen=True)
class Disk:
    """A 2-D point uniform over the area of an annular sector (radius and angle ranges).

    ``radius = (1, 1), angle = (0, pi)`` is the half circle of radius 1; ``radius = (0, 3)``
    with the full angle range is the disk of radius 3.
    """

    radius: Band
    angle: Band
    feature_width = 1  # its two elements (x, y) are its two features

    def sample(self, rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
        r0, r1 = self.radius
        r = np.sqrt(r0**2 + (r1**2 - r0**2) * rng.random(n))  # uniform in area
        a = self.angle[0] + (self.angle[1] - self.angle[0]) * rng.random(n)
        return np.stack([r * np.cos(a), r * np.sin(a)], axis=1)

    def inside(self, values: np.ndarray) -> np.ndarray:
        """(n, 1): the point is the element."""
        return self._contains(values)[..., None]

    def _contains(self, values: np.ndarray) -> np.ndarray:
        r = np.hypot(values[..., 0], values[..., 1])
        ok = (r >= self.radius[0] - TOLERANCE) & (r <= self.radius[1] + TOLERANCE)
        if self.angle[1] - self.angle[0] >= 2 * math.pi - TOLERANCE:
            return ok
        a = np.mod(np.arctan2(values[..., 1], values[..., 0]) - self.angle[0], 2 * math.pi)
        a = np.where(a > 2 * math.pi - TOLERANCE, 0.0, a)  # -0 wraps to 2 pi
        span = self.angle[1] - self.angle[0]
        return ok & ((a <= span + TOLERANCE) | (r <= TOLERANCE))

    def features(self, values: np.ndarray) -> np.ndarray:
        """Values normalized to about [-1, 1] over this (train) distribution."""
        return values / max(self.radius[1], TOLERANCE)

    def describe(self) -> str:
        deg = tuple(math.degrees(a) for a in self.angle)
        return f"r in [{self.radius[0]:g}, {self.radius[1]:g}], angle [{deg[0]:g}, {deg[1]:g}] deg"


Distribution = Uniform | Angle | LogUniform | Choice | Disk


def contains(dist: Distribution, values: np.ndarray) -> np.ndarray:
    """(n,) whether every element of each row of ``values`` (n, dim) lies in ``dist``."""
    return dist.inside(values).all(axis=-1)

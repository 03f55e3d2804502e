"""Learning-curve fit (S25): where is validation loss heading, and when will it flatten?

Two shapes cover Tacotron2 validation curves after warm-up: an exponential approach
`a + b * exp(-t / tau)` (saturates quickly) and a power law `a + b * t ** -c` (long tail).
Both are linear in (a, b) once the shape parameter is fixed, so we scan a grid of tau or c and
solve the 2x2 weighted least-squares problem for every grid value at once. That is
deterministic (no optimiser that may fail to converge), takes well under a millisecond, and is
identical on every machine, so a replayed run predicts exactly what the live run predicted.
Residuals are relative (weights 1/y^2) so a loss of 60 and a loss of 0.4 fit the same way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

MIN_POINTS = 8
MAX_POINTS = 120  # longer histories are averaged into this many bins: same shape, 10x faster
_TAU_GRID = np.geomspace(1.0, 1.0e4, 40)  # in units of the fitted span / 100
_POWER_GRID = np.geomspace(0.05, 3.0, 32)
_FINE = np.linspace(0.0, 1.0, 17)  # the second pass: 17 log-spaced values between neighbours


@dataclass(frozen=True)
class CurveFit:
    """A fitted learning curve; `value(epoch)` extrapolates it."""

    model: str  # "exponential" | "power_law"
    a: float  # asymptote: the loss this run would reach with unlimited epochs
    b: float
    shape: float  # tau (epochs) for the exponential, the exponent c for the power law
    origin: float  # the epoch the curve's t counts from
    r2: float  # weighted (relative) coefficient of determination
    n_points: int

    def value(self, epoch: Any) -> Any:
        """The fitted loss at `epoch` (a number or an array of them)."""
        t = np.maximum(np.asarray(epoch, dtype=float) - self.origin, 1e-9)
        if self.model == "exponential":
            return self.a + self.b * np.exp(-t / self.shape)
        return self.a + self.b * np.power(t, -self.shape)

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _solve(phi: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares of y ~ a + b*phi for every row of phi, with a >= 0 and b >= 0."""
    sw, swy = w.sum(), (w * y).sum()
    swp = (phi * w).sum(axis=1)
    swpp = (phi * phi * w).sum(axis=1)
    swpy = (phi * (w * y)).sum(axis=1)
    det = sw * swpp - swp**2
    ok = det > 1e-12 * max(sw * swpp.max(), 1e-300)
    safe = np.where(ok, det, 1.0)
    a = np.where(ok, (swpp * swy - swp * swpy) / safe, swy / sw)
    b = np.where(ok, (sw * swpy - swp * swy) / safe, 0.0)
    # Constraint a >= 0 (a loss is never negative): refit through zero.
    neg_a = a < 0
    b = np.where(neg_a, swpy / np.maximum(swpp, 1e-300), b)
    a = np.where(neg_a, 0.0, a)
    # Constraint b >= 0 (a learning curve does not rise by design): a flat line.
    neg_b = b < 0
    a = np.where(neg_b, swy / sw, a)
    b = np.where(neg_b, 0.0, b)
    return a, b


def _scan(
    models: np.ndarray, grid: np.ndarray, x: np.ndarray, y: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, weighted SSE) for every (model, shape) row; model 0 = exponential, 1 = power law."""
    exponential = np.exp(-x[None, :] / grid[:, None])
    power = np.power(x[None, :], -grid[:, None])
    phi = np.where(models[:, None] == 0, exponential, power)
    a, b = _solve(phi, y, w)
    sse = (w * (y[None, :] - a[:, None] - b[:, None] * phi) ** 2).sum(axis=1)
    return a, b, sse


def fit_learning_curve(
    epochs: Any, values: Any, origin: float = 0.0, min_points: int = MIN_POINTS
) -> CurveFit | None:
    """Best of an exponential and a power-law fit, or None with fewer than `min_points`."""
    x = np.asarray(epochs, dtype=float) - origin
    y = np.asarray(values, dtype=float)
    keep = np.isfinite(y) & (y > 0) & (x > 0)
    x, y = x[keep], y[keep]
    n_points = int(x.size)
    if n_points < min_points:
        return None
    if n_points > MAX_POINTS:
        bins = np.arange(n_points) * MAX_POINTS // n_points
        counts = np.bincount(bins)
        x = np.bincount(bins, weights=x) / counts
        y = np.bincount(bins, weights=y) / counts
    w = 1.0 / (y * y)
    span = max(float(x.max()), 1.0)
    mean = (w * y).sum() / w.sum()
    sst = float((w * (y - mean) ** 2).sum())
    # First pass: both models' coarse grids at once.
    coarse = (_TAU_GRID * (span / 100.0), _POWER_GRID)
    models = np.repeat([0, 1], [coarse[0].size, coarse[1].size])
    a, b, sse = _scan(models, np.concatenate(coarse), x, y, w)
    # Second pass: for each model, a fine grid between its best value's neighbours.
    fine = []
    for model, grid in enumerate(coarse):
        i = int(np.argmin(sse[models == model]))
        low, high = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
        fine.append(low * np.exp(_FINE * np.log(high / low)))
    models = np.repeat([0, 1], _FINE.size)
    grid = np.concatenate(fine)
    a, b, sse = _scan(models, grid, x, y, w)
    i = int(np.argmin(sse))
    r2 = 1.0 - float(sse[i]) / sst if sst > 0 else 1.0
    name = "exponential" if models[i] == 0 else "power_law"
    return CurveFit(name, float(a[i]), float(b[i]), float(grid[i]), float(origin), r2, n_points)


def first_flat_epoch(
    fit: CurveFit, start: int, stop: int, patience: np.ndarray, min_improvement: np.ndarray
) -> int | None:
    """First epoch in [start, stop) after which the fitted curve improves by less than
    `min_improvement` (relative) within `patience` epochs: where early stopping starts counting.

    `patience` and `min_improvement` hold one value per epoch of the range (they follow phases).
    """
    if stop <= start:
        return None
    t = np.arange(start, stop, dtype=float)
    now = fit.value(t)
    later = fit.value(t + patience)
    gain = (now - later) / np.maximum(now, 1e-12)
    flat = np.nonzero(gain < min_improvement)[0]
    return int(t[flat[0]]) if flat.size else None

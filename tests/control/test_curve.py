"""The learning-curve fit behind S25's forecast."""

from __future__ import annotations

import random

import numpy as np
import pytest

from smart_tuner.control import fit_learning_curve
from smart_tuner.control.curve import first_flat_epoch


def test_recovers_an_exponential_curve():
    t = np.arange(1, 200)
    fit = fit_learning_curve(t, 0.4 + 1.2 * np.exp(-t / 37.0))
    assert fit is not None and fit.model == "exponential"
    assert fit.a == pytest.approx(0.4, rel=0.02)
    assert fit.shape == pytest.approx(37.0, rel=0.05)
    assert fit.r2 > 0.999


def test_recovers_a_power_law_and_extrapolates_it():
    t = np.arange(1, 300)
    y = 0.3 + 2.0 * t**-0.7
    fit = fit_learning_curve(t[:150], y[:150])
    assert fit is not None and fit.model == "power_law"
    assert float(fit.value(299)) == pytest.approx(y[-1], rel=0.01)


def test_noisy_curve_still_fits_its_asymptote():
    rng = random.Random(3)
    t = np.arange(1, 400)
    y = np.array([(0.5 + np.exp(-x / 60)) * (1 + rng.gauss(0, 0.03)) for x in t])
    fit = fit_learning_curve(t, y)
    assert fit is not None and fit.a == pytest.approx(0.5, rel=0.05)


def test_scale_free_a_loss_of_60_fits_like_a_loss_of_point_6():
    t = np.arange(1, 100)
    small = fit_learning_curve(t, 0.6 + np.exp(-t / 20))
    large = fit_learning_curve(t, 100 * (0.6 + np.exp(-t / 20)))
    assert small is not None and large is not None
    assert large.a == pytest.approx(100 * small.a, rel=1e-6)
    assert large.shape == pytest.approx(small.shape, rel=1e-6)


def test_too_few_points_or_rising_curves():
    assert fit_learning_curve([1, 2, 3], [3.0, 2.0, 1.0]) is None
    rising = fit_learning_curve(np.arange(1, 30), np.linspace(1.0, 2.0, 29))
    assert rising is not None and rising.b == 0.0  # flat: no improvement expected
    assert fit_learning_curve(np.arange(1, 30), [float("nan")] * 29) is None


def test_first_flat_epoch_is_where_gain_per_patience_drops_below_threshold():
    fit = fit_learning_curve(np.arange(1, 100), 0.4 + np.exp(-np.arange(1, 100) / 20.0))
    assert fit is not None
    n = 1000
    flat = first_flat_epoch(fit, 0, n, np.full(n, 10), np.full(n, 0.01))
    assert flat is not None
    gain = lambda t: (fit.value(t) - fit.value(t + 10)) / fit.value(t)  # noqa: E731
    assert gain(flat) < 0.01 <= gain(flat - 1)
    assert first_flat_epoch(fit, 0, 5, np.full(5, 10), np.full(5, 0.01)) is None

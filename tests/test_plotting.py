"""Figures: what is drawn, and clear errors for misshapen input."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from sklearn.utils._param_validation import InvalidParameterError

from skcrystal.plotting import (
    plot_attribution,
    plot_confusion_matrix,
    plot_fingerprint,
    plot_probabilities,
    plot_slice_map,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_fingerprint_rgb_and_channels():
    rng = np.random.default_rng(0)
    image = rng.random((3, 8, 8))
    axes = plot_fingerprint(image)
    np.testing.assert_allclose(axes[0].images[0].get_array(), np.transpose(image, (1, 2, 0)))
    for ax, channel in zip(axes[1:], image):
        np.testing.assert_allclose(ax.images[0].get_array(), channel)
    assert len(plot_fingerprint(image, channels=False)) == 1


def test_attribution_overlay_is_transparent_where_attribution_is_zero():
    attribution = np.zeros((3, 8, 8))
    attribution[:, 2, 3] = -5.0  # magnitude counts, not sign
    ax = plot_attribution(np.ones((3, 8, 8)), attribution)
    overlay = np.asarray(ax.images[1].get_array())
    assert overlay[2, 3, 3] == pytest.approx(0.7)
    assert overlay[..., 3].sum() == pytest.approx(0.7)


def test_probability_bands_and_hidden_classes():
    x = np.linspace(0, 1, 4)
    proba = np.stack([1 - x, x, np.full(4, 0.01)], axis=1)
    ax = plot_probabilities(x, proba, ["bcc", "sc", "fcc"], std=np.full((4, 3), 0.1), xlabel="f")
    assert [line.get_label() for line in ax.get_lines()] == ["bcc", "sc"]
    assert sum(isinstance(c, PolyCollection) for c in ax.collections) == 2
    assert ax.get_xlabel() == "f"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: plot_fingerprint(np.zeros((8, 8))),
            r"shape \(3, n_pixels, n_pixels\), got shape \(8, 8\)",
        ),
        (
            lambda: plot_probabilities([0, 1], np.zeros((2, 2)), ["a", "b", "c"]),
            r"expected \(len\(x\), len\(classes\)\)",
        ),
        (
            lambda: plot_probabilities([0, 1], np.zeros((2, 2)), ["a", "b"], std=np.zeros(2)),
            "std has shape",
        ),
    ],
)
def test_misshapen_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_confusion_matrix_rows_are_normalised():
    display = plot_confusion_matrix(
        ["fcc", "fcc", "bcc", "bcc"], ["fcc", "bcc", "bcc", "bcc"], labels=["bcc", "fcc"]
    )
    np.testing.assert_allclose(display.confusion_matrix, [[1.0, 0.0], [0.5, 0.5]])


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: plot_fingerprint(np.zeros((3, 4, 4)), channels="no"), "channels"),
        (lambda: plot_attribution(np.zeros((3, 4, 4)), np.ones((3, 4, 4)), alpha=1.5), "alpha"),
        (
            lambda: plot_probabilities([0, 1], np.zeros((2, 1)), ["a"], min_probability=-0.1),
            "min_probability",
        ),
        (lambda: plot_confusion_matrix(["a"], ["a"], normalize="rows"), "normalize"),
        (lambda: plot_slice_map(np.zeros((2, 3)), ["a", "b"], axis=3), "axis"),
        (lambda: plot_slice_map(np.zeros((2, 3)), ["a", "b"], thickness=0.0), "thickness"),
    ],
)
def test_bad_parameters_are_named(call, name):
    # sklearn's InvalidParameterError is a ValueError and a TypeError.
    figures = plt.get_fignums()
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
        call()
    assert plt.get_fignums() == figures  # refused before a figure is made


def test_slice_map_takes_numpy_integers_and_floats():
    positions = np.random.default_rng(0).uniform(0, 10, (50, 3))
    ax = plot_slice_map(
        positions, ["fcc"] * 50, axis=np.int64(0), position=np.float64(5.0), size=np.float32(2)
    )
    assert ax.get_xlabel() == "y (A)"

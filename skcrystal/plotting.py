"""Figures with matplotlib: fingerprints, attributions, probability curves, confusion, slice maps.

matplotlib is imported by each function when it is called (it is the ``plots`` extra:
``pip install skcrystal[plots]``), so importing this module does not need it. Every function
takes an optional ``ax`` (or ``axes``) to draw into and returns what it drew on, in the manner
of scikit-learn's ``*Display`` helpers.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

#: Titles of the three channels of a fingerprint: the rotation axis of each.
CHANNELS = ("x", "y", "z")


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - depends on the installation
        raise ImportError(
            "skcrystal.plotting needs matplotlib: pip install 'skcrystal[plots]'."
        ) from error
    return plt


def _image(image):
    image = np.asarray(image, dtype=float)
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(
            f"expected one fingerprint of shape (3, n_pixels, n_pixels), got shape {image.shape}."
        )
    return image


@validate_params(
    {
        "image": ["array-like"],
        "axes": "no_validation",
        "channels": ["boolean"],
        "title": [None, str],
    },
    prefer_skip_nested_validation=True,
)
def plot_fingerprint(image, *, axes=None, channels=True, title=None):
    """A fingerprint as an RGB image, and optionally each channel on its own.

    Parameters
    ----------
    image : array-like of shape (3, n_pixels, n_pixels)
        One image of :class:`~skcrystal.DiffractionFingerprint` (values in [0, 1]).
    axes : sequence of matplotlib Axes, default=None
        One axes for the RGB view (and three more with ``channels``); default: a new figure.
    channels : bool, default=True
        Also draw the channels (rotations about x, y and z) in grey levels.
    title : str, default=None
        Title of the RGB view.

    Returns
    -------
    axes : ndarray of matplotlib Axes
        The axes drawn on: the RGB view first, then the x, y and z channels if drawn.

    Examples
    --------
    >>> import numpy as np
    >>> from skcrystal.plotting import plot_fingerprint
    >>> axes = plot_fingerprint(np.zeros((3, 16, 16)))
    >>> [ax.get_title() for ax in axes]
    ['RGB', 'x', 'y', 'z']
    """
    image = _image(image)
    if axes is None:
        plt = _pyplot()
        _, axes = plt.subplots(
            1, 4 if channels else 1, figsize=(10 if channels else 3, 3), squeeze=False
        )
    axes = np.ravel(axes)
    axes[0].imshow(np.clip(np.transpose(image, (1, 2, 0)), 0, 1), origin="lower")
    axes[0].set_title("RGB" if title is None else title)
    if channels:
        for ax, channel, name in zip(axes[1:], image, CHANNELS):
            ax.imshow(channel, cmap="gray", origin="lower", vmin=0, vmax=max(channel.max(), 1e-12))
            ax.set_title(name)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return axes


@validate_params(
    {
        "image": ["array-like"],
        "attribution": ["array-like"],
        "ax": "no_validation",
        "cmap": [str, callable],
        "alpha": [Interval(Real, 0, 1, closed="both")],
        "title": [None, str],
    },
    prefer_skip_nested_validation=True,
)
def plot_attribution(image, attribution, *, ax=None, cmap="inferno", alpha=0.7, title=None):
    """An attribution map over its fingerprint.

    The fingerprint is drawn in grey levels (its three channels summed), the attribution's
    magnitude (absolute values summed over channels, scaled to [0, 1]) over it in colour,
    transparent where it is small.

    Parameters
    ----------
    image : array-like of shape (3, n_pixels, n_pixels)
        One image of :class:`~skcrystal.DiffractionFingerprint`.
    attribution : array-like of shape (3, n_pixels, n_pixels)
        E.g. one map of :func:`skcrystal.explain.attribution_maps`.
    ax : matplotlib Axes, default=None
        Axes to draw into; default: a new figure.
    cmap : str or matplotlib Colormap, default="inferno"
        Colour map of the attribution's magnitude.
    alpha : float in [0, 1], default=0.7
        Opacity of the strongest attribution.
    title : str, default=None
        Title of the axes; default: none.

    Returns
    -------
    ax : matplotlib Axes
        The axes drawn on.

    Examples
    --------
    >>> import numpy as np
    >>> from skcrystal.plotting import plot_attribution
    >>> ax = plot_attribution(np.zeros((3, 16, 16)), np.ones((3, 16, 16)), title="fcc")
    >>> ax.get_title()
    'fcc'
    """
    image, attribution = _image(image), _image(attribution)
    if ax is None:
        _, ax = _pyplot().subplots(figsize=(3.5, 3.5))
    ax.imshow(image.sum(axis=0), cmap="gray", origin="lower")
    magnitude = np.abs(attribution).sum(axis=0)
    magnitude = magnitude / magnitude.max() if magnitude.max() > 0 else magnitude
    colours = _pyplot().get_cmap(cmap)(magnitude)
    colours[..., 3] = alpha * magnitude
    ax.imshow(colours, origin="lower")
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title)
    return ax


@validate_params(
    {
        "x": ["array-like"],
        "proba": ["array-like"],
        "classes": ["array-like"],
        "std": [None, "array-like"],
        "ax": "no_validation",
        "xlabel": [None, str],
        "min_probability": [Interval(Real, 0, 1, closed="both")],
    },
    prefer_skip_nested_validation=True,
)
def plot_probabilities(x, proba, classes, *, std=None, ax=None, xlabel=None, min_probability=0.05):
    """Class probabilities along a parameter, with one-standard-deviation bands.

    Parameters
    ----------
    x : array-like of shape (n_points,)
        The parameter (e.g. the fraction of atoms removed, or a rhombohedral angle).
    proba : array-like of shape (n_points, n_classes)
        Mean probabilities at each point (e.g. ``predict_uncertainty(...).proba``, or the
        mean over several random realisations).
    classes : sequence of str
        The columns' labels (``classes_``).
    std : array-like of shape (n_points, n_classes), default=None
        Standard deviations, drawn as bands of +- one standard deviation.
    ax : matplotlib Axes, default=None
        Axes to draw into; default: a new figure.
    xlabel : str, default=None
        Label of the x axis; default: none.
    min_probability : float in [0, 1], default=0.05
        Classes whose probability stays below this everywhere are left out.

    Returns
    -------
    ax : matplotlib Axes
        The axes drawn on, with one line (and band) per class shown and a legend.

    Examples
    --------
    >>> import numpy as np
    >>> from skcrystal.plotting import plot_probabilities
    >>> x = np.linspace(0, 1, 5)
    >>> proba = np.stack([1 - x, x, np.zeros(5)], axis=1)
    >>> ax = plot_probabilities(x, proba, ["bcc", "sc", "fcc"], std=0.1 * np.ones((5, 3)))
    >>> [line.get_label() for line in ax.get_lines()]
    ['bcc', 'sc']
    """
    x = np.asarray(x, dtype=float)
    proba = np.asarray(proba, dtype=float)
    if proba.shape != (len(x), len(classes)):
        raise ValueError(
            f"proba has shape {proba.shape}; expected (len(x), len(classes)) = ({len(x)}, {len(classes)})."
        )
    if std is not None:
        std = np.asarray(std, dtype=float)
        if std.shape != proba.shape:
            raise ValueError(
                f"std has shape {std.shape}; expected the shape of proba, {proba.shape}."
            )
    if ax is None:
        _, ax = _pyplot().subplots(figsize=(6, 4))
    for column, label in enumerate(classes):
        if proba[:, column].max() < min_probability:
            continue
        (line,) = ax.plot(x, proba[:, column], marker="o", markersize=3, label=str(label))
        if std is not None:
            low = np.clip(proba[:, column] - std[:, column], 0, 1)
            high = np.clip(proba[:, column] + std[:, column], 0, 1)
            ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("probability")
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    return ax


@validate_params(
    {
        "y_true": ["array-like"],
        "y_pred": ["array-like"],
        "labels": [None, "array-like"],
        "normalize": [StrOptions({"true", "pred", "all"}), None],
        "ax": "no_validation",
    },
    prefer_skip_nested_validation=True,
)
def plot_confusion_matrix(y_true, y_pred, *, labels=None, normalize="true", ax=None, **kwargs):
    """Confusion matrix of true against predicted classes.

    A thin layer over scikit-learn's ``ConfusionMatrixDisplay.from_predictions`` with the
    rows normalised by default (each row: where the crystals of one true class went).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True classes.
    y_pred : array-like of shape (n_samples,)
        Predicted classes.
    labels : array-like, default=None
        Order of the classes (default: sorted union of both).
    normalize : {"true", "pred", "all"} or None, default="true"
        Normalise over the true classes (rows), the predicted classes (columns) or all
        samples; ``None``: counts.
    ax : matplotlib Axes, default=None
        Axes to draw into; default: a new figure.
    **kwargs
        Passed to ``ConfusionMatrixDisplay.from_predictions`` (``cmap``, ``values_format``...).

    Returns
    -------
    display : sklearn.metrics.ConfusionMatrixDisplay
        The display; ``display.ax_`` holds the axes drawn on.

    Examples
    --------
    >>> from skcrystal.plotting import plot_confusion_matrix
    >>> display = plot_confusion_matrix(["fcc", "bcc", "bcc"], ["fcc", "bcc", "sc"])
    >>> display.confusion_matrix.shape
    (3, 3)
    """
    from sklearn.metrics import ConfusionMatrixDisplay

    _pyplot()
    kwargs.setdefault("values_format", ".2f" if normalize else "d")
    kwargs.setdefault("colorbar", False)
    return ConfusionMatrixDisplay.from_predictions(
        y_true, y_pred, labels=labels, normalize=normalize, ax=ax, **kwargs
    )


#: Colours of the labels in slice maps (classes, then "unknown" and any other label in grey).
LABEL_COLOURS = {
    "fcc": "tab:green",
    "bcc": "tab:blue",
    "hex/rh": "tab:red",
    "sc": "tab:purple",
    "diam": "tab:brown",
    "bct139": "tab:orange",
    "bct141": "tab:olive",
    "unknown": "0.8",
}


@validate_params(
    {
        "positions": ["array-like"],
        "labels": ["array-like"],
        "axis": [Interval(Integral, 0, 2, closed="both")],
        "position": [None, Real],
        "thickness": [Interval(Real, 0, None, closed="neither")],
        "ax": "no_validation",
        "title": [None, str],
        "size": [Interval(Real, 0, None, closed="neither")],
    },
    prefer_skip_nested_validation=True,
)
def plot_slice_map(
    positions, labels, *, axis=2, position=None, thickness=3.0, ax=None, title=None, size=6.0
):
    """The atoms of a slab of a large sample, coloured by label (a slice map).

    Parameters
    ----------
    positions : array-like of shape (n_atoms, 3)
        Cartesian positions, Angstrom.
    labels : array-like of shape (n_atoms,)
        Per-atom labels (``LocalLabels.atom_labels``, the truth, or another method's).
    axis : {0, 1, 2}, default=2
        The slab's normal.
    position : float, default=None
        Centre of the slab along ``axis``; default: the middle of the atoms.
    thickness : float, default=3.0
        Slab thickness, Angstrom.
    ax : matplotlib Axes, default=None
        Axes to draw into; default: a new figure.
    title : str, default=None
        Title of the axes; default: none.
    size : float, default=6.0
        Marker size (points squared).

    Returns
    -------
    ax : matplotlib Axes
        The axes drawn on, with one scatter and legend entry per label in the slab.

    Examples
    --------
    >>> import numpy as np
    >>> from skcrystal.plotting import plot_slice_map
    >>> positions = np.random.default_rng(0).uniform(0, 10, (500, 3))
    >>> labels = np.where(positions[:, 0] < 5, "fcc", "bcc")
    >>> ax = plot_slice_map(positions, labels, thickness=2.0)
    >>> sorted(text.get_text() for text in ax.get_legend().get_texts())
    ['bcc', 'fcc']
    """
    positions = np.asarray(positions, dtype=float)
    labels = np.asarray(labels).astype(str)
    if positions.ndim != 2 or positions.shape[1] != 3 or len(labels) != len(positions):
        raise ValueError(
            f"positions must be (n, 3) and labels (n,); got {positions.shape} and {labels.shape}."
        )
    depth = positions[:, axis]
    if position is None:
        position = (depth.min() + depth.max()) / 2
    slab = np.abs(depth - position) <= thickness / 2
    x, y = [positions[slab, k] for k in range(3) if k != axis]
    if ax is None:
        _, ax = _pyplot().subplots(figsize=(5, 5))
    for label in sorted(set(labels[slab].tolist()), key=lambda name: (name == "unknown", name)):
        mine = labels[slab] == label
        ax.scatter(
            x[mine],
            y[mine],
            s=size,
            color=LABEL_COLOURS.get(label, "0.5"),
            label=label,
            linewidths=0,
        )
    ax.set_aspect("equal")
    names = [name for k, name in enumerate("xyz") if k != axis]
    ax.set_xlabel(f"{names[0]} (A)")
    ax.set_ylabel(f"{names[1]} (A)")
    if title is not None:
        ax.set_title(title)
    ax.legend(loc="upper right", markerscale=2, fontsize="small", framealpha=0.8)
    return ax

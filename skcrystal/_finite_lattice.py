"""The lattice of a finite region of atoms from its Bragg peaks, without a periodic cell.

A region of a large sample (a grain of a polycrystal, a volume of an atom-probe
reconstruction) has no cell on whose Miller indices its Bragg peaks sit, and its peaks have
the width ``1/D`` of its diameter ``D``. Its structure factor with unit weights,
``F(q) = (1/N) sum_j exp(-2 pi i q . r_j)``, is evaluated on a Cartesian grid of ``q`` spaced
``1 / (GRID_OVERSAMPLING * D)`` up to ``|q| <= G_MAX_FACTOR / d`` (``d`` the median
nearest-neighbour distance: at least three shells of the reciprocal lattice of every class).
Each atom is weighted by a Gaussian window of the distance from the centre (:data:`WINDOW`):
the sharp edge of the region would put side lobes and surface terms around every peak, of up
to a fifth of its height, and a later step would take them for peaks. With the window the
peaks are Gaussians. Local maxima above :data:`NOISE_SIGMAS` noise scales are the candidate
peaks, their positions refined by a parabola through the logarithm of ``|F|`` along each
axis (exact for a Gaussian).

The three shortest independent strong peaks span a lattice ``L0`` inside the crystal's
reciprocal lattice, of small index ``d`` (an extinction, such as hcp's ``001``, leaves a gap),
so the crystal's lattice lies in ``L0 / d``: ``d`` is the smallest (up to
:data:`MAX_SUBDIVISION`) on whose grid every strong peak has integer coordinates. On that grid
the peaks have integer coordinates, and
:func:`skcrystal._bragg.indexing_basis` grows the lattice peak by peak as it does for a
periodic cell, testing each refinement on predicted points where ``|F|`` is evaluated
exactly. A least-squares fit of the basis to every indexed peak ends it.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter
from scipy.spatial import cKDTree

from ._bragg import MIN_PEAK, REFINE_SIGMAS, _noise_scale, indexing_basis
from ._orientation import reduce_cell

#: Largest ``|q|`` searched, in units of one over the median nearest-neighbour distance.
G_MAX_FACTOR = 1.8
#: Grid points per peak width ``1/D`` along each axis.
GRID_OVERSAMPLING = 1.5
#: A candidate peak must exceed this many noise scales (a noise point passes with
#: probability ``exp(-NOISE_SIGMAS**2)``, about 1e-7: a grid of 1e5 points has few).
NOISE_SIGMAS = 4.0
#: Atoms nearest the centre that the peak search uses: the grid, and so the cost, grows with
#: the cube of the searched diameter.
SEARCH_ATOMS = 256
#: Peaks at least this share of the strongest one's height are strong: they choose ``L0`` and
#: its subdivision.
STRONG = 0.3
#: Largest index of ``L0`` in the crystal's reciprocal lattice that is looked for.
MAX_SUBDIVISION = 12
#: A peak whose coordinates on that grid are further than this from integers is not indexed.
INDEX_TOLERANCE = 0.25
#: Smallest ``|det|`` of three unit peak directions taken as independent.
INDEPENDENCE = 0.2
#: A maximum within this many peak widths ``1/D`` of one more than :data:`SIDE_LOBE` times
#: higher is a side lobe of the region's shape (a sphere's first is about 0.13), not a peak.
SIDE_LOBE_REACH = 3.0
SIDE_LOBE = 0.25
#: Width of the Gaussian window on the atoms, relative to the searched radius.
WINDOW = 0.5
#: Fewer atoms than this give no lattice.
MIN_ATOMS = 16


def finite_lattice(positions, centre=None):
    """Primitive lattice of the crystal in a finite region, from its Bragg peaks.

    Parameters
    ----------
    positions : ndarray of shape (n, 3)
        Cartesian positions of the region's atoms, Angstrom.
    centre : ndarray of shape (3,), default=None
        Centre of the region; the :data:`SEARCH_ATOMS` atoms nearest it are searched.
        Default: the centroid.

    Returns
    -------
    ndarray of shape (3, 3) or None
        Primitive lattice vectors (rows, reduced, right-handed), or ``None`` when no three
        independent peaks stand out (a liquid, an amorphous region, too few atoms).

    Examples
    --------
    A sphere of about 300 atoms of fcc copper:

    >>> import numpy as np
    >>> grid = np.stack(np.meshgrid(*[np.arange(-5, 6)] * 3, indexing="ij"), -1).reshape(-1, 3)
    >>> fcc = (grid[:, None, :] + np.array([[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]])).reshape(-1, 3)
    >>> sphere = 3.61 * fcc[np.linalg.norm(fcc, axis=1) < 2.6]
    >>> primitive = finite_lattice(sphere)
    >>> round(float(abs(np.linalg.det(primitive))), 1)  # 3.61**3 / 4
    11.8
    """
    positions = np.asarray(positions, dtype=float)
    if len(positions) < MIN_ATOMS:
        return None
    centre = positions.mean(axis=0) if centre is None else np.asarray(centre, dtype=float)
    tree = cKDTree(positions)
    _, nearest = tree.query(centre, k=min(SEARCH_ATOMS, len(positions)))
    atoms = positions[np.sort(nearest)] - centre
    spacing = np.median(cKDTree(atoms).query(atoms, k=2)[0][:, 1])
    radius = np.linalg.norm(atoms, axis=1).max()
    if spacing <= 0 or radius <= 0:
        return None
    weights = np.exp(-0.5 * np.sum(atoms**2, axis=1) / (WINDOW * radius) ** 2)
    weights /= weights.sum()
    step = 1 / (GRID_OVERSAMPLING * 2 * radius)
    peaks, heights, sigma = _grid_peaks(atoms, weights, G_MAX_FACTOR / spacing, step)
    if len(peaks) == 0:
        return None
    strong = peaks[heights >= STRONG * heights[0]]
    base = _independent(strong[np.argsort(np.linalg.norm(strong, axis=1), kind="stable")])
    if base is None:
        return None
    grid = base / _subdivision(strong @ np.linalg.inv(base))
    coordinates = peaks @ np.linalg.inv(grid)
    on_grid = np.all(np.abs(coordinates - np.round(coordinates)) <= INDEX_TOLERANCE, axis=1)
    indices = np.round(coordinates[on_grid]).astype(np.int64)
    # The "cell" whose Miller indices the grid points are: its reciprocal basis is ``grid``.
    pseudo_cell = np.linalg.inv(grid).T
    basis = indexing_basis(
        pseudo_cell,
        indices,
        heights[on_grid],
        lambda points: _amplitudes(atoms, weights, np.asarray(points) @ grid),
        max(MIN_PEAK, REFINE_SIGMAS * sigma),
        G_MAX_FACTOR / spacing,
    )
    if basis is None:
        return None
    reciprocal = _fitted(basis @ grid, peaks, step)
    primitive = reduce_cell(np.linalg.inv(reciprocal).T)[0]
    return primitive if np.linalg.det(primitive) > 0 else -primitive


def _amplitudes(atoms, weights, q):
    """``|F(q)|`` of the weighted atoms at the rows of ``q``."""
    phase = 2 * np.pi * (np.atleast_2d(q) @ atoms.T)
    # Real cosine and sine: several times cheaper than the complex exponential.
    return np.hypot(np.cos(phase) @ weights, np.sin(phase) @ weights)


def _grid_peaks(atoms, weights, g_max, step):
    """Refined peaks (Cartesian ``q``, strongest first), their ``|F|`` and the noise scale.

    The grid covers the half-space ``q_z >= 0`` (Friedel's law ``|F(-q)| = |F(q)|``);
    ``F`` factorises over the three axes, so the sum over atoms is one matrix product.
    """
    half = int(np.ceil(g_max / step))
    axis = np.arange(-half, half + 1) * step
    upper = axis[half:]
    exponentials = [
        np.exp(-2j * np.pi * np.outer(atoms[:, i], grid)).astype(np.complex64)
        for i, grid in enumerate((axis, axis, upper))
    ]
    # Only the (q_y, q_z) columns inside the sphere |q| <= g_max are summed.
    qy, qz = np.meshgrid(axis, upper, indexing="ij")
    columns = np.flatnonzero((qy**2 + qz**2 <= g_max**2).ravel())
    plane = (exponentials[1][:, :, None] * exponentials[2][:, None, :]).reshape(len(atoms), -1)[
        :, columns
    ]
    weighted = np.ascontiguousarray((exponentials[0] * weights[:, None].astype(np.float32)).T)
    amplitude = np.zeros((len(axis), len(axis) * len(upper)), dtype=np.float32)
    amplitude[:, columns] = np.abs(weighted @ plane)
    amplitude = amplitude.reshape(len(axis), len(axis), len(upper))
    qx, qy, qz = np.meshgrid(axis, axis, upper, indexing="ij", sparse=True)
    lengths = np.sqrt(qx**2 + qy**2 + qz**2)
    inside = (lengths <= g_max) & (lengths > 2 * step)
    sigma = _noise_scale(amplitude[inside])
    bar = max(MIN_PEAK, NOISE_SIGMAS * sigma)
    maxima = (
        (amplitude == maximum_filter(amplitude, size=3, mode="constant", cval=-1.0))
        & inside
        & (amplitude > bar)
    )
    found = np.argwhere(maxima)
    # Off the grid's edges only: the parabola needs both neighbours.
    limits = np.array(amplitude.shape) - 1
    found = found[np.all((found > 0) & (found < limits), axis=1)]

    def log(points):
        return np.log(np.maximum(amplitude[tuple(points.T)].astype(float), 1e-12))

    offsets = np.zeros(found.shape)
    for axis_index in range(3):
        unit = np.eye(3, dtype=int)[axis_index]
        below, centre, above = log(found - unit), log(found), log(found + unit)
        curvature = below - 2 * centre + above
        offsets[:, axis_index] = np.clip(
            np.divide(
                0.5 * (below - above), curvature, out=np.zeros(len(found)), where=curvature < 0
            ),
            -0.5,
            0.5,
        )
    origin = np.array([-half, -half, 0])
    q = (found + origin + offsets) * step
    heights = amplitude[tuple(found.T)]
    order = np.lexsort((np.round(np.linalg.norm(q, axis=1), 9), -np.round(heights, 6)))
    q, heights = q[order], heights[order]
    keep = np.ones(len(q), dtype=bool)
    reach = SIDE_LOBE_REACH * GRID_OVERSAMPLING * step
    for index, neighbours in enumerate(cKDTree(q).query_ball_point(q, reach)):
        if any(
            other < index and heights[index] < SIDE_LOBE * heights[other] for other in neighbours
        ):
            keep[index] = False
    return q[keep], heights[keep], sigma


def _independent(peaks):
    """The first three peaks (rows, in order) that are clearly independent, or ``None``."""
    chosen = []
    for peak in peaks:
        units = [p / np.linalg.norm(p) for p in (*chosen, peak)]
        if len(units) == 1:
            independent = True
        elif len(units) == 2:
            independent = np.linalg.norm(np.cross(*units)) > INDEPENDENCE
        else:
            independent = abs(np.linalg.det(np.array(units))) > INDEPENDENCE
        if independent:
            chosen.append(peak)
        if len(chosen) == 3:
            return np.array(chosen)
    return None


def _subdivision(coordinates):
    """Smallest ``d`` on whose grid (``1/d``) all coordinates are integers, within tolerance.

    If none up to :data:`MAX_SUBDIVISION` is, the one that indexes the most.
    """
    counts = []
    for d in range(1, MAX_SUBDIVISION + 1):
        scaled = coordinates * d
        indexed = np.all(np.abs(scaled - np.round(scaled)) <= INDEX_TOLERANCE, axis=1)
        if indexed.all():
            return d
        counts.append(indexed.sum())
    return 1 + int(np.argmax(counts))


def _fitted(reciprocal, peaks, tolerance):
    """The reciprocal basis fitted (least squares) to every peak within ``tolerance`` of it."""
    integers = np.round(peaks @ np.linalg.inv(reciprocal))
    indexed = np.linalg.norm(integers @ reciprocal - peaks, axis=1) <= tolerance
    if np.linalg.matrix_rank(integers[indexed]) < 3:
        return reciprocal
    return np.linalg.lstsq(integers[indexed], peaks[indexed], rcond=None)[0]

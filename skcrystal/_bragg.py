"""The lattice of a crystal from its Bragg peaks, without a tolerance on atomic positions.

Bragg peaks survive defects. The structure factor with unit weights,
``F(G) = (1/N) sum_j exp(-2 pi i G . r_j)``, is evaluated at the reciprocal-lattice points ``G``
of the input cell up to ``|G| <= G_MAX_FACTOR / (V/N)**(1/3)``. Points whose ``|F|`` stands out
of the noise floor (``NOISE_SIGMAS`` times the Rayleigh scale estimated from the median, and at
least ``MIN_PEAK``) are candidates. Correlated thermal motion adds satellites beside every Bragg
peak (one per phonon of the box, at ``G +- q``), and the strong ones pass that test too, so the
lattice is not the span of all candidates but the one that indexes the strongest of them
(:func:`indexing_basis`). It is exact (an integer sublattice of the input cell's reciprocal
lattice), whatever the vacancies, substitutions or displacements, and its dual is the
primitive lattice of the crystal (the average lattice of a hot one).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter

from ._orientation import reduce_cell

#: Largest ``|G|`` searched for Bragg peaks, in units of ``1 / (V/N)**(1/3)``. Covers at least
#: two shells of the primitive reciprocal lattice of every class, also at 70 % vacancies.
G_MAX_FACTOR = 2.5
#: A peak must exceed this many noise scales: ``exp(-NOISE_SIGMAS**2)`` is the chance that a
#: noise point passes, about 1e-11 per point.
NOISE_SIGMAS = 5.0
#: Absolute floor on ``|F|`` (``F`` normalised so that a perfect Bravais crystal gives 1).
MIN_PEAK = 0.1
#: Below this many atoms a cell carries no statistics to estimate a noise floor from: every
#: Fourier component above ``MIN_PEAK`` is taken as a peak.
MIN_ATOMS_FOR_NOISE = 32
#: Atoms entering the Bragg-peak search of a large cell: a fixed random subset (peaks keep
#: their height, the noise floor rises to about ``1 / sqrt(PEAK_SEARCH_ATOMS)``, 0.02).
PEAK_SEARCH_ATOMS = 2048
#: Atoms per block of the peak search (bounds its memory to about 100 MB).
PEAK_SEARCH_BLOCK = 256
#: Reciprocal-lattice points of the input cell searched one by one (about 65 per atom, so
#: cells of up to about 8,000 atoms). A larger cell (a simulation box) is searched in two
#: stages whose cost does not grow with its volume: see :func:`bragg_lattice`.
DIRECT_SEARCH_POINTS = 2**19
#: Atoms in the compact chunk of a large cell that the first stage searches. Its noise floor,
#: times :data:`CANDIDATE_SIGMAS`, stays below the height ``0.73 * MIN_PEAK`` that a peak
#: of the direct search keeps on the first stage's grid, so both find the same peaks.
CHUNK_ATOMS = 2048
#: In the first stage, a chunk-grid point is a candidate if its ``|F|`` exceeds this many
#: noise scales (lower than :data:`NOISE_SIGMAS`: a peak between grid points is attenuated).
CANDIDATE_SIGMAS = 4.0
#: Strongest first-stage candidates (local maxima of ``|F|`` on its grid) refined in the
#: second stage.
MAX_CANDIDATES = 256
#: Points above the threshold, strongest first, that the indexing considers.
MAX_INDEXED_PEAKS = 512
#: A refinement of the indexed lattice is taken when at least this fraction of its new points
#: nearest the origin are peaks (see :func:`indexing_basis`).
REFINE_FRACTION = 0.35
#: A predicted lattice point counts as a peak above this many noise scales (and ``MIN_PEAK``):
#: a noise point passes with probability ``exp(-REFINE_SIGMAS**2 / 2)``, about 1 %.
REFINE_SIGMAS = 3.0
#: New points tested per refinement, and the reach (in reduced basis coefficients) searched.
REFINE_POINTS = 16
REFINE_REACH = 3


def _search_axes(cell, g_max):
    """Miller-index ranges covering every ``|G| <= g_max`` of a cell's reciprocal lattice."""
    half = np.ceil(g_max * np.linalg.norm(cell, axis=1)).astype(int)
    # Friedel's law |F(-G)| = |F(G)|: the half-space l >= 0 holds every peak up to sign.
    return [
        np.arange(-half[0], half[0] + 1),
        np.arange(-half[1], half[1] + 1),
        np.arange(half[2] + 1),
    ]


def _g_max(cell, n):
    """Largest ``|G|`` searched in a cell of ``n`` atoms (see :data:`G_MAX_FACTOR`)."""
    return G_MAX_FACTOR / (abs(np.linalg.det(cell)) / n) ** (1 / 3)


def _amplitudes(frac, axes):
    """``|F|`` of the atoms at every Miller index of the grid ``axes``, shape of the grid.

    ``F(hkl) = (1/n) sum_j exp(-2 pi i (h x_j + k y_j + l z_j))`` factorises over the three
    axes: the sum over atoms is one matrix product per block of atoms. Single precision
    (phases to about 1e-5 radian) is ample: amplitudes are compared with thresholds of 0.1.
    """
    h, k, l = (len(a) for a in axes)
    # The (h, l) plane is the smaller one (l >= 0 only): it is formed per atom, k by the product.
    total = np.zeros((h * l, k), dtype=np.complex64)
    for start in range(0, len(frac), PEAK_SEARCH_BLOCK):
        block = frac[start : start + PEAK_SEARCH_BLOCK]
        angles = [(2 * np.pi * np.outer(block[:, i], axes[i])).astype(np.float32) for i in range(3)]
        phases = [np.cos(angle) - 1j * np.sin(angle) for angle in angles]
        plane = (phases[0][:, :, None] * phases[2][:, None, :]).reshape(len(block), -1)
        total += plane.T @ phases[1]
    return np.abs(total).reshape(h, l, k).transpose(0, 2, 1) / len(frac)


def _grid_lengths(cell, axes):
    """``|G|`` at every Miller index of the grid ``axes`` of ``cell``'s reciprocal lattice."""
    metric = np.linalg.inv(cell @ cell.T)  # reciprocal metric: |G|^2 = h^T metric h
    h, k, l = np.ix_(*[a.astype(float) for a in axes])
    squared = (
        metric[0, 0] * h * h
        + metric[1, 1] * k * k
        + metric[2, 2] * l * l
        + 2 * (metric[0, 1] * h * k + metric[0, 2] * h * l + metric[1, 2] * k * l)
    )
    return np.sqrt(np.maximum(squared, 0.0))


def _noise_scale(amplitudes):
    """Rayleigh scale of the noise floor, from the median of ``|F|`` off the lattice.

    Off the lattice, disorder scatters like a complex Gaussian: ``|F|`` is Rayleigh
    distributed and its median is ``sigma * sqrt(ln 2)``.
    """
    return float(np.median(amplitudes)) / np.sqrt(np.log(2.0))


def _subset(frac, size):
    """A fixed pseudo-random subset of at most ``size`` atoms, in their original order.

    The choice is keyed on each atom's position (hashed), not on its index: the same atoms are
    chosen whatever the atom order, and a regular lattice gives no regular subset (which would
    have Bragg peaks of its own).
    """
    if len(frac) <= size:
        return frac
    grid = np.floor((frac - np.floor(frac)) * 2**20).astype(np.uint64)
    key = grid[:, 0] | (grid[:, 1] << np.uint64(20)) | (grid[:, 2] << np.uint64(40))
    # splitmix64's finaliser: nearby positions get unrelated keys.
    with np.errstate(over="ignore"):
        key = (key ^ (key >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        key = (key ^ (key >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        key ^= key >> np.uint64(31)
    return frac[np.sort(np.argpartition(key, size - 1)[:size])]


def bragg_lattice(cell, frac_coords):
    """Primitive lattice spanned by the Bragg peaks of a periodic structure.

    Parameters
    ----------
    cell : ndarray of shape (3, 3)
        Lattice vectors of the input cell, as rows, in Angstrom.
    frac_coords : ndarray of shape (n, 3)
        Fractional coordinates of the atoms in that cell.

    Returns
    -------
    ndarray of shape (3, 3) or None
        Primitive lattice vectors (rows, Cartesian, same frame as ``cell``), or ``None`` when
        the peaks do not span three dimensions.

    Notes
    -----
    The Miller indices of the (reduced) input cell up to ``|G| <= g_max`` are about 65 per
    atom. Up to :data:`DIRECT_SEARCH_POINTS` of them, each is evaluated, with at most
    :data:`PEAK_SEARCH_ATOMS` atoms. A larger cell, a simulation box, is searched in two
    stages that cost the same for any box size:

    1. A compact chunk of the box, ``1/m`` of it along each reduced cell vector (about
       :data:`CHUNK_ATOMS` atoms; the fullest of the box's chunks), is searched on every
       ``m//2``-th Miller index of the box (at least twice as fine as the chunk's own
       reciprocal grid). A Bragg peak of the box lies at most ``m/4`` indices from a point
       of that grid, where the chunk still shows at least ``sinc(1/4)**3 = 0.73`` of the
       peak's height. The local maxima of that grid above :data:`CANDIDATE_SIGMAS` noise
       scales are candidates (the strongest :data:`MAX_CANDIDATES`).
    2. Around each candidate, every Miller index of the box within ``m/4`` (and at least
       its 26 neighbours) is evaluated with :data:`PEAK_SEARCH_ATOMS` atoms of the whole
       box. The box is periodic, so its Bragg peaks sit exactly on these indices, at full
       height, and pass the same test as in the direct search.

    Examples
    --------
    >>> import numpy as np
    >>> conventional = 3.6 * np.eye(3)
    >>> fcc = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    >>> primitive = bragg_lattice(conventional, fcc)
    >>> round(float(abs(np.linalg.det(primitive))), 3)  # a quarter of the cube
    11.664
    """
    reduced, mapping = reduce_cell(cell)
    frac = np.asarray(frac_coords, dtype=float) @ np.linalg.inv(mapping)
    frac -= np.floor(frac)
    g_max = _g_max(reduced, len(frac))
    axes = _search_axes(reduced, g_max)
    atoms = _subset(frac, PEAK_SEARCH_ATOMS)
    if np.prod([len(a) for a in axes]) <= DIRECT_SEARCH_POINTS:
        peaks, heights, sigma = _direct_peaks(reduced, atoms, axes, g_max)
    else:
        peaks, heights, sigma = _two_stage_peaks(reduced, frac, atoms, g_max)
    bar = max(MIN_PEAK, REFINE_SIGMAS * sigma)
    basis = indexing_basis(
        reduced, peaks, heights, lambda indices: _amplitudes_at(atoms, indices), bar, g_max
    )
    if basis is None:
        return None
    # Reciprocal primitive basis = basis @ reciprocal(reduced); its dual in real space, reduced
    # (the basis of the peaks may be skewed; what follows folds atoms into this cell) and
    # right-handed (the canonical rotation of a left-handed basis would be an inversion off).
    primitive = reduce_cell(np.linalg.inv(basis).T @ reduced)[0]
    return primitive if np.linalg.det(primitive) > 0 else -primitive


def _direct_peaks(cell, frac, axes, g_max):
    """Bragg peaks on the grid ``axes``, every point evaluated.

    Returns the Miller indices of the peaks (rows), their ``|F|`` and the noise scale.
    """
    amplitude = _amplitudes(frac, axes)
    lengths = _grid_lengths(cell, axes)
    inside = (lengths <= g_max) & (lengths > 0)
    sigma = 0.0 if len(frac) < MIN_ATOMS_FOR_NOISE else _noise_scale(amplitude[inside])
    found = np.nonzero(inside & (amplitude > max(MIN_PEAK, NOISE_SIGMAS * sigma)))
    return (
        np.stack([axis[index] for axis, index in zip(axes, found)], axis=1),
        amplitude[found],
        sigma,
    )


def _two_stage_peaks(cell, frac, atoms, g_max):
    """Bragg peaks of a large cell (see :func:`bragg_lattice`), as :func:`_direct_peaks` gives them.

    ``atoms`` is the subset of ``frac`` that the second stage evaluates.
    """
    widths = 1.0 / np.linalg.norm(np.linalg.inv(cell), axis=0)
    edge = (abs(np.linalg.det(cell)) * CHUNK_ATOMS / len(frac)) ** (1 / 3)
    m = np.maximum(1, np.round(widths / edge)).astype(int)
    # The box cut into m[0] x m[1] x m[2] chunks; the fullest one is searched (a box that is
    # partly empty, a slab in vacuum say, still shows its crystal).
    index = np.ravel_multi_index(np.minimum(np.floor(frac * m).astype(int), m - 1).T, m)
    chunk = frac[index == np.argmax(np.bincount(index, minlength=np.prod(m)))]
    none = np.zeros((0, 3), dtype=int), np.zeros(0), 0.0
    if len(chunk) < MIN_ATOMS_FOR_NOISE:
        return none
    # The chunk's own reciprocal grid is every m-th Miller index of the box; every step-th
    # one is searched (at least twice as fine), so a peak is at most a quarter of the chunk's
    # grid spacing away, where the chunk shows at least sinc(1/4)**3 = 0.73 of its height.
    step = np.maximum(1, m // 2)
    axes = [a * k for a, k in zip(_search_axes(cell / step[:, None], g_max), step)]
    amplitude = _amplitudes(chunk, axes)
    lengths = _grid_lengths(cell, axes)
    inside = (lengths <= g_max) & (lengths > 0)
    # At least as high as its 26 neighbours (off the grid counts as lower): one point per peak.
    maxima = amplitude == maximum_filter(amplitude, size=3, mode="constant", cval=-np.inf)
    score = np.where(inside & maxima, amplitude, 0.0).ravel()
    strongest = np.argsort(score, kind="stable")[::-1][:MAX_CANDIDATES]
    strongest = strongest[score[strongest] > CANDIDATE_SIGMAS * _noise_scale(amplitude[inside])]
    grid_points = np.unravel_index(strongest, amplitude.shape)
    candidates = np.stack([axis[index] for axis, index in zip(axes, grid_points)], axis=1)

    # A peak is within step/2 of its candidate; at least one neighbour each way is evaluated
    # too, so that most points are off the lattice and give the noise level.
    offsets = [np.arange(-max(1, k // 2), max(1, k // 2) + 1) for k in step]
    indices, amplitudes = [], []
    for centre in candidates:
        around = [c + offset for c, offset in zip(centre, offsets)]
        indices.append(np.stack(np.meshgrid(*around, indexing="ij"), axis=-1).reshape(-1, 3))
        amplitudes.append(_amplitudes(atoms, around).ravel())
    if not indices:
        return none
    indices, first = np.unique(np.concatenate(indices), axis=0, return_index=True)
    amplitudes = np.concatenate(amplitudes)[first]
    keep = np.any(indices != 0, axis=1)
    indices, amplitudes = indices[keep], amplitudes[keep]
    sigma = _noise_scale(amplitudes)
    found = amplitudes > max(MIN_PEAK, NOISE_SIGMAS * sigma)
    return indices[found], amplitudes[found], sigma


def _amplitudes_at(frac, indices):
    """``|F|`` of the atoms at the Miller indices ``indices`` (rows), one value per row."""
    indices = np.asarray(indices, dtype=float).reshape(-1, 3)
    total = np.zeros(len(indices), dtype=np.complex64)
    for start in range(0, len(frac), PEAK_SEARCH_BLOCK):
        angles = (2 * np.pi * frac[start : start + PEAK_SEARCH_BLOCK] @ indices.T).astype(
            np.float32
        )
        total += np.cos(angles).sum(axis=0) - 1j * np.sin(angles).sum(axis=0)
    return np.abs(total) / len(frac)


def indexing_basis(cell, peaks, heights, amplitude_at, bar, g_max):
    """Reciprocal lattice (integer rows, Miller indices of ``cell``) that indexes the Bragg peaks.

    Thermal motion is correlated: every phonon of the box puts satellites beside the Bragg
    peaks, at ``G +- q``, and the strong ones pass any threshold. The integer span of all the
    points above the threshold is then a finer lattice than the crystal's (a supercell in real
    space: a large, degenerate cell). So the lattice is grown peak by peak, strongest first:

    1. The strongest peaks span it until it has three dimensions.
    2. A later peak outside it would refine it to ``L' = L + Z p``. A refinement by a Bragg peak
       of the crystal adds lattice points most of which are Bragg peaks too; one by a
       satellite adds points ``+-q``, ``G +- q``, ... at which, away from the few strong
       satellites, there is only diffuse intensity (and none near the origin, where satellites
       vanish with ``G``). So ``L'`` is taken if at least :data:`REFINE_FRACTION` of its
       :data:`REFINE_POINTS` new points nearest the origin exceed ``bar``. These points are
       predicted, not searched for among thousands, so ``bar`` can be lower than the search
       threshold (:data:`REFINE_SIGMAS` noise scales): a crystal with 70 % vacancies keeps
       its weaker Bragg peaks.

    Parameters
    ----------
    cell : ndarray of shape (3, 3)
        The (reduced) cell whose Miller indices the peaks are.
    peaks : ndarray of shape (m, 3)
        Miller indices of the points above the threshold.
    heights : ndarray of shape (m,)
        Their ``|F|``.
    amplitude_at : callable
        ``|F|`` at an array of Miller indices (rows).
    bar : float
        The height a new lattice point must exceed to count as a peak.
    g_max : float
        Largest ``|G|`` searched.

    Returns
    -------
    ndarray of shape (3, 3) or None
        Basis rows, or ``None`` when the peaks span fewer than three dimensions.

    Examples
    --------
    The peaks of a simple cubic crystal in a doubled cell, with one satellite beside the
    strongest peak:

    >>> import numpy as np
    >>> peaks = np.array([[2, 0, 0], [0, 2, 0], [0, 0, 2], [3, 0, 0], [2, 2, 0]])
    >>> heights = np.array([1.0, 1.0, 1.0, 0.5, 0.9])
    >>> def amplitude_at(indices):  # Bragg peaks at even indices, nothing elsewhere
    ...     return np.where(np.all(np.asarray(indices) % 2 == 0, axis=1), 1.0, 0.0)
    >>> indexing_basis(np.eye(3), peaks, heights, amplitude_at, 0.1, 2.0).tolist()
    [[2, 0, 0], [0, 2, 0], [0, 0, 2]]
    """
    peaks = np.asarray(peaks, dtype=np.int64).reshape(-1, 3)
    lengths = np.linalg.norm(peaks @ np.linalg.inv(cell).T, axis=1)
    # Strongest first; equal heights (a pristine crystal) by length, then by index.
    order = np.lexsort(
        (*peaks.T[::-1], np.round(lengths, 9), -np.round(np.asarray(heights, dtype=float), 6))
    )
    peaks = peaks[order][:MAX_INDEXED_PEAKS]
    for count in range(1, len(peaks) + 1):
        if np.linalg.matrix_rank(peaks[:count].astype(float)) == 3:
            break
    else:
        return None
    basis = integer_basis(peaks[:count])
    # Peaks whose refinement of the current basis was refused. A later peak p' with
    # p' -+ p in the lattice refines it to the same lattice L + Z p (the satellites G +- q
    # of one phonon q, over all G): refused again, so not tested again.
    refused = np.zeros((0, 3), dtype=np.int64)
    while count < len(peaks):
        rest = peaks[count:]
        # The next peak outside the lattice, all the peaks checked at once.
        offsets = np.vstack([refused, -refused])
        shifted = (rest[:, None, :] + offsets[None, :, :]).reshape(-1, 3)
        same_as_refused = _contains(basis, shifted).reshape(len(rest), -1).any(axis=1)
        outside = np.flatnonzero(~_contains(basis, rest) & ~same_as_refused)
        if not len(outside):
            break
        peak = peaks[count + outside[0]]
        count += outside[0] + 1
        refined = integer_basis(np.vstack([basis, peak]))
        new = _nearest_new_points(cell, refined, basis, g_max)
        if len(new) and np.mean(amplitude_at(new) > bar) >= REFINE_FRACTION:
            basis = refined
            refused = refused[:0]
        else:
            refused = np.vstack([refused, peak])
    return hermite_form(basis)


def hermite_form(basis):
    """The Hermite normal form of an integer basis (rows): one basis per lattice.

    Upper triangular, positive diagonal, entries above each diagonal entry in ``[0, d)``.
    Peaks found in another order (a permuted or turned input, float rounding) give the same
    lattice, and through this form the same basis, hence the same frame.

    Examples
    --------
    >>> hermite_form(np.array([[1, 1, 0], [0, -1, 0], [0, 3, 2]])).tolist()  # (1, 1, 0) - (0, 1, 0)
    [[1, 0, 0], [0, 1, 0], [0, 0, 2]]
    """
    form = integer_basis(basis)
    for col in range(1, 3):
        for row in range(col):
            form[row] -= (form[row, col] // form[col, col]) * form[col]
    return form


def _contains(basis, points):
    """Whether the integer lattice with these basis rows contains each of ``points`` (rows)."""
    coefficients = np.asarray(points, dtype=float) @ np.linalg.inv(basis.T.astype(float)).T
    return np.all(np.abs(coefficients - np.round(coefficients)) <= 1e-6, axis=1)


def _nearest_new_points(cell, refined, basis, g_max):
    """The :data:`REFINE_POINTS` points of ``refined`` nearest the origin that ``basis`` lacks."""
    to_cartesian = np.linalg.inv(cell).T
    # Reduced, a basis reaches the nearest points with small coefficients.
    refined = np.rint(reduce_cell(refined @ to_cartesian)[1]).astype(np.int64) @ refined
    span = np.arange(-REFINE_REACH, REFINE_REACH + 1)
    coefficients = np.stack(np.meshgrid(span, span, span, indexing="ij"), axis=-1).reshape(-1, 3)
    points = coefficients @ refined
    lengths = np.linalg.norm(points @ to_cartesian, axis=1)
    new = ~_contains(basis, points) & (lengths <= g_max)
    order = np.lexsort((*points[new].T[::-1], np.round(lengths[new], 9)))
    return points[new][order][:REFINE_POINTS]


def integer_basis(vectors):
    """Basis (upper-triangular rows) of the integer lattice spanned by ``vectors``.

    Returns ``None`` if the vectors span fewer than three dimensions.

    Examples
    --------
    >>> integer_basis([[2, 0, 0], [0, 3, 0], [0, 0, 1], [1, 1, 0]]).tolist()
    [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    """
    rows = np.array(vectors, dtype=np.int64).reshape(-1, 3)
    basis = []
    for col in range(3):
        while True:
            nonzero = np.flatnonzero(rows[:, col])
            if len(nonzero) <= 1:
                break
            pivot = nonzero[np.argmin(np.abs(rows[nonzero, col]))]
            others = nonzero[nonzero != pivot]
            # Euclid's step on the whole rows: each remainder is smaller than the pivot.
            quotient = rows[others, col] // rows[pivot, col]
            rows[others] -= np.outer(quotient, rows[pivot])
        if len(nonzero) == 0:
            return None
        basis.append(rows[nonzero[0]].copy())
        rows = np.delete(rows, nonzero[0], axis=0)
    basis = np.array(basis)
    basis *= np.sign(np.diag(basis))[:, None]
    return basis

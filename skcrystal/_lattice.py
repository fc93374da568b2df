"""Canonical cell, orientation and cluster of a periodic structure.

The fingerprint must not depend on how the user wrote the crystal down: primitive or
conventional cell, supercell, rotation, translation, atom order, and a few defects. This
module maps a periodic structure to a finite cluster of atoms in a canonical frame, without a
tolerance on atomic positions:

1. Bragg peaks survive defects. The structure factor with unit weights,
   ``F(G) = (1/N) sum_j exp(-2 pi i G . r_j)``, is evaluated at the reciprocal-lattice points
   ``G`` of the input cell up to ``|G| <= G_MAX_FACTOR / (V/N)**(1/3)``. Points whose ``|F|``
   stands out of the noise floor (``NOISE_SIGMAS`` times the Rayleigh scale estimated from the
   median) are Bragg peaks of the parent crystal. Their integer span is the reciprocal lattice
   of the primitive cell; it is exact (an integer sublattice of the input cell's reciprocal
   lattice), whatever the vacancies, substitutions or displacements.
2. The real-space primitive lattice, dual to that span, is standardised by spglib *as a bare
   lattice* (one point per cell). The tolerance acts on lattice vectors that are exact
   integer combinations of the input cell, not on noisy atoms; spglib's standard orientation
   (conventional axes along x, y, z for cubic lattices; c along z for tetragonal, hexagonal and
   rhombohedral ones) becomes the canonical frame, as in the paper's reference code.
3. The length scale is the parent crystal's nearest-neighbour distance: atoms folded into
   the primitive cell form one blob per basis site, whose centres average out displacements
   (the plain minimum distance per atom is biased low by them).
4. A cluster of about ``n_atoms`` atoms (fewer in proportion to the vacancies, so that a
   defective crystal keeps its parent's cluster radius) is carved from the periodic structure
   around a canonical basis site (a sphere has no memory of the cell), its last coordination
   shell completed or dropped so that a pristine cluster keeps the site symmetry.

If no three independent Bragg peaks are found (amorphous or strongly disordered input), the
input cell itself stands in for the primitive lattice, so the result is still deterministic.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import spglib

from ._spglib import quiet

#: Largest ``|G|`` searched for Bragg peaks, in units of ``1 / (V/N)**(1/3)``. Covers at least
#: two shells of the primitive reciprocal lattice of every class, also at 70 % vacancies.
G_MAX_FACTOR = 2.5
#: A peak must exceed this many noise scales: ``exp(-NOISE_SIGMAS**2)`` is the chance that a
#: noise point passes, about 1e-11 per point.
NOISE_SIGMAS = 5.0
#: Absolute floor on ``|F|`` (``F`` normalised so that a perfect Bravais crystal gives 1).
MIN_PEAK = 0.1
#: spglib tolerance on the bare primitive lattice, relative to its longest basis vector.
LATTICE_SYMPREC = 1e-4
#: Two distances from the centre closer than this (relative) belong to one coordination shell.
SHELL_RTOL = 1e-6


@dataclass(frozen=True)
class Cluster:
    """A finite cluster in the canonical frame.

    Attributes
    ----------
    positions : ndarray of shape (n, 3)
        Cartesian positions, centred on the centroid, scaled so that the parent crystal's
        nearest-neighbour distance is 1 Angstrom, rotated into the canonical frame.
    numbers : ndarray of shape (n,)
        Atomic numbers.
    rotation : ndarray of shape (3, 3)
        The proper rotation applied to the input frame (``r_canonical = rotation @ r``).
    scale : float
        The nearest-neighbour distance (Angstrom) divided out.
    """

    positions: np.ndarray
    numbers: np.ndarray
    rotation: np.ndarray
    scale: float


#: Radius of a basis-site blob, relative to the raw nearest-neighbour distance.
BLOB_RADIUS = 0.3
#: The ideal nearest-neighbour distance is trusted within this range of the raw estimate.
IDEAL_RANGE = (0.8, 1.6)
#: Neighbours compared, and their relative rounding, when choosing the centre site.
SIGNATURE_NEIGHBOURS = 32
SIGNATURE_RTOL = 0.02
#: Distances within this fraction of the shortest one form the first coordination shell.
SHELL_WIDTH = 0.02
#: Significant digits of the metric on which cells are reduced.
METRIC_DIGITS = 9
#: Cells more skewed than this (product of vector lengths over volume) are LLL-reduced
#: exactly before their metric is rounded.
PRE_REDUCE_SKEW = 50.0
#: Neighbours within this many nearest-neighbour distances enter the handedness functional.
HANDEDNESS_RADIUS = 2.5
#: Smallest cluster carved from a crystal with many vacancies.
MIN_CLUSTER = 16
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
#: Atoms whose folding gives the blob centres of the ideal basis (a fixed pseudo-random subset of a
#: larger cell: the centres are averages, a subset of this size pins them to 1e-3 of a bond).
BASIS_ATOMS = 65536


def _search_axes(cell, g_max):
    """Miller-index ranges covering every ``|G| <= g_max`` of a cell's reciprocal lattice."""
    half = np.ceil(g_max * np.linalg.norm(cell, axis=1)).astype(int)
    # Friedel's law |F(-G)| = |F(G)|: the half-space l >= 0 holds every peak up to sign.
    return [np.arange(-half[0], half[0] + 1), np.arange(-half[1], half[1] + 1), np.arange(half[2] + 1)]


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
    if np.prod([len(a) for a in axes]) <= DIRECT_SEARCH_POINTS:
        peaks = _direct_peaks(reduced, _subset(frac, PEAK_SEARCH_ATOMS), axes, g_max)
    else:
        peaks = _two_stage_peaks(reduced, frac, g_max)
    basis = integer_basis(peaks)
    if basis is None:
        return None
    # Reciprocal primitive basis = basis @ reciprocal(reduced); its dual in real space:
    return np.linalg.inv(basis).T @ reduced


def _direct_peaks(cell, frac, axes, g_max):
    """Miller indices (rows) of the Bragg peaks on the grid ``axes``, every point evaluated."""
    amplitude = _amplitudes(frac, axes)
    lengths = _grid_lengths(cell, axes)
    inside = (lengths <= g_max) & (lengths > 0)
    sigma = 0.0 if len(frac) < MIN_ATOMS_FOR_NOISE else _noise_scale(amplitude[inside])
    found = np.nonzero(inside & (amplitude > max(MIN_PEAK, NOISE_SIGMAS * sigma)))
    return np.stack([axis[index] for axis, index in zip(axes, found)], axis=1)


def _two_stage_peaks(cell, frac, g_max):
    """Miller indices of the Bragg peaks of a large cell (see :func:`bragg_lattice`)."""
    widths = 1.0 / np.linalg.norm(np.linalg.inv(cell), axis=0)
    edge = (abs(np.linalg.det(cell)) * CHUNK_ATOMS / len(frac)) ** (1 / 3)
    m = np.maximum(1, np.round(widths / edge)).astype(int)
    # The box cut into m[0] x m[1] x m[2] chunks; the fullest one is searched (a box that is
    # partly empty, a slab in vacuum say, still shows its crystal).
    index = np.ravel_multi_index(np.minimum(np.floor(frac * m).astype(int), m - 1).T, m)
    chunk = frac[index == np.argmax(np.bincount(index, minlength=np.prod(m)))]
    none = np.zeros((0, 3), dtype=int)
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
    score = np.where(inside & _local_maxima(amplitude), amplitude, 0.0).ravel()
    strongest = np.argsort(score, kind="stable")[::-1][:MAX_CANDIDATES]
    strongest = strongest[score[strongest] > CANDIDATE_SIGMAS * _noise_scale(amplitude[inside])]
    grid_points = np.unravel_index(strongest, amplitude.shape)
    candidates = np.stack([axis[index] for axis, index in zip(axes, grid_points)], axis=1)

    atoms = _subset(frac, PEAK_SEARCH_ATOMS)
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
    return indices[amplitudes > max(MIN_PEAK, NOISE_SIGMAS * _noise_scale(amplitudes))]


def _local_maxima(values):
    """Points of a 3-d grid at least as high as their 26 neighbours (one per peak)."""
    padded = np.pad(values, 1, constant_values=-np.inf)
    n0, n1, n2 = values.shape
    peak = np.ones(values.shape, dtype=bool)
    for i, j, k in np.ndindex(3, 3, 3):
        if (i, j, k) != (1, 1, 1):
            peak &= values >= padded[i : i + n0, j : j + n1, k : k + n2]
    return peak


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


def canonical_rotation(primitive_cell):
    """Rotation taking a lattice to spglib's standard orientation of its Bravais lattice.

    Parameters
    ----------
    primitive_cell : ndarray of shape (3, 3)
        Lattice vectors (rows).

    Returns
    -------
    ndarray of shape (3, 3)
        A proper rotation ``R``; ``R @ r`` expresses a Cartesian vector ``r`` in the
        canonical frame.

    Examples
    --------
    >>> import numpy as np
    >>> c, s = np.cos(0.5), np.sin(0.5)
    >>> turn = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    >>> tetragonal = np.diag([3.0, 3.0, 5.0]) @ turn.T  # rows turned by 0.5 rad about z
    >>> np.abs(np.round(tetragonal @ canonical_rotation(tetragonal).T, 6)).tolist()
    [[3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 5.0]]
    """
    cell = np.asarray(primitive_cell, dtype=float)
    # spglib sees the lattice in a frame built from its rounded metric alone (first vector
    # along x, second in the xy-plane), so a turned input gives spglib identical numbers and
    # the standard frame turns with the crystal, even where the lattice's symmetry leaves
    # several equivalent standard frames to choose from.
    metric = cell @ cell.T
    unit = np.abs(metric).max()
    key = tuple(np.round(metric / unit, METRIC_DIGITS).ravel())
    upright = np.linalg.cholesky(np.reshape(key, (3, 3)))
    to_upright = _nearest_rotation(np.linalg.solve(cell / np.sqrt(unit), upright))
    return _nearest_rotation(_standard_rotation(key)) @ to_upright.T


@functools.lru_cache(maxsize=4096)
def _standard_rotation(metric):
    """spglib's rotation of the upright lattice with this (rounded, normalised) metric.

    Cached: crystals of one lattice shape (every cubic crystal, every copy of a prototype)
    share it, and spglib takes milliseconds even for a bare lattice.
    """
    upright = np.linalg.cholesky(np.reshape(metric, (3, 3)))
    try:
        with quiet():
            dataset = spglib.get_symmetry_dataset((upright, [[0.0, 0.0, 0.0]], [1]), symprec=LATTICE_SYMPREC)
    except Exception:  # noqa: BLE001 -- spglib >= 2.5 raises where older versions returned None
        dataset = None
    return np.eye(3) if dataset is None else np.asarray(dataset.std_rotation_matrix, dtype=float)


def _nearest_rotation(matrix):
    """Nearest proper rotation to ``matrix``.

    An improper result would differ by an inversion, which leaves diffraction intensities
    unchanged (Friedel's law), so the sign is simply made proper.
    """
    u, _, vt = np.linalg.svd(matrix)
    rotation = u @ vt
    return rotation * np.sign(np.linalg.det(rotation))


def central_atom(cell, frac_coords):
    """Fractional coordinates of the atom nearest the middle of the cell.

    Ties are broken by position, so the choice does not depend on atom order.
    """
    frac = np.asarray(frac_coords, dtype=float)
    offset = frac - 0.5
    offset -= np.round(offset)
    distance = np.round(np.linalg.norm(offset @ np.asarray(cell, dtype=float), axis=1), 6)
    nearest = np.flatnonzero(distance == distance.min())
    order = np.lexsort(np.round(offset[nearest], 6).T[::-1])
    return frac[nearest[order[0]]]


def central_site(cell, primitive, basis, scale, rotation):
    """Fractional coordinates (in ``cell``) of the canonical basis site nearest the middle.

    The candidates are the basis sites whose sorted neighbour distances (ideal crystal, first
    ``SIGNATURE_NEIGHBOURS``) come first lexicographically: one Wyckoff orbit, so that
    translated or re-celled copies of a crystal with several orbits are centred on the same
    one. Sites of one orbit can still see their environment turned (the two a-sites of the
    La prototype differ by 60 degrees about c): of the candidates, the one whose environment,
    turned into the canonical frame, maximises a fixed asymmetric functional is taken. The
    set of environments of an orbit is invariant under the crystal's point group, so this
    choice does not depend on which of the equivalent standard frames spglib returned.
    """
    primitive = np.asarray(primitive, dtype=float)
    reduced = reduce_cell(primitive)[0]
    sites = np.asarray(basis, dtype=float) @ primitive
    best = sites[0] if len(sites) == 1 else _canonical_site(sites, reduced, scale, rotation)
    # The copy nearest the middle of the cell; ties broken by position in the cell, which
    # turns with the crystal (a rotated input picks the same copy).
    middle = np.asarray(cell, dtype=float).sum(axis=0) / 2
    nearest = best + np.round((middle - best) @ np.linalg.inv(reduced)) @ reduced
    unit = np.stack(np.meshgrid(*[np.arange(-1, 2)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    copies = nearest + unit @ reduced
    frac = copies @ np.linalg.inv(cell)
    distance = np.round(np.linalg.norm(copies - middle, axis=1) / scale, 6)
    return frac[np.lexsort(np.round(frac, 6).T[::-1].tolist() + [distance])[0]]


def _canonical_site(sites, reduced, scale, rotation):
    """Of several basis sites (Cartesian), the canonical one (see :func:`central_site`)."""
    reach = np.ceil(4 * scale * np.linalg.norm(np.linalg.inv(reduced), axis=0)).astype(int) + 1
    shifts = np.stack(np.meshgrid(*[np.arange(-r, r + 1) for r in reach], indexing="ij"), axis=-1)
    images = (sites[None, :, :] + (shifts.reshape(-1, 3) @ reduced)[:, None, :]).reshape(-1, 3)
    signatures, handedness = [], []
    for site in sites:
        vectors = images - site
        lengths = np.linalg.norm(vectors, axis=1)
        order = np.argsort(lengths)[1 : SIGNATURE_NEIGHBOURS + 1]
        signatures.append(lengths[order] / scale)
        # Whole shells (not the first N neighbours, which may cut a shell arbitrarily).
        near = (lengths > 1e-6 * scale) & (lengths <= HANDEDNESS_RADIUS * scale)
        handedness.append(_asymmetry(vectors[near] @ np.asarray(rotation).T / scale))
    # Lexicographic minimum, with values within SIGNATURE_RTOL taken as equal.
    candidates = np.arange(len(sites))
    signatures = np.array(signatures)
    for column in signatures.T:
        candidates = candidates[column[candidates] <= column[candidates].min() + SIGNATURE_RTOL]
    return sites[max(candidates, key=lambda k: handedness[k])]


def _asymmetry(vectors):
    """A fixed functional of an environment that no rotation or inversion leaves unchanged.

    Polynomials of degree 1 to 4 in the projections on generic directions: odd degrees tell
    an environment from its inverse (the two diamond sites), degree 4 tells a centrosymmetric
    environment from its copy turned by 60 degrees about a 3-fold axis (the La a-sites),
    which degree 2 cannot.
    """
    weights = np.exp(-np.sum(vectors**2, axis=1))
    projections = vectors @ _GENERIC_DIRECTIONS.T
    terms = projections + projections**2 + projections**3 + projections**4
    return float(weights @ terms.sum(axis=1))


#: Three directions with no symmetry relation to any lattice, for :func:`_asymmetry`.
_GENERIC_DIRECTIONS = np.array([[0.31, 0.57, 0.76], [-0.62, 0.14, 0.39], [0.23, -0.81, 0.44]])


def carve_cluster(cell, frac_coords, numbers, n_atoms, centre):
    """The about ``n_atoms`` atoms of a periodic structure nearest a centre point.

    The outermost coordination shell is completed or dropped, whichever lands nearer
    ``n_atoms``, so that a pristine cluster keeps its site symmetry.

    Parameters
    ----------
    cell : ndarray of shape (3, 3)
    frac_coords : ndarray of shape (n, 3)
    numbers : ndarray of shape (n,)
    n_atoms : int
    centre : ndarray of shape (3,)
        Fractional coordinates of the centre.

    Returns
    -------
    positions : ndarray of shape (m, 3)
        Cartesian positions relative to the centre.
    numbers : ndarray of shape (m,)
        Atomic numbers.
    """
    frac = np.asarray(frac_coords, dtype=float)
    numbers = np.asarray(numbers)
    cell = np.asarray(cell, dtype=float)
    reduced, mapping = reduce_cell(cell)
    mapping = np.linalg.inv(mapping)
    frac = (frac - centre) @ mapping
    frac -= np.floor(frac + 0.5)
    n = len(frac)
    volume = abs(np.linalg.det(reduced))
    widths = 1.0 / np.linalg.norm(np.linalg.inv(reduced), axis=0)
    radius = 1.3 * (3 * n_atoms * volume / (4 * np.pi * n)) ** (1 / 3)
    while True:
        # An image within the radius has fractional coordinates within radius / width of 0,
        # and the atoms' own lie in [-0.5, 0.5): few shifts, and in a big box few atoms, count.
        reach = radius * (1 + 2 * SHELL_RTOL) / widths
        near = np.all((reach >= 0.5) | (np.abs(frac) <= reach), axis=1)
        shifts = np.stack(
            np.meshgrid(*[np.arange(-r, r + 1) for r in np.floor(reach + 0.5).astype(int)], indexing="ij"),
            axis=-1,
        ).reshape(-1, 3)
        positions = ((frac[near][None, :, :] + shifts[:, None, :]) @ reduced).reshape(-1, 3)
        radii = np.linalg.norm(positions, axis=1)
        if np.count_nonzero(radii <= radius) >= n_atoms:
            break
        radius *= 1.5
    species = np.tile(np.asarray(numbers)[near], len(shifts))
    # Sort only what may be kept: the shell at the cut is completed up to SHELL_RTOL beyond it.
    inside = np.flatnonzero(radii <= radius * (1 + 2 * SHELL_RTOL))
    order = inside[np.argsort(radii[inside], kind="stable")]
    radii = radii[order]
    cut = radii[n_atoms - 1]
    tol = SHELL_RTOL * cut
    inner = np.searchsorted(radii, cut - tol, side="left")
    outer = np.searchsorted(radii, cut + tol, side="right")
    keep = outer if outer - n_atoms <= n_atoms - inner else inner
    keep = order[:keep]
    return positions[keep], species[keep]


def median_neighbour_distance(positions):
    """Median over atoms of the distance to the nearest other atom.

    Robust to vacancies (an atom loses its nearest-neighbour distance only when all its
    nearest neighbours are missing) but biased low by thermal displacements: the minimum of
    several noisy distances is smaller than their mean.
    """
    from scipy.spatial import cKDTree

    distances, _ = cKDTree(positions).query(positions, k=2)
    return float(np.median(distances[:, 1]))


def ideal_basis(cell, frac_coords, primitive, tolerance):
    """Basis sites of the parent crystal, averaged over displacements and vacancies.

    Atoms are folded into the primitive cell, where the copies of each basis site form a blob
    (spread by displacements, thinned by vacancies, blind to species). The blob centres are
    the ideal basis. A cell of more than :data:`BASIS_ATOMS` atoms is folded from a fixed
    random subset of them.

    Parameters
    ----------
    cell : ndarray of shape (3, 3)
        Input cell (rows).
    frac_coords : ndarray of shape (n, 3)
        Fractional coordinates in ``cell``.
    primitive : ndarray of shape (3, 3)
        Primitive lattice (rows) of which ``cell`` is a supercell.
    tolerance : float
        Atoms within this distance (Angstrom) of a blob centre belong to it.

    Returns
    -------
    ndarray of shape (k, 3)
        Fractional coordinates of the ``k`` basis sites in ``primitive``.
    """
    primitive = np.asarray(primitive, dtype=float)
    frac = _subset(np.asarray(frac_coords, dtype=float), BASIS_ATOMS)
    folded = frac @ (np.asarray(cell) @ np.linalg.inv(primitive))
    folded -= np.floor(folded)
    free = np.ones(len(folded), dtype=bool)
    centres = []
    for seed in np.lexsort(np.round(folded, 6).T[::-1]):
        if not free[seed]:
            continue
        centre = folded[seed]
        for _ in range(2):
            offset = folded - centre
            offset -= np.round(offset)
            members = free & (np.linalg.norm(offset @ primitive, axis=1) < tolerance)
            members[seed] = True
            centre = centre + offset[members].mean(axis=0)
        free &= ~members
        centres.append(centre)
    return np.array(centres)


def nearest_distance(primitive, basis):
    """Nearest-neighbour distance of a crystal given by lattice and basis.

    The mean of the distances within ``SHELL_WIDTH`` (relative) of the shortest one: with a
    noisy basis, the minimum alone would be biased low.

    Examples
    --------
    >>> import numpy as np
    >>> round(nearest_distance(np.diag([1.0, 1.0, 2.0]), np.array([[0, 0, 0], [0, 0, 0.3]])), 6)
    0.6
    """
    reduced = reduce_cell(primitive)[0]
    cartesian = np.asarray(basis, dtype=float) @ np.asarray(primitive, dtype=float)
    pairs = (cartesian[None, :, :] - cartesian[:, None, :]).reshape(-1, 3) @ np.linalg.inv(reduced)
    pairs -= np.round(pairs)
    shifts = np.stack(np.meshgrid(*[np.arange(-1, 2)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    lengths = np.linalg.norm((pairs[:, None, :] + shifts[None, :, :]) @ reduced, axis=-1).ravel()
    lengths = lengths[lengths > 1e-6 * np.abs(np.linalg.det(reduced)) ** (1 / 3)]
    return float(lengths[lengths <= (1 + SHELL_WIDTH) * lengths.min()].mean())


def reduce_cell(cell):
    """LLL-reduced cell, chosen from the metric alone so that it turns with the input.

    The reduction runs on the Cholesky factor of the metric ``cell @ cell.T`` rounded to
    ``METRIC_DIGITS`` significant digits: a rotated cell has the same rounded metric, hence
    the same integer mapping, even where equal vector lengths leave the reduction a choice.

    Returns
    -------
    reduced : ndarray of shape (3, 3)
        ``mapping @ cell``.
    mapping : ndarray of shape (3, 3)
        Unimodular integer matrix.
    """
    from pymatgen.core import Lattice

    cell = np.asarray(cell, dtype=float)
    first = np.eye(3)
    if np.prod(np.linalg.norm(cell, axis=1)) > PRE_REDUCE_SKEW * abs(np.linalg.det(cell)):
        # Rounding the metric of a very skewed cell would wipe out its small entries: reduce
        # it exactly first (the result is the same for any cell of the lattice up to ties,
        # which the rounded-metric step below settles).
        first = np.rint(Lattice(cell).lll_mapping)
        cell = first @ cell
    metric = cell @ cell.T
    unit = np.abs(metric).max()
    metric = np.round(metric / unit, METRIC_DIGITS) * unit
    mapping = np.array(_lll_mapping(tuple(metric.ravel())))
    return mapping @ cell, mapping @ first


@functools.lru_cache(maxsize=4096)
def _lll_mapping(metric):
    """LLL mapping of the cell with this (rounded, flattened) metric; cached, as a crystal's
    cell is reduced several times on its way to a cluster."""
    from pymatgen.core import Lattice

    cholesky = np.linalg.cholesky(np.reshape(metric, (3, 3)))
    return tuple(map(tuple, np.rint(Lattice(cholesky).lll_mapping)))


def canonical_cluster(cell, frac_coords, numbers, n_atoms):
    """Cluster of a periodic structure in the canonical frame (see the module docstring).

    Parameters
    ----------
    cell : ndarray of shape (3, 3)
        Lattice vectors (rows), Angstrom.
    frac_coords : ndarray of shape (n, 3)
        Fractional coordinates.
    numbers : ndarray of shape (n,)
        Atomic numbers.
    n_atoms : int
        Target cluster size.

    Returns
    -------
    Cluster

    Examples
    --------
    >>> import numpy as np
    >>> cluster = canonical_cluster(2.9 * np.eye(3), [[0, 0, 0], [0.5, 0.5, 0.5]], [26, 26], 100)
    >>> len(cluster.numbers), round(cluster.scale, 4)
    (89, 2.5115)
    """
    cell = np.asarray(cell, dtype=float)
    primitive = bragg_lattice(cell, frac_coords)
    rotation = canonical_rotation(cell if primitive is None else primitive)
    first_centre = central_atom(cell, frac_coords)
    centre = first_centre
    positions, species = carve_cluster(cell, frac_coords, numbers, n_atoms, centre)
    scale = median_neighbour_distance(positions)
    occupancy = 1.0
    if primitive is not None:
        basis = ideal_basis(cell, frac_coords, primitive, BLOB_RADIUS * scale)
        ideal = nearest_distance(primitive, basis)
        # Blobs merge when displacements approach the bond length (amorphisation); the
        # raw estimate is then the better one.
        if IDEAL_RANGE[0] * scale <= ideal <= IDEAL_RANGE[1] * scale:
            scale = ideal
            n_sites = len(basis) * round(abs(np.linalg.det(cell) / np.linalg.det(primitive)))
            occupancy = min(1.0, len(frac_coords) / n_sites)
            centre = central_site(cell, primitive, basis, scale, rotation)
    # A vacant crystal keeps the extent of its parent's cluster: as many atoms as the parent's
    # cluster has occupied sites.
    size = max(MIN_CLUSTER, round(n_atoms * occupancy))
    if size != n_atoms or not np.allclose(centre, first_centre, rtol=0, atol=1e-12):
        positions, species = carve_cluster(cell, frac_coords, numbers, size, centre)
    positions = (positions - positions.mean(axis=0)) / scale
    return Cluster(positions @ rotation.T, species, rotation, scale)

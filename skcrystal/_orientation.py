"""The canonical orientation of a bare lattice, and the reduced cell that orientation starts from.

Both are chosen from the lattice's metric alone (rounded to :data:`METRIC_DIGITS`), so that a
turned input gives the same choices, turned with it.
"""

from __future__ import annotations

import functools

import numpy as np

from ._spglib import symmetry_dataset

#: Significant digits of the metric on which cells are reduced.
METRIC_DIGITS = 9
#: Cells more skewed than this (product of vector lengths over volume) are LLL-reduced
#: exactly before their metric is rounded.
PRE_REDUCE_SKEW = 50.0
#: spglib tolerance on the bare primitive lattice, relative to its longest basis vector. A
#: simulation box under NPT breathes: its sides differ by 0.1 % (EAM Al at 0.05 Tm) to 1.3 %
#: (Stillinger-Weber Si at Tm), and a cubic crystal whose box has two sides nearly equal but
#: not the third looked body-centred tetragonal, whose standard frame is turned by 45
#: degrees. The classes' own lattices stay at least 7 % away from a more symmetric one
#: (:data:`skcrystal.datasets.PROTOTYPES`).
LATTICE_SYMPREC = 3e-2


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
    # The key is the rounded, dimensionless metric: scaled back, it would differ in its last
    # bits between a cell and its turned copy, and LLL settles near-ties by those bits.
    key = tuple(np.round(metric / np.abs(metric).max(), METRIC_DIGITS).ravel() + 0.0)
    try:
        mapping = np.array(_lll_mapping(key))
    except np.linalg.LinAlgError:
        # Rounding made the metric of a nearly flat cell singular: reduce it exactly.
        mapping = np.rint(Lattice(cell).lll_mapping)
    return mapping @ cell, mapping @ first


@functools.lru_cache(maxsize=4096)
def _lll_mapping(metric):
    """LLL mapping of the cell with this (rounded, flattened) metric; cached, as a crystal's
    cell is reduced several times on its way to a cluster."""
    from pymatgen.core import Lattice

    cholesky = np.linalg.cholesky(np.reshape(metric, (3, 3)))
    return tuple(map(tuple, np.rint(Lattice(cholesky).lll_mapping)))


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
    return _nearest_rotation(canonical_frame(primitive_cell).T)


def canonical_frame(primitive_cell):
    """Linear map taking a lattice to the ideal standard lattice of its Bravais lattice.

    The rotation of :func:`canonical_rotation`, followed by the small volume-preserving
    strain that spglib's idealisation removes: a cubic crystal in a simulation box that
    breathes under NPT (sides up to :data:`LATTICE_SYMPREC` apart) is mapped onto a cubic
    lattice, so its cluster is the cluster of the unstrained crystal. A lattice that is
    already ideal is only rotated.

    Parameters
    ----------
    primitive_cell : ndarray of shape (3, 3)
        Lattice vectors (rows).

    Returns
    -------
    ndarray of shape (3, 3)
        ``F`` with unit determinant; a Cartesian row vector ``r`` maps to ``r @ F``.

    Examples
    --------
    >>> import numpy as np
    >>> breathing = np.diag([3.0, 3.0, 3.03])  # a simple cubic box 1 % taller
    >>> ideal = breathing @ canonical_frame(breathing)
    >>> np.round(np.sort(np.abs(ideal).max(axis=1)), 4).tolist()
    [3.01, 3.01, 3.01]
    """
    # Reduced first: the metric of a skewed cell is ill-conditioned once rounded.
    cell = reduce_cell(primitive_cell)[0]
    # spglib sees the lattice in a frame built from its rounded metric alone (first vector
    # along x, second in the xy-plane), so a turned input gives spglib identical numbers and
    # the standard frame turns with the crystal, even where the lattice's symmetry leaves
    # several equivalent standard frames to choose from.
    metric = cell @ cell.T
    unit = np.abs(metric).max()
    key = tuple(np.round(metric / unit, METRIC_DIGITS).ravel())
    upright = np.linalg.cholesky(np.reshape(key, (3, 3)))
    to_upright = _nearest_rotation(np.linalg.solve(cell / np.sqrt(unit), upright))
    return to_upright @ _standard_map(key)


@functools.lru_cache(maxsize=4096)
def _standard_map(metric):
    """Map (row vectors) from the upright lattice of this rounded metric to spglib's ideal one.

    Cached: crystals of one lattice shape (every cubic crystal, every copy of a prototype)
    share it, and spglib takes milliseconds even for a bare lattice.
    """
    upright = np.linalg.cholesky(np.reshape(metric, (3, 3)))
    dataset = symmetry_dataset((upright, [[0.0, 0.0, 0.0]], [1]), LATTICE_SYMPREC)
    if dataset is None:
        return np.eye(3)
    # The conventional cell before idealisation, in the upright frame, and the ideal one.
    conventional = np.linalg.inv(dataset.transformation_matrix).T @ upright
    mapping = np.linalg.solve(conventional, np.asarray(dataset.std_lattice, dtype=float))
    # Volume kept (the scale is measured before), and proper (a sign is an inversion).
    return mapping / np.cbrt(np.linalg.det(mapping))


def _nearest_rotation(matrix):
    """Nearest proper rotation to ``matrix``.

    An improper result would differ by an inversion, which leaves diffraction intensities
    unchanged (Friedel's law), so the sign is simply made proper.
    """
    u, _, vt = np.linalg.svd(matrix)
    rotation = u @ vt
    return rotation * np.sign(np.linalg.det(rotation))

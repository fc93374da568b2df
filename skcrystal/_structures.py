"""Checks of one structure, and :class:`Crystal`, its form as plain arrays.

What is refused is listed in :mod:`skcrystal.io`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._errors import StructureError, _first_line, _some

#: Atoms closer than this (Angstrom, periodic images included) are "on top of each other":
#: far below any bond (H2: 0.74 A), so it catches duplicated atoms, not strong thermal noise.
MIN_DISTANCE = 0.2
#: A lattice whose (LLL-reduced) cell volume is at most this fraction of the product of its
#: vector lengths is singular: its vectors are coplanar to within about 1e-8 radian.
SINGULAR_VOLUME = 1e-8
#: Largest absolute fractional coordinate accepted. Wrapping an atom a million cells away
#: back into the cell still keeps its position to 1e-10 of a cell in float64; much further,
#: float64 rounding moves it by a visible fraction of the cell (at 1e16 cells, anywhere).
MAX_FRACTIONAL = 1e6
#: Heaviest element accepted (oganesson); the form factors of the fingerprint go less far.
MAX_ATOMIC_NUMBER = 118


@dataclass(frozen=True)
class Crystal:
    """A checked periodic crystal as plain arrays: all the fingerprint needs of an item.

    Attributes
    ----------
    cell : ndarray of shape (3, 3)
        Lattice vectors (rows), Angstrom.
    frac_coords : ndarray of shape (n, 3)
        Fractional coordinates of the atoms (not wrapped into the cell).
    numbers : ndarray of shape (n,), int
        Atomic numbers.
    reduced_cell : ndarray of shape (3, 3)
        The LLL-reduced basis of the same lattice (rows), found when the lattice was checked:
        the one place the skew of a cell is taken off.
    """

    cell: np.ndarray
    frac_coords: np.ndarray
    numbers: np.ndarray
    reduced_cell: np.ndarray


Crystal.__module__ = "skcrystal.io"


@dataclass(frozen=True, eq=False)
class _Unchecked:
    """The arrays of a ``Structure``, and the error of its sites if any (see :func:`_portable`)."""

    cell: np.ndarray
    frac_coords: np.ndarray
    numbers: np.ndarray
    site_error: StructureError = None


def _is_atoms(obj):
    return type(obj).__module__.startswith("ase") and hasattr(obj, "get_cell")


def _check_ase(atoms):
    """The checks that only an ASE ``Atoms`` needs: atoms, and a full periodic cell."""
    if len(atoms) == 0:
        raise StructureError("no atoms")
    cell = np.asarray(atoms.get_cell())
    if atoms.cell.rank < 3 or not np.all(np.isfinite(cell)):
        raise StructureError(
            "no periodic cell (plain xyz or a molecule); give a structure with three "
            "lattice vectors, e.g. a CIF, POSCAR or extended xyz with a Lattice"
        )
    if not all(atoms.pbc):
        raise StructureError(
            f"not periodic in all three directions (pbc={list(map(bool, atoms.pbc))}); "
            "set atoms.pbc = True if the cell describes a bulk crystal"
        )


def _ase_numbers(atoms):
    """Atomic numbers of an ASE ``Atoms``, all of them elements."""
    numbers = np.array(atoms.numbers, dtype=np.int64)
    bad = np.flatnonzero((numbers < 1) | (numbers > MAX_ATOMIC_NUMBER))
    if len(bad):
        if np.all(numbers == 0):
            raise StructureError(
                "no atoms: only atomic number 0 (ASE's placeholder 'X', e.g. vacancies)"
            )
        raise StructureError(
            f"atomic number(s) {sorted(set(numbers[bad].tolist()))} at atom(s) {_some(bad)} are not "
            f"elements (1 to {MAX_ATOMIC_NUMBER}; 0 is ASE's placeholder 'X')"
        )
    return numbers


def _ase_to_structure(atoms):
    from pymatgen.io.ase import AseAtomsAdaptor

    try:
        return AseAtomsAdaptor.get_structure(atoms)
    except Exception as error:  # any conversion failure is the item's
        raise StructureError(f"could not convert the ASE Atoms: {_first_line(error)}") from error


def _to_crystal(source):
    """Check a ``Structure`` or (already :func:`_check_ase`-checked) ``Atoms``; its arrays."""
    if _is_atoms(source):
        cell = np.array(source.get_cell(), dtype=float)
        reduced = check_lattice(cell)
        frac = np.linalg.solve(cell.T, np.asarray(source.get_positions(), dtype=float).T).T
        _check_coordinates(frac)
        numbers = _ase_numbers(source)
    elif isinstance(source, _Unchecked):
        cell, frac, numbers = source.cell, source.frac_coords, source.numbers
        reduced = check_lattice(cell)
        _check_coordinates(frac)
        if source.site_error is not None:
            raise source.site_error
    else:
        if len(source) == 0:
            raise StructureError("no atoms")
        cell = np.array(source.lattice.matrix, dtype=float)
        reduced = check_lattice(cell)
        frac = np.array(source.frac_coords, dtype=float)
        _check_coordinates(frac)
        numbers = _structure_numbers(source)
    _check_overlaps(cell, frac, reduced)
    return Crystal(cell, frac, numbers, reduced.matrix)


def check_lattice(matrix):
    """Raise :class:`StructureError` unless ``matrix`` (rows: lattice vectors) is a usable cell.

    The lattice must be finite; non-singular (:data:`SINGULAR_VOLUME`, judged on the
    LLL-reduced basis); with no vector shorter than :data:`MIN_DISTANCE` (a shorter one puts
    every atom on top of its own periodic image). Left-handed lattices and skewed cells of a
    fine lattice (``b + 1000 a`` instead of ``b``) are accepted.

    Returns
    -------
    pymatgen.core.Lattice
        The LLL-reduced lattice (same lattice points, a compact basis).

    Examples
    --------
    >>> import numpy as np
    >>> check_lattice(np.diag([3.0, 3.0, -3.0])).volume  # left-handed: fine
    27.0
    >>> check_lattice([[1, 0, 0], [0, 1, 0], [1, 1, 0]])
    Traceback (most recent call last):
    ...
    skcrystal.io.StructureError: structure: singular lattice (cell volume 0 A^3: coplanar or zero lattice vectors)
    """
    matrix = np.asarray(matrix, dtype=float)
    if matrix.shape != (3, 3) or not np.all(np.isfinite(matrix)):
        raise StructureError("non-finite lattice vectors (NaN or inf)")
    lengths = np.linalg.norm(matrix, axis=1)
    with np.errstate(over="ignore"):
        volume = abs(float(np.linalg.det(matrix)))
        bound = float(np.prod(lengths))
    if not np.isfinite(volume) or not np.isfinite(bound):
        raise StructureError(
            f"lattice vectors too long (lengths {np.array2string(lengths, precision=3)} A)"
        )
    # Below a volume of 1e-12 of the product of the lengths, float64 rounding in the
    # determinant (about 1e-16 of that product) is no longer negligible.
    if np.any(lengths == 0) or volume <= 1e-12 * bound:
        raise StructureError(_singular(volume, bound))
    from pymatgen.core import Lattice

    # A skewed cell (b + 1000 a instead of b) is a fine crystal: judge the reduced basis.
    reduced = Lattice(matrix).get_lll_reduced_lattice()
    if reduced.volume <= SINGULAR_VOLUME * np.prod(reduced.abc):
        raise StructureError(_singular(reduced.volume, np.prod(reduced.abc)))
    shortest = min(reduced.abc)
    if shortest < MIN_DISTANCE:
        raise StructureError(
            f"a lattice vector of length {shortest:.3g} A, shorter than MIN_DISTANCE "
            f"({MIN_DISTANCE} A): every atom sits on top of its own periodic image"
        )
    return reduced


def _singular(volume, bound):
    if volume == 0:
        return "singular lattice (cell volume 0 A^3: coplanar or zero lattice vectors)"
    return (
        f"singular lattice (cell volume {volume:.3g} A^3, only {volume / bound:.2g} of the product "
        "of its vector lengths: the vectors are (nearly) coplanar, or the cell is too skewed for "
        "float64; give a reduced cell if the crystal is fine)"
    )


def _close_pairs(frac, cell):
    """Pairs of atoms closer than :data:`MIN_DISTANCE`, periodic images included.

    ``frac`` are fractional coordinates in ``[0, 1)`` of a reduced ``cell``. A k-d tree holds
    the atoms and those of their periodic images that lie within ``MIN_DISTANCE`` of the
    cell's faces, where every atom's close partners are: memory and time grow with the
    number of atoms only (a million atoms: about 1 s, 200 MB).

    Returns
    -------
    first, second : ndarray of int
        Indices of the atoms of each pair.
    distances : ndarray of float
    """
    from scipy.spatial import cKDTree

    margin = MIN_DISTANCE * np.linalg.norm(np.linalg.inv(cell), axis=0)
    reach = np.ceil(margin).astype(int)
    shifts = np.stack(
        np.meshgrid(*[np.arange(-r, r + 1) for r in reach], indexing="ij"), -1
    ).reshape(-1, 3)
    shifts = shifts[shifts.any(axis=1)]
    owners, images = [], []
    # A few shifts at a time: a big box never holds all its shifted copies at once.
    per_pass = max(1, 2**20 // len(frac))
    for start in range(0, len(shifts), per_pass):
        moved = frac[None, :, :] + shifts[start : start + per_pass, None, :]
        band = np.nonzero(np.all((moved >= -margin) & (moved < 1 + margin), axis=2))
        owners.append(band[1])
        images.append(moved[band])
    cart = frac @ cell
    tree = cKDTree(cart)
    inside = tree.query_pairs(MIN_DISTANCE, output_type="ndarray")
    first, second = inside[:, 0], inside[:, 1]
    distances = np.linalg.norm(cart[first] - cart[second], axis=1)
    owners = np.concatenate(owners)
    if len(owners):
        across = cKDTree(np.concatenate(images) @ cell).sparse_distance_matrix(
            tree, MIN_DISTANCE, output_type="ndarray"
        )
        first = np.concatenate([first, owners[across["i"]]])
        second = np.concatenate([second, across["j"]])
        distances = np.concatenate([distances, across["v"]])
    close = distances < MIN_DISTANCE
    return first[close], second[close], distances[close]


def _check_coordinates(frac):
    """Finite coordinates within :data:`MAX_FRACTIONAL` cells."""
    if not np.all(np.isfinite(frac)):
        raise StructureError("non-finite atomic coordinates (NaN or inf)")
    far = np.flatnonzero(np.abs(frac).max(axis=1) > MAX_FRACTIONAL)
    if len(far):
        raise StructureError(
            f"atom(s) {_some(far)} lie more than MAX_FRACTIONAL ({MAX_FRACTIONAL:g}) cells from the "
            f"origin (fractional coordinates up to {np.abs(frac).max():.3g}); wrap them into the cell"
        )


def _structure_numbers(structure):
    """Atomic numbers of a pymatgen ``Structure`` whose every site holds one real element."""
    from pymatgen.core.periodic_table import DummySpecies

    species = [site.species for site in structure]
    empty = [i for i, composition in enumerate(species) if composition.num_atoms == 0]
    if len(empty) == len(structure):
        raise StructureError(
            f"no atoms: only {len(empty)} vacancy placeholder site(s) with no species"
        )
    if empty:
        raise StructureError(
            f"site(s) {_some(empty)} hold no atom (vacancy placeholders with no species); "
            "remove them, e.g. structure.remove_sites([...])"
        )
    disordered = [
        i
        for i, composition in enumerate(species)
        if len(composition) != 1 or composition.num_atoms != 1
    ]
    if disordered:
        raise StructureError(
            f"partial occupancies on {len(disordered)} site(s), first site {disordered[0]}; "
            "order the structure first (e.g. pymatgen's OrderDisorderedStructureTransformation)"
        )
    elements = [next(iter(composition)) for composition in species]
    for element in elements:
        if isinstance(element, DummySpecies):
            raise StructureError(f"unknown element {str(element)!r} (a dummy species)")
    return np.array([element.Z for element in elements], dtype=np.int64)


def _check_overlaps(cell, frac, reduced):
    """No two atoms (periodic images included) closer than :data:`MIN_DISTANCE`."""
    # In the reduced cell with wrapped atoms, few periodic images are near the faces, whatever
    # cell and (unwrapped) coordinates the input used. Distances, hence the answer, are the same.
    frac = np.linalg.solve(reduced.matrix.T, (frac @ cell).T).T
    centres, neighbours, distances = _close_pairs(frac - np.floor(frac), reduced.matrix)
    if len(distances):
        # The closest pair; of equally close ones, the first in atom order.
        first, second = np.minimum(centres, neighbours), np.maximum(centres, neighbours)
        k = np.lexsort((second, first, np.round(distances, 12)))[0]
        if first[k] == second[k]:
            raise StructureError(
                f"atom {first[k]} is on top of its own periodic image ({distances[k]:.3g} A apart): "
                "a lattice vector is shorter than MIN_DISTANCE"
            )
        raise StructureError(
            f"atoms {first[k]} and {second[k]} are on top of each other "
            f"({distances[k]:.3g} A apart, periodic images included)"
        )

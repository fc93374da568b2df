"""Turn the items of ``X`` into periodic pymatgen structures, with clear errors.

An item of ``X`` is a pymatgen ``Structure``, an ASE ``Atoms`` or a path (``str`` or
``os.PathLike``) to a file that pymatgen or ASE reads (CIF, POSCAR, extxyz, LAMMPS data, ...).
Every problem is reported as a :class:`StructureError` that names the item (its index in
``X``, and its path where it has one) and what is wrong with it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: Atoms closer than this (Angstrom, periodic images included) are "on top of each other":
#: far below any bond (H2: 0.74 A), so it catches duplicated atoms, not strong thermal noise.
MIN_DISTANCE = 0.2
#: File name endings that ASE reads only when told the format.
_ASE_FORMATS = {".lmp": "lammps-data", ".data": "lammps-data", ".lammps": "lammps-data"}


class StructureError(ValueError):
    """An item of ``X`` that cannot be used as a periodic crystal structure.

    Attributes
    ----------
    index : int or None
        Position of the item in ``X``.
    item : object
        The item itself.
    reason : str
        What is wrong with it.
    """

    def __init__(self, reason, *, index=None, item=None):
        self.index = index
        self.item = item
        self.reason = reason
        super().__init__(f"{describe(item, index)}: {reason}")

    def __reduce__(self):
        # Keyword-only fields: the default pickling (used by joblib workers) would lose them.
        return _restore_error, (self.reason, self.index, self.item)


def _restore_error(reason, index, item):
    return StructureError(reason, index=index, item=item)


def describe(item, index=None):
    """Short name of an item for messages, e.g. ``"X[2] ('Fe.cif')"``.

    Examples
    --------
    >>> describe("Fe.cif", 2)
    "X[2] ('Fe.cif')"
    """
    prefix = "item" if index is None else f"X[{index}]"
    if item is None:
        return "structure" if index is None else prefix
    if isinstance(item, (str, os.PathLike)):
        return f"{prefix} ({os.fspath(item)!r})"
    formula = getattr(item, "formula", None)
    if callable(getattr(item, "get_chemical_formula", None)):
        formula = item.get_chemical_formula()
    label = type(item).__name__ + (f" {formula}" if isinstance(formula, str) else "")
    return f"{prefix} ({label})"


def to_structures(X):
    """Convert every item of ``X``; raise on the first bad one.

    Parameters
    ----------
    X : sequence
        Items as described in the module docstring.

    Returns
    -------
    list of pymatgen.core.Structure

    Raises
    ------
    StructureError
        Names the first item that cannot be used and why.
    TypeError, ValueError
        If ``X`` itself is not a non-empty sequence of items.

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> fe = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    >>> [s.composition.reduced_formula for s in to_structures([fe])]
    ['Fe']
    """
    return [to_structure(item, index) for index, item in enumerate(check_sequence(X))]


def check_sequence(X):
    """``X`` as a list, after checking that it is a non-empty sequence of items."""
    if isinstance(X, (str, os.PathLike)) or _is_single_structure(X):
        raise TypeError(
            "X must be a sequence of structures or paths, got a single "
            f"{type(X).__name__}; wrap it in a list: [x]."
        )
    if isinstance(X, np.ndarray) and X.dtype != object:
        raise TypeError(
            f"X must be a sequence of structures or paths, got a numeric array of shape "
            f"{X.shape}; the fingerprint reads crystal structures, not feature vectors."
        )
    if not isinstance(X, (Sequence, np.ndarray)) and not hasattr(X, "__iter__"):
        raise TypeError(f"X must be a sequence of structures or paths, got {type(X).__name__}.")
    items = list(X)
    if not items:
        raise ValueError("X is empty: at least one structure is required.")
    return items


def _is_single_structure(obj):
    return type(obj).__name__ in {"Structure", "IStructure", "Atoms", "Molecule", "IMolecule"}


def to_structure(item, index=None):
    """One item of ``X`` as a checked, periodic pymatgen ``Structure``.

    Raises
    ------
    StructureError
        If the item cannot be read or is not a usable periodic structure.
    """
    try:
        structure = _convert(item)
        check_structure(structure)
    except StructureError as error:
        raise StructureError(error.reason, index=index, item=item) from error.__cause__
    return structure


def _convert(item):
    from pymatgen.core import IStructure, Structure

    if isinstance(item, IStructure):
        return item if isinstance(item, Structure) else Structure.from_sites(item)
    if isinstance(item, (str, os.PathLike)):
        return read_file(item)
    if type(item).__name__ in {"Molecule", "IMolecule"}:
        raise StructureError("a Molecule has no lattice; a periodic cell is needed")
    if type(item).__module__.startswith("ase") and hasattr(item, "get_cell"):
        return _from_ase(item)
    raise StructureError(
        f"unsupported type {type(item).__module__}.{type(item).__qualname__}; expected a "
        "pymatgen Structure, an ASE Atoms or a path to a structure file"
    )


def _from_ase(atoms):
    from pymatgen.io.ase import AseAtomsAdaptor

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
    if not np.all(np.isfinite(atoms.get_positions())):
        raise StructureError("non-finite atomic coordinates (NaN or inf)")
    try:
        return AseAtomsAdaptor.get_structure(atoms)
    except Exception as error:  # noqa: BLE001 -- any conversion failure is the item's
        raise StructureError(f"could not convert the ASE Atoms: {error}") from error


def read_file(path):
    """Read a structure file with pymatgen, or with ASE when pymatgen cannot.

    Raises
    ------
    StructureError
        Missing, empty, unreadable or non-periodic files.
    """
    path = Path(path)
    if not path.exists():
        raise StructureError("no such file")
    if path.is_dir():
        raise StructureError("is a directory, not a structure file")
    if path.stat().st_size == 0:
        raise StructureError("empty file")
    from pymatgen.core import Structure

    failures = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return Structure.from_file(path)
        except Exception as error:  # noqa: BLE001 -- fall back to ASE, report both
            failures.append(f"pymatgen: {_first_line(error)}")
        import ase.io

        try:
            atoms = ase.io.read(path, format=_ASE_FORMATS.get(path.suffix.lower()))
        except Exception as error:  # noqa: BLE001 -- reported below
            failures.append(f"ASE: {_first_line(error)}")
        else:
            if isinstance(atoms, list):
                atoms = atoms[0]
            return _from_ase(atoms)
    raise StructureError("could not be read as a structure file (" + "; ".join(failures) + ")")


def _first_line(error):
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def check_structure(structure):
    """Raise :class:`StructureError` unless ``structure`` is a usable periodic crystal.

    Checks: at least one atom; finite lattice and coordinates; non-singular lattice; ordered
    sites (no partial occupancies); real elements; no two atoms closer than
    ``MIN_DISTANCE`` Angstrom.
    """
    if len(structure) == 0:
        raise StructureError("no atoms")
    matrix = structure.lattice.matrix
    if not np.all(np.isfinite(matrix)):
        raise StructureError("non-finite lattice vectors (NaN or inf)")
    lengths = np.linalg.norm(matrix, axis=1)
    volume = abs(np.linalg.det(matrix))
    if np.any(lengths == 0) or volume <= 1e-8 * np.prod(lengths):
        raise StructureError(f"singular lattice (cell volume {volume:.3g} A^3)")
    if not np.all(np.isfinite(structure.frac_coords)):
        raise StructureError("non-finite atomic coordinates (NaN or inf)")
    if not structure.is_ordered:
        disordered = [i for i, site in enumerate(structure) if not site.is_ordered]
        raise StructureError(
            f"partial occupancies on {len(disordered)} site(s), first site {disordered[0]}; "
            "order the structure first (e.g. pymatgen's OrderDisorderedStructureTransformation)"
        )
    from pymatgen.core.periodic_table import DummySpecies

    for element in structure.composition.elements:
        if isinstance(element, DummySpecies):
            raise StructureError(f"unknown element {str(element)!r} (a dummy species)")
    centres, neighbours, _, distances = structure.get_neighbor_list(MIN_DISTANCE)
    if len(distances):
        k = int(np.argmin(distances))
        raise StructureError(
            f"atoms {centres[k]} and {neighbours[k]} are on top of each other "
            f"({distances[k]:.3g} A apart, periodic images included)"
        )

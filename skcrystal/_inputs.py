"""``X`` checked as a sequence of items, and each item turned into a checked structure."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet

import numpy as np
from scipy.sparse import issparse

from ._errors import _naming
from ._readers import _convert
from ._structures import _ase_to_structure, _is_atoms, _to_crystal


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
    """``X`` as a list, after checking that it is a non-empty sequence of items.

    Raises
    ------
    TypeError
        ``X`` is a single structure or path, a mapping, a set, a non-object array or
        anything not iterable.
    ValueError
        ``X`` is empty.

    Examples
    --------
    >>> check_sequence(("Fe.cif", "Cu.cif"))
    ['Fe.cif', 'Cu.cif']
    >>> check_sequence({"Fe.cif": 1})
    Traceback (most recent call last):
    ...
    TypeError: X must be a sequence of structures or paths, got a dict (a mapping); pass list(X.values()) or list(X.keys()).
    """
    expected = "X must be a sequence of structures or paths"
    if isinstance(X, (str, os.PathLike)) or _is_single_structure(X):
        raise TypeError(f"{expected}, got a single {type(X).__name__}; wrap it in a list: [x].")
    if isinstance(X, (bytes, bytearray)):
        raise TypeError(f"{expected}, got {type(X).__name__}; decode a path first: [x.decode()].")
    if isinstance(X, Mapping):
        raise TypeError(
            f"{expected}, got a {type(X).__name__} (a mapping); pass list(X.values()) or list(X.keys())."
        )
    if isinstance(X, AbstractSet):
        raise TypeError(
            f"{expected}, got a {type(X).__name__}, which has no order (the rows of the output "
            "would not match anything); pass a list."
        )
    if issparse(X):
        raise TypeError(
            f"{expected}, got a sparse {type(X).__name__}: sparse input is not supported."
        )
    if isinstance(X, np.ndarray):
        if X.dtype != object and X.dtype.kind != "U":
            raise TypeError(
                f"{expected}, got a numeric array of dtype {X.dtype} and shape {X.shape}; "
                "the fingerprint reads crystal structures, not feature vectors."
            )
        if X.ndim != 1:
            raise TypeError(
                f"{expected}, got an array of shape {X.shape}; a 1-d array of items is needed."
            )
    if not isinstance(X, Sequence) and not hasattr(X, "__iter__"):
        raise TypeError(f"{expected}, got {type(X).__name__}.")
    items = list(X)
    if not items:
        raise ValueError("X is empty: at least one structure is required.")
    return items


def _is_single_structure(obj):
    from ase import Atoms
    from pymatgen.core import IMolecule, IStructure

    # isinstance, not the type's name: subclasses (SymmetrizedStructure...) are single too.
    return isinstance(obj, (IStructure, IMolecule, Atoms))


def to_structure(item, index=None):
    """One item of ``X`` as a checked, periodic pymatgen ``Structure``.

    Raises
    ------
    StructureError
        If the item cannot be read or is not a usable periodic structure.
    """
    with _naming(item, index):
        source = _convert(item)
        _to_crystal(source)
        return source if not _is_atoms(source) else _ase_to_structure(source)


def to_crystal(item, index=None):
    """One item of ``X`` as a checked :class:`Crystal` (plain arrays).

    Same reading and checks as :func:`to_structure`, but ASE ``Atoms`` (given, or read from
    a file by ASE) never become a pymatgen ``Structure``: a box of a million atoms costs
    tens of MB as arrays and gigabytes as a ``Structure`` of ``PeriodicSite`` objects.

    Raises
    ------
    StructureError
        If the item cannot be read or is not a usable periodic structure.

    Examples
    --------
    >>> from ase.build import bulk
    >>> crystal = to_crystal(bulk("Fe", "bcc", a=2.87, cubic=True))
    >>> crystal.frac_coords.tolist(), crystal.numbers.tolist()
    ([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]], [26, 26])
    """
    with _naming(item, index):
        return _to_crystal(_convert(item))

"""Turn the items of ``X`` into periodic crystals, with clear errors.

:func:`to_structure` gives a pymatgen ``Structure``; :func:`to_crystal` gives a
:class:`Crystal` of plain arrays (lattice, fractional coordinates, atomic numbers), which is
what the fingerprint uses: ASE ``Atoms`` then never become a ``Structure``, and files larger
than :data:`ASE_FIRST_BYTES` (other than CIF) are read by ASE first, so a box of a million
atoms costs tens of MB instead of gigabytes. Both run the same checks.

An item of ``X`` is a pymatgen ``Structure``, an ASE ``Atoms`` or a path (``str`` or
``os.PathLike``) to a file that pymatgen or ASE reads (CIF, POSCAR, extxyz, LAMMPS data, ...).
Every problem is reported as a :class:`StructureError` that names the item (its index in
``X``, and its path where it has one) and what is wrong with it.

What is refused, and why (each check names the item and the reason):

- ``X`` itself: a single structure or path, a mapping, a set, a numeric array, an empty
  sequence (``TypeError`` / ``ValueError``, not a :class:`StructureError`).
- items of another type (numbers, ``None``, ``bytes``, dicts, arrays), a pymatgen
  ``Molecule``, ASE ``Atoms`` without a full periodic cell;
- files that are missing, directories, not regular files (pipes, devices), empty, larger
  than :data:`MAX_FILE_BYTES`, or that neither pymatgen nor ASE can read;
- files of more than one frame (trajectories: extended xyz, LAMMPS dumps, ASE ``.traj``,
  XDATCAR, ...): an estimator gives one row per item, so a trajectory is never cut to one of
  its frames; :func:`read_frames` yields the frames, to be passed as items;
- LAMMPS dumps that give atom types but no elements (:func:`read_frames` maps the types with
  its ``species``);
- structures without atoms (or with vacancy placeholders only), with non-finite or singular
  lattices, lattice vectors shorter than :data:`MIN_DISTANCE`, non-finite coordinates or
  coordinates more than :data:`MAX_FRACTIONAL` cells away, partial occupancies, dummy
  species or atomic numbers outside 1 to 118, and atoms on top of each other.

A left-handed lattice is fine: it is the same crystal.

The work is split by job: :mod:`skcrystal._inputs` checks ``X`` and its items,
:mod:`skcrystal._readers` reads files (pymatgen or ASE, frames of trajectories),
:mod:`skcrystal._structures` checks a structure and holds :class:`Crystal`,
:mod:`skcrystal._transport` ships checked items to worker processes, and
:mod:`skcrystal._errors` holds :class:`StructureError`. This module is their public face.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Mapping
from numbers import Integral

from sklearn.utils._param_validation import validate_params

from . import _readers
from ._errors import StructureError, describe
from ._inputs import check_sequence, to_crystal, to_structure, to_structures
from ._readers import ASE_FIRST_BYTES, MAX_FILE_BYTES
from ._structures import (
    MAX_ATOMIC_NUMBER,
    MAX_FRACTIONAL,
    MIN_DISTANCE,
    SINGULAR_VOLUME,
    Crystal,
    check_lattice,
)

__all__ = [
    "ASE_FIRST_BYTES",
    "MAX_ATOMIC_NUMBER",
    "MAX_FILE_BYTES",
    "MAX_FRACTIONAL",
    "MIN_DISTANCE",
    "SINGULAR_VOLUME",
    "Crystal",
    "StructureError",
    "check_lattice",
    "check_sequence",
    "describe",
    "read_frames",
    "to_crystal",
    "to_structure",
    "to_structures",
]

read_frames = validate_params(
    {
        # Checked by hand in the function: the message names the type that was given.
        "path": "no_validation",
        "index": [str, Integral, slice],
        "species": [None, Mapping],
    },
    prefer_skip_nested_validation=True,
)(_readers.read_frames)

#: The limits a user may set here (``skcrystal.io.MAX_FILE_BYTES = ...``), and the module
#: that reads them.
_SETTABLE = {"MAX_FILE_BYTES": _readers, "ASE_FIRST_BYTES": _readers}


class _Limits(types.ModuleType):
    """This module, whose settable limits are set where they are read."""

    def __setattr__(self, name, value):
        if name in _SETTABLE:
            setattr(_SETTABLE[name], name, value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Limits

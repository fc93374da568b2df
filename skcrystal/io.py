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
"""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from io import StringIO
from itertools import islice
from pathlib import Path

import numpy as np

#: Atoms closer than this (Angstrom, periodic images included) are "on top of each other":
#: far below any bond (H2: 0.74 A), so it catches duplicated atoms, not strong thermal noise.
MIN_DISTANCE = 0.2
#: A lattice whose (LLL-reduced) cell volume is at most this fraction of the product of its
#: vector lengths is singular: its vectors are coplanar to within about 1e-8 radian.
SINGULAR_VOLUME = 1e-8
#: Largest structure file read, in bytes (2 GiB). pymatgen and ASE read a whole file into
#: memory, several times its size, before a single atom is checked; a larger file is refused
#: before it is opened. Raise it (``skcrystal.io.MAX_FILE_BYTES = ...``) for a machine that
#: can afford it.
MAX_FILE_BYTES = 2 * 1024**3
#: Largest absolute fractional coordinate accepted. Wrapping an atom a million cells away
#: back into the cell still keeps its position to 1e-10 of a cell in float64; much further,
#: float64 rounding moves it by a visible fraction of the cell (at 1e16 cells, anywhere).
MAX_FRACTIONAL = 1e6
#: Heaviest element accepted (oganesson); the form factors of the fingerprint go less far.
MAX_ATOMIC_NUMBER = 118
#: Files larger than this (bytes), other than CIF, are read by ASE first, pymatgen second: ASE
#: keeps a box's atoms in arrays (a million atoms: tens of MB), pymatgen makes a ``Structure``
#: of ``PeriodicSite`` objects (a million atoms: about 2 GB and half a minute).
ASE_FIRST_BYTES = 16 * 1024**2
#: File name endings and the ASE format they stand for: ASE reads LAMMPS files only when
#: told their format, and the (extended) xyz and LAMMPS dump files are split into frames here.
_ASE_FORMATS = {
    ".lmp": "lammps-data",
    ".data": "lammps-data",
    ".lammps": "lammps-data",
    ".lammpstrj": "lammps-dump-text",
    ".dump": "lammps-dump-text",
    ".xyz": "extxyz",
    ".extxyz": "extxyz",
}
#: Endings of compressed files, which ASE opens by name; the ending before them tells the format.
_COMPRESSED = (".gz", ".bz2", ".xz")
#: Start of the reason of the error for a file of several frames, given to an estimator.
_SEVERAL_FRAMES = "holds more than one frame"
#: Start of the reason of the error for a LAMMPS dump whose atoms have types, not elements.
_TYPES_ONLY = "a LAMMPS dump of atom types without elements"
#: Files at most this large are read whole to tell "only whitespace" from content.
_SNIFF_BYTES = 65536
#: Longest path shown in full in a message; longer ones keep their start and end.
_MAX_SHOWN_PATH = 200


class StructureError(ValueError):
    """An item of ``X`` (or a frame of a file) that cannot be used as a periodic crystal structure.

    Attributes
    ----------
    index : int or None
        Position of the item in ``X``.
    item : object
        The item itself.
    reason : str
        What is wrong with it.
    frame : int or None
        For an error of :func:`read_frames`, the frame of the file (0-based) it is about;
        ``None`` when it is about the whole file.
    """

    def __init__(self, reason, *, index=None, item=None, frame=None):
        self.index = index
        self.item = item
        self.reason = reason
        self.frame = frame
        where = describe(item, index) + ("" if frame is None else f", frame {frame}")
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):
        # Keyword-only fields: the default pickling (used by joblib workers) would lose them.
        return _restore_error, (self.reason, self.index, self.item, self.frame)


def _restore_error(reason, index, item, frame):
    return StructureError(reason, index=index, item=item, frame=frame)


def describe(item, index=None):
    """Short name of an item for messages, e.g. ``"X[2] ('Fe.cif')"``.

    Examples
    --------
    >>> describe("Fe.cif", 2)
    "X[2] ('Fe.cif')"
    >>> describe(None, 0)
    'X[0] (None)'
    """
    prefix = "item" if index is None else f"X[{index}]"
    if item is None:
        return "structure" if index is None else f"{prefix} (None)"
    if isinstance(item, (str, os.PathLike)):
        try:
            path = os.fspath(item)
        except Exception:  # noqa: BLE001 -- a broken PathLike still gets a name
            return f"{prefix} ({type(item).__name__})"
        if isinstance(path, str) and len(path) > _MAX_SHOWN_PATH:
            half = _MAX_SHOWN_PATH // 2
            path = f"{path[:half]}...{path[-half:]}"
        return f"{prefix} ({path!r})"
    formula = getattr(item, "formula", None)
    if callable(getattr(item, "get_chemical_formula", None)):
        try:
            formula = item.get_chemical_formula()
        except Exception:  # noqa: BLE001 -- e.g. atomic numbers ASE has no symbol for
            formula = None
    label = type(item).__name__ + (f" {formula}" if isinstance(formula, str) and formula else "")
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
    if hasattr(X, "tocsr") or hasattr(X, "sparse"):
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


@contextlib.contextmanager
def _naming(item, index):
    """Re-raise a :class:`StructureError` with the item and its index."""
    try:
        yield
    except StructureError as error:
        raise StructureError(error.reason, index=index, item=item) from error.__cause__


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
    """

    cell: np.ndarray
    frac_coords: np.ndarray
    numbers: np.ndarray


def _portable(item):
    """The item in a form that is cheap to send to a worker process.

    A pymatgen ``Structure`` pickles slowly: its sites are Python objects (1.5 ms to pickle
    and unpickle 256 of them, half the time of their canonical cluster). It is replaced by its
    arrays; the checks that need its sites (empty sites, partial occupancies, dummy species)
    run here, and their error, if any, is raised by :func:`to_crystal` of the result, after
    the lattice and coordinate checks, as for the ``Structure`` itself. Other items (paths,
    ASE ``Atoms``, anything else) are returned as they are.

    Examples
    --------
    >>> import pickle
    >>> from pymatgen.core import Lattice, Structure
    >>> fe = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    >>> b"PeriodicSite" in pickle.dumps(fe), b"PeriodicSite" in pickle.dumps(_portable(fe))
    (True, False)
    >>> to_crystal(_portable(fe)).numbers.tolist()
    [26, 26]
    """
    from pymatgen.core import IStructure

    if not isinstance(item, IStructure) or len(item) == 0:
        return item
    numbers, site_error = None, None
    try:
        numbers = _structure_numbers(item)
    except StructureError as error:
        site_error = error
    return _Unchecked(
        np.array(item.lattice.matrix, dtype=float),
        np.array(item.frac_coords, dtype=float),
        numbers,
        site_error,
    )


@dataclass(frozen=True, eq=False)
class _Unchecked:
    """The arrays of a ``Structure``, and the error of its sites if any (see :func:`_portable`)."""

    cell: np.ndarray
    frac_coords: np.ndarray
    numbers: np.ndarray
    site_error: StructureError = None


def _is_atoms(obj):
    return type(obj).__module__.startswith("ase") and hasattr(obj, "get_cell")


def _convert(item):
    """The item as a pymatgen ``Structure`` or an ASE ``Atoms`` with a full periodic cell."""
    from pymatgen.core import IMolecule, IStructure, Structure

    if isinstance(item, IStructure):
        return item if isinstance(item, Structure) else Structure.from_sites(item)
    if isinstance(item, _Unchecked):
        return item
    if isinstance(item, (str, os.PathLike)):
        return _read(item)
    if isinstance(item, IMolecule):
        raise StructureError("a Molecule has no lattice; a periodic cell is needed")
    if _is_atoms(item):
        _check_ase(item)
        return item
    if isinstance(item, (bytes, bytearray)):
        raise StructureError(
            "unsupported type bytes; give a path as str or pathlib.Path (decode it first)"
        )
    raise StructureError(
        f"unsupported type {type(item).__module__}.{type(item).__qualname__}; expected a "
        "pymatgen Structure, an ASE Atoms or a path to a structure file"
    )


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
    return Crystal(cell, frac, numbers)


def _read(path):
    """Read a structure file with pymatgen, or with ASE (an ``Atoms``) when pymatgen cannot.

    Raises :class:`StructureError` for missing, empty, too large (:data:`MAX_FILE_BYTES`),
    unreadable or non-periodic files, and files of more than one frame.
    """
    path, stat, head = _check_file(path)
    scanned = _scanned_format(path)
    # Before the size limit: finding a second frame reads one frame, not the whole file.
    if scanned is not None and _holds_several_frames(path, scanned):
        raise StructureError(_several_frames_reason())
    if stat.st_size > MAX_FILE_BYTES:
        raise StructureError(
            f"file of {stat.st_size} bytes is larger than skcrystal.io.MAX_FILE_BYTES "
            f"({MAX_FILE_BYTES} bytes); raise that limit if this machine has the memory"
        )
    readers = [
        ("pymatgen", _read_with_pymatgen),
        ("ASE", functools.partial(_read_with_ase, scanned=scanned)),
    ]
    if stat.st_size > ASE_FIRST_BYTES and path.suffix.lower() not in {".cif", ".mcif"}:
        readers.reverse()
    failures = []
    unknown_type = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, reader in readers:
            try:
                source = reader(path)
            except StructureError:
                raise
            except Exception as error:  # noqa: BLE001 -- try the other reader, report both
                if isinstance(error, _UnknownFileType):
                    unknown_type = True
                    error = error.__cause__
                failures.append(f"{name}: {_first_line(error)}")
            else:
                if _is_atoms(source):
                    _check_ase(source)
                return source
    details = "; ".join(failures)
    if unknown_type:
        raise StructureError(
            f"unknown file type (suffix {path.suffix or 'none'!r}): neither pymatgen nor ASE "
            f"recognises it by name or content ({details}); give the file its format's usual "
            "name (.cif, .vasp or POSCAR, .extxyz, .xyz, .lmp, ...)"
        )
    if b"\0" in head:
        details += "; the file looks binary (NUL bytes), not a text structure file"
    raise StructureError(f"could not be read as a structure file ({details})")


def _check_file(path):
    """``(Path, os.stat_result, first bytes)`` of an existing, non-empty regular file."""
    shown = os.fspath(path)
    if isinstance(shown, bytes) or shown == "":
        raise StructureError("empty path" if shown == "" else "a path must be str, not bytes")
    path = Path(shown)
    try:
        exists = path.exists()
        stat = path.stat() if exists else None
    except (OSError, ValueError) as error:
        # An OSError's text repeats the path, already named in the message.
        text = getattr(error, "strerror", None) or _first_line(error)
        raise StructureError(f"invalid path ({text})") from error
    if not exists:
        hint = "; this looks like the file's contents, not a path" if "\n" in shown else ""
        raise StructureError(f"no such file{hint}")
    if path.is_dir():
        raise StructureError("is a directory, not a structure file")
    if not path.is_file():
        raise StructureError("not a regular file (a pipe, socket or device)")
    if stat.st_size == 0:
        raise StructureError("empty file")
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError as error:
        raise StructureError(
            f"cannot be opened ({error.strerror or _first_line(error)})"
        ) from error
    if stat.st_size <= _SNIFF_BYTES and not head.strip():
        raise StructureError("empty file (only whitespace)")
    return path, stat, head


def _several_frames_reason():
    return (
        f"{_SEVERAL_FRAMES} (a trajectory), and an estimator gives one row per item; read its "
        "frames with skcrystal.read_frames(path) and pass them as items, or use "
        "`skcrystal classify`, which reports every frame"
    )


class _UnknownFileType(Exception):
    """ASE recognises neither the name nor the content of a file."""


def _read_with_pymatgen(path):
    """The file as a pymatgen ``Structure``."""
    from pymatgen.core import Structure

    return Structure.from_file(path)


def _read_with_ase(path, scanned):
    """The file as an ASE ``Atoms``; a file of several frames is refused.

    ``scanned`` is the format of a file that :func:`_read` has scanned for a second frame
    (found none), or ``None``: ASE then reads at most two frames to tell.
    """
    if scanned is not None:
        with _open_text(path) as handle:
            text = next(_SCANNED[scanned](handle, _every_frame), None)
        if text is None:
            raise ValueError("no frame: the file starts with a blank line")
        return _build_frame(text, scanned, None)
    import ase.io
    from ase.io.formats import UnknownFileTypeError

    try:
        frames = ase.io.iread(
            str(path), index=slice(0, 2), format=_ase_format(path), do_not_split_by_at_sign=True
        )
        first, second = next(frames), next(frames, None)
    except UnknownFileTypeError as error:
        raise _UnknownFileType from error
    if second is not None:
        raise StructureError(_several_frames_reason())
    return first


def read_frames(path, index=":", *, species=None):
    r"""Yield the frames of a structure file (a trajectory, or a file of one structure).

    Frames are read one at a time (ASE underneath), so a trajectory larger than memory can be
    read, and each is checked as an item of ``X`` is: the estimators accept them as items.
    Extended xyz files and LAMMPS text dumps (``.lammpstrj``, ``.dump``; ``.gz``, ``.bz2``,
    ``.xz`` compressed too) are split into frames here, without reading the frames not asked
    for; other multi-frame formats that ASE reads (``.traj``, XDATCAR, ...) go through
    ``ase.io.iread``; a file of one structure (CIF, POSCAR, ...) is read as the estimators
    read it and yields one frame.

    The estimators refuse a file of more than one frame with a :class:`StructureError`: they
    return one row per item, and a trajectory is not one structure. Pass its frames instead,
    e.g. ``model.predict(list(read_frames(path, "::10")))``, or run ``skcrystal classify``,
    which reports every frame.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    index : str, int or slice, default=":"
        Which frames, as in ASE and Python: ``":"`` all, ``"::10"`` every tenth, ``"100:"``
        from frame 100 on, ``"-1"`` (or ``-1``) the last, ``slice(0, 50)``. A slice past the
        end selects no frame; an integer past the end raises ``IndexError``. Steps are
        positive. Selecting from the end (negative numbers) reads the file twice.
    species : mapping of int to str or int, optional
        The element (symbol or atomic number) of each LAMMPS atom type, e.g.
        ``{1: "Al", 2: "Ni"}``, for LAMMPS dumps without an ``element`` column (the column
        wins where there is one; other files name their elements and ignore it). Without it,
        such a dump is refused rather than read with type 1 as hydrogen, type 2 as helium...:
        the elements set the form factors of the fingerprint, so wrong ones can change the
        class. A dump with a ``mass`` column and no ``species`` gets the elements ASE guesses
        from the masses.

    Yields
    ------
    ase.Atoms
        One frame, in file order.

    Raises
    ------
    StructureError
        A file that cannot be read (no such file, unknown format, a LAMMPS dump of types
        without ``species``...), or a frame that cannot be used: :attr:`StructureError.frame`
        is its number in the file, and the message names the file and the frame. The frames
        before it have been yielded; ``read_frames(path, slice(error.frame + 1, None))`` goes
        on after it.
    IndexError
        An integer ``index`` past the end of the file.
    TypeError, ValueError
        An ``index`` or ``species`` that is not one (raised at the call).

    See Also
    --------
    skcrystal.DiffractionFingerprint.transform : Takes the frames as items.

    Examples
    --------
    >>> import tempfile, ase.io
    >>> from ase.build import bulk
    >>> frames = [bulk("Cu", "fcc", a=a, cubic=True) for a in (3.60, 3.61, 3.62, 3.63)]
    >>> path = tempfile.mkdtemp() + "/md.extxyz"
    >>> ase.io.write(path, frames)
    >>> [round(float(atoms.cell[0, 0]), 2) for atoms in read_frames(path)]
    [3.6, 3.61, 3.62, 3.63]
    >>> [round(float(atoms.cell[0, 0]), 2) for atoms in read_frames(path, "::2")]
    [3.6, 3.62]
    >>> [atoms.get_chemical_formula() for atoms in read_frames(path, -1)]
    ['Cu4']

    A LAMMPS dump without elements needs the element of each atom type:

    >>> dump = tempfile.mkdtemp() + "/md.lammpstrj"
    >>> with open(dump, "w") as handle:
    ...     _ = handle.write(
    ...         "ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n2\nITEM: BOX BOUNDS pp pp pp\n"
    ...         "0 2.87\n0 2.87\n0 2.87\nITEM: ATOMS id type x y z\n1 1 0 0 0\n2 1 1.435 1.435 1.435\n"
    ...     )
    >>> next(read_frames(dump))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    skcrystal.io.StructureError: item (...): a LAMMPS dump of atom types without elements ...
    >>> next(read_frames(dump, species={1: "Fe"})).get_chemical_formula()
    'Fe2'
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    selection, wanted = _selection(index)
    return _raising(_frames(path, selection, _species_numbers(species), check=True, wanted=wanted))


def _raising(frames):
    """The frames of :func:`_frames`, raising the first error instead of yielding it."""
    for _, frame in frames:
        if isinstance(frame, StructureError):
            raise frame
        yield frame


def _selection(index):
    """``(slice, integer)``: the frames that ``index`` selects, and the integer it is, if one.

    Examples
    --------
    >>> _selection("::10"), _selection("-1"), _selection(3)
    ((slice(None, None, 10), None), (slice(-1, None, None), -1), (slice(3, 4, None), 3))
    """
    if isinstance(index, str):
        parts = index.strip().split(":")
        try:
            numbers = [int(part) if part.strip() else None for part in parts]
        except ValueError:
            numbers = [None]
        if len(parts) > 3 or numbers == [None]:
            raise ValueError(
                f"index {index!r} is neither a frame number nor a slice such as ':', '::10', '100:' or '-1'"
            )
        index = numbers[0] if len(parts) == 1 else slice(*numbers)
    if _is_integer(index):
        return slice(int(index), int(index) + 1 or None), int(index)
    if not isinstance(index, slice):
        raise TypeError(f"index must be a str, an int or a slice, got {type(index).__name__}")
    if not all(part is None or _is_integer(part) for part in (index.start, index.stop, index.step)):
        raise TypeError(f"the bounds of a slice index must be integers or None, got {index}")
    if index.step is not None and index.step <= 0:
        raise ValueError(
            f"index {index}: the step must be positive (frames are read in file order)"
        )
    return index, None


def _is_integer(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _species_numbers(species):
    """``species`` of :func:`read_frames` as ``{type: atomic number}`` (``None`` stays ``None``).

    Examples
    --------
    >>> _species_numbers({1: "Al", 2: 28})
    {1: 13, 2: 28}
    """
    if species is None:
        return None
    if not isinstance(species, Mapping) or not species:
        raise TypeError(
            f"species must be a non-empty mapping of LAMMPS atom types to elements, got {species!r}"
        )
    from ase.data import atomic_numbers

    numbers = {}
    for kind, element in species.items():
        if not _is_integer(kind) or kind < 1:
            raise ValueError(f"species: a LAMMPS atom type is an integer from 1, got {kind!r}")
        if isinstance(element, str) and atomic_numbers.get(element, 0) > 0:
            numbers[int(kind)] = atomic_numbers[element]
        elif _is_integer(element) and 1 <= element <= MAX_ATOMIC_NUMBER:
            numbers[int(kind)] = int(element)
        else:
            raise ValueError(
                f"species: {element!r} (for type {kind}) is not an element symbol or atomic number"
            )
    return numbers


def _frames(path, selection, species, *, check, wanted=None):
    """``(frame number, Atoms or StructureError)`` for the frames of a file in ``selection``.

    A problem with the whole file is raised as a :class:`StructureError`, and an integer
    ``wanted`` past the end as an ``IndexError``; a frame that cannot be read (or, with
    ``check``, used) is yielded as its error, and the frames after it are still read where
    they can be found. Without ``check`` the frames are not checked (the command line leaves
    that to the processes that fingerprint them).
    """
    try:
        file = _check_file(path)[0]
        scanned = _scanned_format(file)
        frames = (
            _scanned_frames(file, scanned, selection, species)
            if scanned
            else _other_frames(file, selection)
        )
        found = False
        for number, frame in frames:
            found = True
            if check and _is_atoms(frame):
                try:
                    _to_crystal(_convert(frame))
                except StructureError as error:
                    frame = error
            if not _is_atoms(frame):
                frame = _frame_error(frame, path, number)
            yield number, frame
    except StructureError as error:
        raise StructureError(error.reason, item=path, frame=error.frame) from error.__cause__
    if wanted is not None and not found:
        raise IndexError(f"{describe(path)}: frame index {wanted} is out of range")


def _frame_error(error, path, number):
    """``error`` of frame ``number`` of ``path`` as a :class:`StructureError` naming both."""
    if isinstance(error, StructureError):
        named = StructureError(error.reason, item=path, frame=number)
        named.__cause__ = error.__cause__
    else:
        named = StructureError(f"could not be read ({_first_line(error)})", item=path, frame=number)
        named.__cause__ = error
    return named


def _bounds(selection, count):
    """``(start, stop, step)`` of a slice with a positive step, ``stop`` ``None`` for the end.

    ``count()`` gives the number of frames; it is called only for bounds counted from the end.
    """
    start, stop = selection.start, selection.stop
    if (start is not None and start < 0) or (stop is not None and stop < 0):
        return selection.indices(count())
    return start or 0, stop, selection.step or 1


def _scanned_frames(path, scanned, selection, species):
    """Frames of an xyz file or LAMMPS dump: split here, and only the selected ones parsed."""
    start, stop, step = _bounds(selection, lambda: _count_frames(path, scanned))

    def keep(number):
        return number >= start and (number - start) % step == 0

    number, first = 0, True
    with _open_text(path) as handle:
        chunks = _SCANNED[scanned](handle, keep)
        while stop is None or number < stop:
            try:
                text = next(chunks)
            except StopIteration:
                return
            except Exception as error:  # the frames after it cannot be found
                if number == 0:
                    raise StructureError(
                        f"could not be read as {scanned} ({_first_line(error)})"
                    ) from error
                yield number, error
                return
            if text is not None:
                try:
                    frame = _build_frame(text, scanned, species)
                except Exception as error:  # reported with its frame
                    if first and isinstance(error, StructureError):
                        raise  # the elements of the atom types: one error for the file, not per frame
                    frame = error
                first = False
                yield number, frame
            number += 1


def _count_frames(path, scanned):
    """Number of frames of an xyz file or LAMMPS dump (a broken frame counts, and ends it)."""
    count = 0
    try:
        with _open_text(path) as handle:
            for _ in _SCANNED[scanned](handle, _no_frame):
                count += 1
    except Exception:  # noqa: BLE001 -- the broken frame is reported when it is read
        count += 1
    return count


def _holds_several_frames(path, scanned):
    """Whether an xyz file or LAMMPS dump holds more than one frame (reads two at most).

    Anything after a first frame that is not a frame also counts: the file is not one structure.
    """
    found = 0
    try:
        with _open_text(path) as handle:
            for _ in _SCANNED[scanned](handle, _no_frame):
                found += 1
                if found == 2:
                    return True
    except Exception:  # noqa: BLE001 -- a broken first frame is the reader's to report
        return found > 0
    return False


def _other_frames(path, selection):
    """Frames of a file not split here: one structure as :func:`_read` reads it, or ASE's frames."""
    try:
        source = _read(path)
    except StructureError as error:
        if not error.reason.startswith(_SEVERAL_FRAMES):
            raise
    else:
        if 0 in range(1)[selection]:
            yield 0, source if _is_atoms(source) else _structure_to_atoms(source)
        return
    import ase.io

    def iread(index):
        return ase.io.iread(
            str(path), index=index, format=_ase_format(path), do_not_split_by_at_sign=True
        )

    start, stop, step = _bounds(selection, lambda: sum(1 for _ in iread(slice(None))))
    frames, number = iread(slice(start, stop, step)), start
    while True:
        try:
            frame = next(frames)
        except StopIteration:
            return
        except Exception as error:  # noqa: BLE001 -- ASE's reader cannot go on after it
            yield number, error
            return
        yield number, frame
        number += step


def _structure_to_atoms(structure):
    """A pymatgen ``Structure`` as a plain ASE ``Atoms``, after the checks of an item."""
    from ase import Atoms

    crystal = _to_crystal(structure)
    return Atoms(
        numbers=crystal.numbers, scaled_positions=crystal.frac_coords, cell=crystal.cell, pbc=True
    )


def _ase_format(path):
    """The ASE format of a file by its name (:data:`_ASE_FORMATS`), or ``None`` for ASE to guess."""
    name = path.name.lower()
    for ending in _COMPRESSED:
        name = name.removesuffix(ending)
    return _ASE_FORMATS.get(os.path.splitext(name)[1])


def _scanned_format(path):
    """The format of a file that is split into frames here (xyz or LAMMPS dump), or ``None``."""
    format = _ase_format(path)
    if format is None:
        # A LAMMPS dump under any name: ASE also tells it by its first line.
        with contextlib.suppress(Exception), _open_text(path) as handle:
            if handle.read(len(_DUMP_START)) == _DUMP_START:
                format = "lammps-dump-text"
    return format if format in _SCANNED else None


def _open_text(path):
    """The file opened for reading text, decompressed if its name ends in .gz, .bz2 or .xz."""
    # The standard library's openers, as ASE's: importing ase.io costs a second, which a
    # CIF read by pymatgen should not pay.
    import bz2
    import gzip
    import lzma

    opener = dict(zip(_COMPRESSED, (gzip.open, bz2.open, lzma.open))).get(path.suffix.lower(), open)
    return opener(path, "rt")


_DUMP_START = "ITEM: TIMESTEP"


def _every_frame(number):
    return True


def _no_frame(number):
    return False


def _xyz_frames(lines, keep):
    """For each frame of an (extended) xyz file, its text, or ``None`` where ``keep(number)`` is false.

    A frame is found as ASE's reader finds it: a line with the number of atoms, a comment line,
    a line per atom, up to three ``VEC`` lines; a blank line ends the file. Frames not kept are
    read past, not stored.
    """
    number, line = 0, next(lines, "")
    while line.strip():
        try:
            n_atoms = int(line)
        except ValueError:
            n_atoms = -1
        if n_atoms < 0:
            raise ValueError(
                f"expected the number of atoms of frame {number}, found {line.strip()[:40]!r}"
            )
        text = [line] if keep(number) else None
        found = 0
        for found, body in enumerate(islice(lines, n_atoms + 1), start=1):
            if text is not None:
                text.append(body)
        if found < n_atoms + 1:
            raise ValueError(
                f"frame {number} is cut short: {n_atoms} atoms announced, {max(found - 1, 0)} found"
            )
        line = next(lines, "")
        while line.lstrip().startswith("VEC"):
            if text is not None:
                text.append(line)
            line = next(lines, "")
        yield None if text is None else "".join(text)
        number += 1


def _dump_frames(lines, keep):
    """For each frame of a LAMMPS text dump (``ITEM: TIMESTEP`` to the next), as :func:`_xyz_frames`."""
    line = next(lines, "")
    if not line.startswith(_DUMP_START):
        raise ValueError(
            f"not a LAMMPS text dump: its first line is {line.strip()[:40]!r}, not {_DUMP_START!r}"
        )
    number = 0
    while line:
        text = [line] if keep(number) else None
        line = ""
        for following in lines:
            if following.startswith(_DUMP_START):
                line = following
                break
            if text is not None:
                text.append(following)
        yield None if text is None else "".join(text)
        number += 1


#: Readers of the frames of the formats split here, by ASE format name.
_SCANNED = {"extxyz": _xyz_frames, "lammps-dump-text": _dump_frames}


def _build_frame(text, format, species):
    """The text of one frame as an ASE ``Atoms``; a LAMMPS dump's atom types become elements."""
    import ase.io

    atoms = ase.io.read(StringIO(text), format=format, index=0)
    if format == "lammps-dump-text":
        _name_dump_atoms(atoms, text, species)
    return atoms


def _name_dump_atoms(atoms, text, species):
    """Give the atoms of a LAMMPS dump frame their elements, in place (see :func:`read_frames`)."""
    start = text.find("ITEM: ATOMS")
    columns = text[start : text.find("\n", start)].split()[2:]
    if "element" in columns:
        return
    if species is not None and "type" in columns:
        # ASE keeps the types in an array; before it did, the numbers were the types (no mass column).
        types = np.asarray(atoms.arrays.get("type", atoms.numbers))
        unknown = sorted(set(np.unique(types).tolist()) - set(species))
        if unknown:
            raise StructureError(
                f"atom type(s) {unknown} have no element in species (given for types {sorted(species)})"
            )
        table = np.zeros(max(species) + 1, dtype=np.int64)
        table[list(species)] = list(species.values())
        atoms.set_atomic_numbers(table[types])
        return
    if "mass" in columns:
        return  # ASE named the elements after their masses
    raise StructureError(
        f"{_TYPES_ONLY} (columns: {' '.join(columns)}); ASE would read type 1 as H, 2 as He, ..., "
        "and the elements set the fingerprint's form factors: give the element of each type, "
        "skcrystal.read_frames(path, species={1: 'Al', 2: 'Ni'}), or on the command line "
        "--species 1=Al,2=Ni"
    )


def _first_line(error):
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def _some(indices, limit=5):
    """``[0, 3, 7]`` or ``[0, 3, 7, 8, 9, ...] (12 in all)`` for a message."""
    indices = [int(i) for i in indices]
    if len(indices) <= limit:
        return str(indices)
    return f"{str(indices[:limit])[:-1]}, ...] ({len(indices)} in all)"


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

"""Reading structure files: pymatgen or ASE, one frame or a trajectory's frames, within size limits."""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
from io import StringIO
from itertools import islice
from numbers import Integral
from pathlib import Path

import numpy as np

from ._errors import StructureError, _first_line, describe
from ._structures import MAX_ATOMIC_NUMBER, _check_ase, _is_atoms, _to_crystal, _Unchecked

#: Largest structure file read, in bytes (2 GiB). pymatgen and ASE read a whole file into
#: memory, several times its size, before a single atom is checked; a larger file is refused
#: before it is opened. Raise it (``skcrystal.io.MAX_FILE_BYTES = ...``) for a machine that
#: can afford it.
MAX_FILE_BYTES = 2 * 1024**3
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
        An ``index`` or ``species`` that is not one (raised at the call; a wrong type is
        scikit-learn's ``InvalidParameterError``, which is both).

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
    return isinstance(value, Integral) and not isinstance(value, bool)


def _species_numbers(species):
    """``species`` of :func:`read_frames` as ``{type: atomic number}`` (``None`` stays ``None``).

    Examples
    --------
    >>> _species_numbers({1: "Al", 2: 28})
    {1: 13, 2: 28}
    """
    if species is None:
        return None
    if not species:
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

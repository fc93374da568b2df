"""Atom-probe reconstructions as point clouds, read with FAIRmat's ``ifes-apt-tc-data-modeling``.

Reconstructed positions come from ``.pos``, ``.epos`` or ``.apt`` files; the species of each
ion from a range file (``.rrng`` or ``.rng``): an ion whose mass-to-charge ratio falls in a
range takes the element of that range's ion (the first element of a molecular ion). Ions in
no range are left out. The result is an ``ase.Atoms`` without a cell, for
:class:`skcrystal.local.LocalClassifier`. The reader package is the ``apt`` extra:
``pip install 'skcrystal[apt]'``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: Reconstruction readers of ifes-apt-tc-data-modeling, by suffix.
RECONSTRUCTIONS = {
    ".pos": ("ifes_apt_tc_data_modeling.pos.pos_reader", "ReadPosFileFormat"),
    ".epos": ("ifes_apt_tc_data_modeling.epos.epos_reader", "ReadEposFileFormat"),
    ".apt": ("ifes_apt_tc_data_modeling.apt.apt6_reader", "ReadAptFileFormat"),
}
#: Range-file readers, by suffix, and the attribute holding their parsed content.
RANGE_FILES = {
    ".rrng": ("ifes_apt_tc_data_modeling.rrng.rrng_reader", "ReadRrngFileFormat", "rrng"),
    ".rng": ("ifes_apt_tc_data_modeling.rng.rng_reader", "ReadRngFileFormat", "rng"),
}


def read_atom_probe(path, ranges=None, *, element=None):
    """Read an atom-probe reconstruction as a point cloud.

    Parameters
    ----------
    path : str or path-like
        A ``.pos``, ``.epos`` or ``.apt`` file.
    ranges : str or path-like, default=None
        A ``.rrng`` or ``.rng`` range file giving each ion its element.
    element : str, default=None
        Without ``ranges``: the element every ion is taken to be (the fingerprint depends on
        the species only through their X-ray form factors).

    Returns
    -------
    ase.Atoms
        Positions in Angstrom, no cell, ``pbc`` False; the array ``"mass_to_charge"`` (Da)
        holds each ion's mass-to-charge ratio.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> ions = np.array([[0, 0, 0, 27.9], [0.2, 0, 0, 29.1], [0, 0.2, 0, 40.0]], dtype=">f4")
    >>> folder = tempfile.mkdtemp()
    >>> ions.tofile(os.path.join(folder, "tip.pos"))
    >>> _ = open(os.path.join(folder, "tip.rrng"), "w").write(
    ...     "[Ions]\\nNumber=2\\nIon1=Fe\\nIon2=Ni\\n[Ranges]\\nNumber=2\\n"
    ...     "Range1=27.5 28.5 Vol:0.01 Fe:1 Color:FF0000\\nRange2=28.8 29.6 Vol:0.01 Ni:1 Color:00FF00\\n")
    >>> cloud = read_atom_probe(os.path.join(folder, "tip.pos"), os.path.join(folder, "tip.rrng"))
    >>> cloud.get_chemical_symbols(), cloud.positions[1].round(3).tolist()  # nm -> Angstrom
    (['Fe', 'Ni'], [2.0, 0.0, 0.0])
    """
    from ase import Atoms
    from ase.data import atomic_numbers

    path = Path(path)
    reader = _reader(RECONSTRUCTIONS, path, "reconstruction")(str(path))
    if not getattr(reader, "supported", True):
        raise ValueError(
            f"{path.name}: ifes-apt-tc-data-modeling cannot read this file as {path.suffix}."
        )
    positions = reader.get_reconstructed_positions()
    ratios = reader.get_mass_to_charge_state_ratio()
    if positions is None or ratios is None:
        raise ValueError(
            f"{path.name}: no reconstructed positions or mass-to-charge ratios in the file."
        )
    positions = np.asarray(positions.to("angstrom").magnitude, dtype=float).reshape(-1, 3)
    ratios = np.asarray(ratios.to("dalton").magnitude, dtype=float).reshape(-1)
    if ranges is None:
        if element is None:
            raise ValueError(
                "give ranges= (a .rrng or .rng file) or element= (one element for every ion)."
            )
        if element not in atomic_numbers:
            raise ValueError(f"element {element!r} is not a chemical symbol.")
        numbers = np.full(len(positions), atomic_numbers[element])
    else:
        numbers = _ranged(ratios, Path(ranges))
    kept = numbers > 0
    cloud = Atoms(numbers=numbers[kept], positions=positions[kept], pbc=False)
    cloud.new_array("mass_to_charge", ratios[kept])
    return cloud


def _reader(table, path, kind):
    import importlib

    suffix = path.suffix.lower()
    if suffix not in table:
        raise ValueError(
            f"{path.name}: not an atom-probe {kind} file; known suffixes: {', '.join(table)}."
        )
    module, name = table[suffix][:2]
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as error:
        raise ImportError(
            "reading atom-probe files needs ifes-apt-tc-data-modeling: pip install 'skcrystal[apt]'."
        ) from error


def _ranged(ratios, ranges):
    """Atomic number of each ion from a range file (0 for an ion in no range)."""
    reader = _reader(RANGE_FILES, ranges, "range")(str(ranges))
    parsed = getattr(reader, RANGE_FILES[ranges.suffix.lower()][2], None) or {}
    numbers = np.zeros(len(ratios), dtype=int)
    for ion in parsed.get("molecular_ions", []):
        elements = [int(z) for _, z in np.asarray(ion.nuclide_list).reshape(-1, 2) if z > 0]
        if not elements:
            continue
        for low, high in np.asarray(ion.ranges.to("dalton").magnitude, dtype=float).reshape(-1, 2):
            numbers[(ratios >= low) & (ratios <= high) & (numbers == 0)] = elements[0]
    return numbers

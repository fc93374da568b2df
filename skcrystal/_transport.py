"""Items shipped to joblib workers as plain arrays, their checks already done."""

from __future__ import annotations

import numpy as np

from ._errors import StructureError
from ._structures import _structure_numbers, _Unchecked


def _portable(item):
    """The item in a form that is cheap to send to a worker process.

    A pymatgen ``Structure`` pickles slowly: its sites are Python objects (1.5 ms to pickle
    and unpickle 256 of them, half the time of their canonical cluster). It is replaced by its
    arrays; the checks that need its sites (empty sites, partial occupancies, dummy species)
    run here, and their error, if any, is raised by :func:`skcrystal.io.to_crystal` of the result, after
    the lattice and coordinate checks, as for the ``Structure`` itself. Other items (paths,
    ASE ``Atoms``, anything else) are returned as they are.

    Examples
    --------
    >>> import pickle
    >>> from skcrystal.io import to_crystal
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

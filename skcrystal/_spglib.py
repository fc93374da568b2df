"""Calling spglib without it writing to the user's terminal."""

import contextlib
import os
import warnings


@contextlib.contextmanager
def quiet():
    """Silence spglib for the duration of the block.

    spglib's C library prints warnings ("spglib: Primitive lattice cleaning is incomplete")
    to the process's standard error unless the environment variable ``SPGLIB_WARNING`` is
    ``OFF``, and spglib 2.5+ issues a ``DeprecationWarning`` about its error handling on every
    call. A value the user set for ``SPGLIB_WARNING`` is respected.
    """
    previous = os.environ.get("SPGLIB_WARNING")
    if previous is None:
        os.environ["SPGLIB_WARNING"] = "OFF"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        if previous is None:
            os.environ.pop("SPGLIB_WARNING", None)


def symmetry_dataset(cell, symprec, angle_tolerance=-1.0):
    """spglib's symmetry dataset of ``(lattice, positions, numbers)``, or ``None`` if it finds none.

    spglib before 2.5 returns ``None`` where it finds no symmetry; 2.5 and later raise
    ``SpglibError``. Either way the answer here is ``None``, quietly.
    """
    import spglib

    with quiet():
        try:
            return spglib.get_symmetry_dataset(
                cell, symprec=symprec, angle_tolerance=angle_tolerance
            )
        except getattr(spglib, "SpglibError", RuntimeError):
            return None

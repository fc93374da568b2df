"""The error of an item that cannot be used, and how items are named in messages."""

from __future__ import annotations

import contextlib
import os

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


# Its public home, in tracebacks and reprs.
StructureError.__module__ = "skcrystal.io"


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


@contextlib.contextmanager
def _naming(item, index):
    """Re-raise a :class:`StructureError` with the item and its index."""
    try:
        yield
    except StructureError as error:
        raise StructureError(error.reason, index=index, item=item) from error.__cause__


def _first_line(error):
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def _some(indices, limit=5):
    """``[0, 3, 7]`` or ``[0, 3, 7, 8, 9, ...] (12 in all)`` for a message."""
    indices = [int(i) for i in indices]
    if len(indices) <= limit:
        return str(indices)
    return f"{str(indices[:limit])[:-1]}, ...] ({len(indices)} in all)"

"""The symmetry-finder baseline: spglib's space group mapped to a class."""

from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from .datasets import CLASSES, class_of_space_group, space_groups
from .io import check_sequence, to_structure

#: The paper's three spglib settings: (symprec in Angstrom, angle_tolerance in degrees).
SETTINGS = {"tight": (1e-3, 1.0), "medium": (1e-2, 1.0), "loose": (1e-1, 5.0)}

#: What the baseline predicts when the space group is none of the seven classes'.
UNKNOWN = "unknown"


class SpglibBaseline(ClassifierMixin, BaseEstimator):
    """Classify crystals by the space group spglib finds within a tolerance.

    Needs no training data: ``fit`` only checks what it is given. ``predict`` maps spglib's
    space group to one of :data:`skcrystal.datasets.CLASSES` (139, 141, 166 and 194, 221, 225,
    227, 229) or to ``"unknown"``. The paper compares with three settings
    (``skcrystal.baseline.SETTINGS``):

    ========  ==============  ======================
    setting   symprec (A)     angle_tolerance (deg)
    ========  ==============  ======================
    tight     1e-3            1
    medium    1e-2            1
    loose     1e-1            5
    ========  ==============  ======================

    A symmetry finder needs every atom: one vacancy in a supercell changes the space group at
    any tolerance, and the answer with it (to ``"unknown"``, or to another class: a 3 x 3 x 3
    bcc supercell less one atom has space group 221, ``"sc"``). Displacements larger than
    ``symprec`` do the same.

    Parameters
    ----------
    symprec : float, default=1e-3
        Distance tolerance, Angstrom.
    angle_tolerance : float, default=1.0
        Angle tolerance of the lattice, degrees.

    Attributes
    ----------
    classes_ : ndarray of str
        Every label ``predict`` can return: the seven of ``CLASSES`` and ``"unknown"``,
        sorted, whatever labels ``fit`` saw.

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> fe = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    >>> SpglibBaseline().fit().predict([fe])
    array(['bcc'], dtype=object)
    """

    _parameter_constraints = {
        "symprec": [Interval(Real, 0, None, closed="neither")],
        "angle_tolerance": [Interval(Real, None, None, closed="neither")],
    }

    def __init__(self, symprec=1e-3, angle_tolerance=1.0):
        self.symprec = symprec
        self.angle_tolerance = angle_tolerance

    def fit(self, X=None, y=None):
        """Check the arguments; nothing is learnt.

        Parameters
        ----------
        X : sequence of Structure, Atoms or path, default=None
            Not read; if given, it must be a sequence as long as ``y``.
        y : array-like of str, default=None
            Labels, each one of :data:`~skcrystal.datasets.CLASSES` or ``"unknown"``: the
            labels ``predict`` can return (``classes_``).

        Returns
        -------
        self : SpglibBaseline
            The baseline, with ``classes_`` set.

        Examples
        --------
        >>> SpglibBaseline().fit(None, ["fcc", "bcc"]).classes_.tolist()
        ['bcc', 'bct139', 'bct141', 'diam', 'fcc', 'hex/rh', 'sc', 'unknown']
        """
        self._validate_params()
        self.classes_ = np.array(sorted([*CLASSES, UNKNOWN]), dtype=object)
        if X is not None:
            X = check_sequence(X)
        if y is not None:
            y = np.asarray(y, dtype=object).ravel()
            foreign = sorted(
                {repr(label) for label in y.tolist() if label not in self.classes_.tolist()}
            )
            if foreign:
                raise ValueError(
                    f"SpglibBaseline predicts {self.classes_.tolist()}; y has other labels: {', '.join(foreign[:5])}."
                )
            if X is not None and len(X) != len(y):
                raise ValueError(f"X has {len(X)} structures but y has {len(y)} labels.")
        return self

    def space_groups(self, X):
        """Space-group number of each structure by spglib (0 where spglib finds none).

        Parameters
        ----------
        X : sequence of Structure, Atoms or path
            The crystals.

        Returns
        -------
        ndarray of int of shape (n_samples,)
            The space-group numbers, found with ``symprec`` and ``angle_tolerance``.

        Examples
        --------
        >>> from pymatgen.core import Lattice, Structure
        >>> fe = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
        >>> SpglibBaseline().space_groups([fe])
        array([229])
        """
        return np.array(
            [
                space_groups(to_structure(item, index), (self.symprec,), self.angle_tolerance)[0]
                for index, item in enumerate(check_sequence(X))
            ]
        )

    def predict(self, X):
        """Class of each structure, or ``"unknown"``.

        Parameters
        ----------
        X : sequence of Structure, Atoms or path
            The crystals.

        Returns
        -------
        ndarray of str (object dtype) of shape (n_samples,)
            A label of ``classes_`` for each structure.

        Examples
        --------
        >>> from pymatgen.core import Lattice, Structure
        >>> # bcc iron with the centre atom moved by 0.03 Angstrom along z: tetragonal
        >>> moved = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.51]])
        >>> SpglibBaseline(symprec=1e-3).fit().predict([moved])
        array(['unknown'], dtype=object)
        >>> SpglibBaseline(symprec=1e-1).fit().predict([moved])
        array(['bcc'], dtype=object)
        """
        check_is_fitted(self)
        return np.array([class_of_space_group(n) for n in self.space_groups(X)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.requires_fit = True
        return tags

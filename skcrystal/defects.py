"""Defect generators and the paper's targeted transformations.

:class:`Vacancies`, :class:`Displacements` and :class:`Substitutions` are scikit-learn
transformers, structures in and structures out, each first expanding a crystal to a supercell
of at least ``min_atoms`` atoms (so that 1 % vacancies means something). Use them

* to build defective test sets: ``Vacancies(fraction=0.2, random_state=0).transform(X)``;
* to augment a training set at fit time only, with :class:`Augmenter`, a sampler with
  imbalanced-learn's ``fit_resample`` protocol: inside an ``imblearn.pipeline.Pipeline`` it
  adds defective copies while fitting and is skipped when predicting.

:class:`ThermalDisplacements` displaces atoms by the phonons of a Debye solid that the
periodic box allows (correlated, as in molecular dynamics).

Also :func:`bcc_to_sc` (remove body-centre atoms of bcc). The rhombohedral path is now
:func:`skcrystal.datasets.rhombohedral_path`.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params

from ._spglib import quiet
from .io import check_sequence, to_structure

#: Supercells grow until they hold at least this many atoms, by default.
MIN_ATOMS = 256
#: Largest ratio of the longest to the shortest side of a supercell.
SUPERCELL_ASPECT = 1.25


@validate_params(
    {
        # A pymatgen Structure, checked below: pymatgen is imported only when needed.
        "structure": "no_validation",
        "min_atoms": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def supercell(structure, min_atoms=MIN_ATOMS):
    """The smallest near-isotropic diagonal supercell with at least ``min_atoms`` atoms.

    Multiplies the vectors of the LLL-reduced cell by integers ``k_i`` so that the sides
    ``k_i |a_i|`` differ by at most a factor ``SUPERCELL_ASPECT``, with as few atoms as
    possible (ties: the shorter longest side).

    Parameters
    ----------
    structure : pymatgen.core.Structure
        The crystal to expand.
    min_atoms : int, default=256
        Least number of atoms of the supercell.

    Returns
    -------
    pymatgen.core.Structure
        The supercell (a multiple of the LLL-reduced cell), or a copy of ``structure`` if
        it already has at least ``min_atoms`` atoms.

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> fe = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    >>> len(supercell(fe, 256)), supercell(fe, 256).lattice.abc  # doctest: +ELLIPSIS
    (300, (14.35..., 14.35..., 17.22...))
    """
    from pymatgen.core import IStructure, Lattice, Structure

    if not isinstance(structure, IStructure):
        raise TypeError(
            "The 'structure' parameter of supercell must be a pymatgen Structure, got "
            f"{type(structure).__name__}."
        )
    if len(structure) >= min_atoms:
        return structure.copy()
    reduced = structure.lattice.lll_matrix
    frac = structure.frac_coords @ np.linalg.inv(structure.lattice.lll_mapping)
    structure = Structure(Lattice(reduced), structure.species, frac % 1.0)
    lengths = np.linalg.norm(reduced, axis=1)
    # Sides within a factor SUPERCELL_ASPECT of each other and a volume of min_atoms atoms
    # bound each side by twice the edge of the cube of that volume (plus one cell).
    cube = (min_atoms * structure.volume / len(structure)) ** (1 / 3)
    ranges = [np.arange(1, int(np.ceil(2 * cube / length)) + 2) for length in lengths]
    factors = np.stack(np.meshgrid(*ranges, indexing="ij"), axis=-1).reshape(-1, 3)
    sides = factors * lengths
    atoms = len(structure) * factors.prod(axis=1)
    ok = (atoms >= min_atoms) & (sides.max(axis=1) <= SUPERCELL_ASPECT * sides.min(axis=1))
    best = np.lexsort((sides.max(axis=1)[ok], atoms[ok]))[0]
    return structure * tuple(int(k) for k in factors[ok][best])


class _DefectGenerator(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Base of the defect transformers: validation, supercell, per-structure randomness."""

    def fit(self, X=None, y=None):
        """Validate the parameters; nothing is learnt.

        Returns
        -------
        self
        """
        self._validate_params()
        return self

    def transform(self, X):
        """Defective copies of the structures of ``X``.

        Parameters
        ----------
        X : sequence of Structure, Atoms or path

        Returns
        -------
        list of pymatgen.core.Structure
        """
        self._validate_params()
        self._check()
        rng = check_random_state(self.random_state)
        out = []
        for index, item in enumerate(check_sequence(X)):
            structure = supercell(to_structure(item, index), self.min_atoms)
            out.append(self._apply(structure, rng))
        return out

    def _check(self):
        """Cross-parameter checks (subclasses)."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        tags.non_deterministic = self.random_state is None
        return tags


class Vacancies(_DefectGenerator):
    """Remove a fraction of the atoms at random.

    Parameters
    ----------
    fraction : float, default=0.1
        Fraction of atoms removed, in [0, 1); exactly ``round(fraction * n)`` of the
        supercell's ``n`` atoms go.
    min_atoms : int, default=256
        Structures are first expanded to a supercell of at least this many atoms.
    random_state : int, RandomState instance or None, default=None
        Seeds the choice of the atoms removed.

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> cu = Structure(Lattice.cubic(3.6), ["Cu"] * 4, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    >>> [len(s) for s in Vacancies(fraction=0.25, random_state=0).transform([cu])]
    [192]
    """

    _parameter_constraints = {
        "fraction": [Interval(Real, 0, 1, closed="left")],
        "min_atoms": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, fraction=0.1, *, min_atoms=MIN_ATOMS, random_state=None):
        self.fraction = fraction
        self.min_atoms = min_atoms
        self.random_state = random_state

    def _apply(self, structure, rng):
        n_remove = round(self.fraction * len(structure))
        structure.remove_sites(rng.choice(len(structure), size=n_remove, replace=False).tolist())
        return structure


class Displacements(_DefectGenerator):
    """Displace every atom by Gaussian noise, independently per Cartesian component.

    Parameters
    ----------
    sigma : float, default=None
        Standard deviation per Cartesian component, Angstrom.
    lindemann : float, default=None
        Alternative to ``sigma`` for amorphisation studies: ``sigma`` as a fraction of the
        structure's nearest-neighbour distance. Give exactly one of the two.
    min_atoms : int, default=256
        Structures are first expanded to a supercell of at least this many atoms.
    random_state : int, RandomState instance or None, default=None
        Seeds the displacements.

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> fe = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    >>> [hot] = Displacements(sigma=0.05, random_state=0).transform([fe])
    >>> len(hot)
    300
    """

    _parameter_constraints = {
        "sigma": [Interval(Real, 0, None, closed="left"), None],
        "lindemann": [Interval(Real, 0, None, closed="left"), None],
        "min_atoms": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, sigma=None, *, lindemann=None, min_atoms=MIN_ATOMS, random_state=None):
        self.sigma = sigma
        self.lindemann = lindemann
        self.min_atoms = min_atoms
        self.random_state = random_state

    def _check(self):
        if (self.sigma is None) == (self.lindemann is None):
            raise ValueError(
                f"Give exactly one of sigma (Angstrom) and lindemann (fraction of the nearest-"
                f"neighbour distance); got sigma={self.sigma!r}, lindemann={self.lindemann!r}."
            )

    def _apply(self, structure, rng):
        from pymatgen.core import Structure

        from ._cluster import median_neighbour_distance

        sigma = self.sigma
        if sigma is None:
            sigma = self.lindemann * median_neighbour_distance(structure.cart_coords)
        coords = structure.cart_coords + rng.normal(0.0, sigma, size=(len(structure), 3))
        return Structure(structure.lattice, structure.species, coords, coords_are_cartesian=True)


class ThermalDisplacements(_DefectGenerator):
    r"""Displace atoms by harmonic phonons of a Debye solid, commensurate with the box.

    Real thermal motion is correlated: long waves carry most of the displacement, spread
    the Bragg peaks and put satellites beside them. Independent Gaussian noise
    (:class:`Displacements`) has none of this. Here the (super)cell is the periodic box of a
    simulation, and its displacement field is a sum of the plane waves that box allows:

    .. math::

        \mathbf u_j = \sum_{\mathbf q} \mathbf c_{\mathbf q} \cos(\mathbf q\cdot\mathbf r_j)
                     + \mathbf d_{\mathbf q} \sin(\mathbf q\cdot\mathbf r_j),
        \qquad \mathbf q = 2\pi\,\mathbf m B,\quad 0 < |\mathbf q| \le q_D,

    with ``m`` integer vectors (one of each pair ``+-m``), ``B`` the reciprocal cell of the
    box (rows) and ``q_D = (6 pi^2 N / V)**(1/3)`` the Debye wave number, so that the box
    holds ``N`` wave vectors, ``3N`` modes with the two sine and cosine amplitudes. The
    amplitudes are independent Gaussians (random amplitude and phase for every mode and
    polarisation), ``c_q, d_q ~ N(0, s_q^2 I)``, with ``s_q`` proportional to ``1/|q|``: in
    a classical harmonic solid each mode holds ``kT`` and its frequency is proportional to
    ``|q|`` (Debye, one sound speed for all branches). The field is then scaled so that the
    root mean square displacement per Cartesian component over the atoms is exactly ``rms``.

    Parameters
    ----------
    rms : float, default=None
        Root mean square displacement per Cartesian component, Angstrom.
    lindemann : float, default=None
        Alternative to ``rms``: the Lindemann ratio ``sqrt(<|u|^2>) / d_nn`` (the full
        three-dimensional displacement over the nearest-neighbour distance; solids melt
        near 0.1 to 0.15). Note that ``Displacements(lindemann=...)`` is per component.
        Give exactly one of the two.
    min_atoms : int, default=256
        Structures are first expanded to a supercell of at least this many atoms; that
        supercell is the box whose waves are used.
    random_state : int, RandomState instance or None, default=None
        Seeds the amplitudes of the waves.

    Examples
    --------
    >>> import numpy as np
    >>> from pymatgen.core import Lattice, Structure
    >>> al = Structure(Lattice.cubic(4.05), ["Al"] * 4, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    >>> [hot] = ThermalDisplacements(rms=0.1, random_state=0).transform([al])
    >>> box = al * (4, 4, 4)
    >>> shift = hot.cart_coords - box.cart_coords
    >>> len(hot), round(float(np.sqrt(np.mean(shift**2))), 6)
    (256, 0.1)
    """

    _parameter_constraints = {
        "rms": [Interval(Real, 0, None, closed="left"), None],
        "lindemann": [Interval(Real, 0, None, closed="left"), None],
        "min_atoms": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, rms=None, *, lindemann=None, min_atoms=MIN_ATOMS, random_state=None):
        self.rms = rms
        self.lindemann = lindemann
        self.min_atoms = min_atoms
        self.random_state = random_state

    def _check(self):
        if (self.rms is None) == (self.lindemann is None):
            raise ValueError(
                f"Give exactly one of rms (Angstrom per component) and lindemann (3-d rms over the "
                f"nearest-neighbour distance); got rms={self.rms!r}, lindemann={self.lindemann!r}."
            )

    def _apply(self, structure, rng):
        from pymatgen.core import Structure

        from ._cluster import median_neighbour_distance

        rms = self.rms
        if rms is None:
            rms = self.lindemann * median_neighbour_distance(structure.cart_coords) / np.sqrt(3)
        positions = structure.cart_coords
        field = debye_field(structure.lattice.matrix, positions, rng)
        norm = np.sqrt(np.mean(field**2))
        if norm > 0:
            field *= rms / norm
        return Structure(
            structure.lattice, structure.species, positions + field, coords_are_cartesian=True
        )


#: Wave vectors per block of :func:`debye_field` (bounds its memory to a few MB per 1000 atoms).
DEBYE_BLOCK = 256


def debye_field(cell, positions, rng):
    """Displacements of a Debye solid at the atoms, unnormalised (see :class:`ThermalDisplacements`).

    Parameters
    ----------
    cell : ndarray of shape (3, 3)
        The periodic box (rows), Angstrom.
    positions : ndarray of shape (n, 3)
        Cartesian positions.
    rng : numpy.random.RandomState
        Draws the amplitudes of the waves.

    Returns
    -------
    ndarray of shape (n, 3)
        Displacement of each atom, on an arbitrary scale (:class:`ThermalDisplacements`
        rescales it).

    Examples
    --------
    >>> import numpy as np
    >>> cell = 6.0 * np.eye(3)  # 2 x 2 x 2 simple cubic cells of edge 3 Angstrom
    >>> positions = 3.0 * np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)])
    >>> field = debye_field(cell, positions, np.random.RandomState(0))
    >>> field.shape, bool(np.allclose(field.sum(axis=0), 0))  # no net translation
    ((8, 3), True)
    """
    cell = np.asarray(cell, dtype=float)
    positions = np.asarray(positions, dtype=float)
    reciprocal = 2 * np.pi * np.linalg.inv(cell).T
    q_debye = (6 * np.pi**2 * len(positions) / abs(np.linalg.det(cell))) ** (1 / 3)
    reach = np.floor(q_debye * np.linalg.norm(cell, axis=1) / (2 * np.pi)).astype(int)
    m = np.stack(
        np.meshgrid(*[np.arange(-r, r + 1) for r in reach], indexing="ij"), axis=-1
    ).reshape(-1, 3)
    # One of each pair +-m: the first non-zero index positive.
    sign = np.sign(np.where(m[:, 0] != 0, m[:, 0], np.where(m[:, 1] != 0, m[:, 1], m[:, 2])))
    q = m[sign > 0] @ reciprocal
    q = q[np.linalg.norm(q, axis=1) <= q_debye]
    q = q[np.lexsort(np.round(q, 9).T[::-1])]
    field = np.zeros_like(positions)
    for start in range(0, len(q), DEBYE_BLOCK):
        block = q[start : start + DEBYE_BLOCK]
        scale = 1.0 / np.linalg.norm(block, axis=1)
        cos_amp = rng.normal(size=(len(block), 3)) * scale[:, None]
        sin_amp = rng.normal(size=(len(block), 3)) * scale[:, None]
        phase = positions @ block.T
        field += np.cos(phase) @ cos_amp + np.sin(phase) @ sin_amp
    return field


class Substitutions(_DefectGenerator):
    """Replace a fraction of the atoms by other species (random alloys).

    Parameters
    ----------
    fraction : float, default=0.1
        Fraction of atoms replaced, in [0, 1); exactly ``round(fraction * n)`` of them.
    species : str or sequence of str, default="Cu"
        Replacing species, drawn with equal probability for each replaced atom: one species
        makes a binary alloy of an elemental crystal, two a ternary one.
    min_atoms : int, default=256
        Structures are first expanded to a supercell of at least this many atoms.
    random_state : int, RandomState instance or None, default=None
        Seeds the choice of the atoms replaced and of their species.

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> fe = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    >>> [alloy] = Substitutions(fraction=0.25, species="Ni", random_state=0).transform([fe])
    >>> alloy.composition.reduced_formula
    'Fe3Ni'
    """

    _parameter_constraints = {
        "fraction": [Interval(Real, 0, 1, closed="left")],
        "species": [str, list, tuple],
        "min_atoms": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, fraction=0.1, *, species="Cu", min_atoms=MIN_ATOMS, random_state=None):
        self.fraction = fraction
        self.species = species
        self.min_atoms = min_atoms
        self.random_state = random_state

    def _check(self):
        from pymatgen.core import Element

        for symbol in self._species():
            try:
                Element(symbol)
            except (ValueError, KeyError):
                raise ValueError(f"species: {symbol!r} is not a chemical element.") from None

    def _species(self):
        return [self.species] if isinstance(self.species, str) else list(self.species)

    def _apply(self, structure, rng):
        species = self._species()
        chosen = rng.choice(
            len(structure), size=round(self.fraction * len(structure)), replace=False
        )
        for site, kind in zip(chosen, rng.randint(len(species), size=len(chosen))):
            structure.replace(int(site), species[kind])
        return structure


class Augmenter(BaseEstimator):
    """Add defective copies of the training structures at fit time only.

    A sampler in imbalanced-learn's protocol: ``fit_resample(X, y)`` returns the original
    structures (with ``keep_original``) followed by ``n_copies`` defective copies of each made
    by every generator, with their labels. Inside an ``imblearn.pipeline.Pipeline`` samplers
    act during ``fit`` only, so predictions see the data as given.

    Parameters
    ----------
    generators : list of transformer
        Defect generators, e.g. ``[Vacancies(fraction=0.2), Displacements(sigma=0.02)]``.
    n_copies : int, default=1
        Defective copies per structure and generator.
    keep_original : bool, default=True
        Return the original structures before the defective copies.
    random_state : int, RandomState instance or None, default=None
        Seeds the generators (their own ``random_state`` is overridden).

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> fe = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    >>> X, y = Augmenter([Vacancies(fraction=0.1)], n_copies=2, random_state=0).fit_resample([fe], ["bcc"])
    >>> [len(s) for s in X], y.tolist()
    ([2, 270, 270], ['bcc', 'bcc', 'bcc'])
    """

    _parameter_constraints = {
        "generators": [list],
        "n_copies": [Interval(Integral, 0, None, closed="left")],
        "keep_original": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(self, generators, *, n_copies=1, keep_original=True, random_state=None):
        self.generators = generators
        self.n_copies = n_copies
        self.keep_original = keep_original
        self.random_state = random_state

    def fit(self, X, y):
        """Check the parameters; nothing is learnt.

        Parameters
        ----------
        X : sequence of Structure, Atoms or path
            Not used, present for API consistency.
        y : array-like of shape (n_samples,)
            Not used, present for API consistency.

        Returns
        -------
        self : Augmenter
            This augmenter.

        Examples
        --------
        >>> Augmenter([Vacancies()], n_copies=2).fit([], [])
        Augmenter(generators=[Vacancies()], n_copies=2)
        """
        self._validate_params()
        return self

    def fit_resample(self, X, y):
        """Originals and defective copies, with their labels.

        Parameters
        ----------
        X : sequence of Structure, Atoms or path
            The training structures.
        y : array-like of shape (n_samples,)
            Their labels.

        Returns
        -------
        X_resampled : list
            The items of ``X`` (with ``keep_original``), then for each generator and copy
            the defective pymatgen Structures of all of them.
        y_resampled : ndarray
            The label of each item of ``X_resampled``.

        Examples
        --------
        >>> from pymatgen.core import Lattice, Structure
        >>> fe = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
        >>> augmenter = Augmenter([Vacancies(fraction=0.5)], keep_original=False, random_state=0)
        >>> X, y = augmenter.fit_resample([fe], ["bcc"])
        >>> [len(s) for s in X], y.tolist()
        ([150], ['bcc'])
        """
        self.fit(X, y)
        items = check_sequence(X)
        y = np.asarray(y)
        if len(y) != len(items):
            raise ValueError(f"X has {len(items)} structures but y has {len(y)} labels.")
        rng = check_random_state(self.random_state)
        out_X = list(items) if self.keep_original else []
        out_y = [y] if self.keep_original else []
        for generator in self.generators:
            for _ in range(self.n_copies):
                seeded = clone(generator).set_params(random_state=rng.randint(2**31 - 1))
                out_X.extend(seeded.transform(items))
                out_y.append(y)
        return out_X, np.concatenate(out_y) if out_y else y[:0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        return tags


@validate_params(
    {
        "structure": "no_validation",  # read and checked by to_structure
        "fraction_removed": [Interval(Real, 0, 1, closed="both")],
        "min_atoms": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def bcc_to_sc(structure, fraction_removed, *, min_atoms=MIN_ATOMS, random_state=None):
    """Remove a fraction of the body-centre atoms of a bcc crystal (the paper's Fig. 4b).

    At 0 the crystal is bcc, at 1 simple cubic; in between, a bcc crystal with vacancies on
    one of its two simple-cubic sublattices.

    Parameters
    ----------
    structure : Structure, Atoms or path
        A pristine bcc crystal in any cell.
    fraction_removed : float
        Fraction of the body-centre atoms removed, in [0, 1].
    min_atoms : int, default=256
        The conventional cube is repeated ``n`` times along each axis, ``n`` the least for
        which the pristine supercell has at least this many atoms (``2 * n**3``).
    random_state : int, RandomState instance or None, default=None
        Seeds the choice of the atoms removed.

    Returns
    -------
    pymatgen.core.Structure
        The cubic supercell with ``round(fraction_removed * n**3)`` body-centre atoms removed.

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> fe = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    >>> len(bcc_to_sc(fe, 0.5, random_state=0))  # 6 x 6 x 6 cubes, 108 of 216 centres gone
    324
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    structure = to_structure(structure)
    with quiet():
        analyzer = SpacegroupAnalyzer(structure, symprec=1e-3)
        number = analyzer.get_space_group_number()
        cubic = analyzer.get_conventional_standard_structure()
    if number != 229:
        raise ValueError(f"bcc_to_sc needs a bcc crystal (space group 229); spglib finds {number}.")
    n = int(np.ceil((min_atoms / 2) ** (1 / 3)))
    big = cubic * (n, n, n)
    # Body centres sit at half-integer coordinates of the conventional cube.
    centres = np.flatnonzero(np.all(np.abs((big.frac_coords * n) % 1 - 0.5) < 1e-3, axis=1))
    rng = check_random_state(random_state)
    n_remove = round(fraction_removed * len(centres))
    big.remove_sites(sorted(rng.choice(centres, size=n_remove, replace=False).tolist()))
    return big


def rhombohedral_path(*args, **kwargs):
    """Deprecated: moved to :func:`skcrystal.datasets.rhombohedral_path` (it makes structures).

    .. deprecated:: 0.1
       Will be removed in 0.3.

    Parameters
    ----------
    *args, **kwargs
        Passed on to :func:`skcrystal.datasets.rhombohedral_path`.

    Returns
    -------
    pymatgen.core.Structure
        The structure :func:`skcrystal.datasets.rhombohedral_path` returns.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     structure = rhombohedral_path(90.0, nn_distance=3.0)
    >>> caught[0].category.__name__, len(structure)
    ('FutureWarning', 1)
    """
    import warnings

    from .datasets import rhombohedral_path as moved

    warnings.warn(
        "skcrystal.defects.rhombohedral_path is deprecated and will be removed in 0.3; "
        "use skcrystal.datasets.rhombohedral_path.",
        FutureWarning,
        stacklevel=2,
    )
    return moved(*args, **kwargs)

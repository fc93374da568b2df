"""The seven crystal classes and a generator of labelled elemental crystals.

The paper trained on about 10,500 pristine elemental crystals of the AFLOWLIB elemental-solid
database. That database cannot be downloaded here, so :func:`make_prototype_dataset` builds a
stand-in from the AFLOW prototypes of the seven classes (the library pymatgen ships in
``pymatgen/analysis/prototypes/aflow_prototypes.json.gz``), with the species drawn from 86
elements and the free parameters sampled over physically sensible ranges.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, validate_params

from ._spglib import quiet, symmetry_dataset

#: The paper's seven classes, in the paper's order.
CLASSES = ("bct139", "bct141", "hex/rh", "sc", "fcc", "diam", "bcc")

#: International space-group number -> class.
SPACE_GROUP_CLASSES = {
    139: "bct139",
    141: "bct141",
    166: "hex/rh",
    194: "hex/rh",
    221: "sc",
    225: "fcc",
    227: "diam",
    229: "bcc",
}

#: spglib tolerances (Angstrom) at which a generated crystal must show its space group.
VERIFY_SYMPREC = (1e-3, 1e-6, 1e-9)


def class_of_space_group(number):
    """Class of a space-group number, or ``"unknown"``.

    Parameters
    ----------
    number : int
        International space-group number.

    Returns
    -------
    str
        One of :data:`CLASSES`, or ``"unknown"`` for a space group of none of them.

    Examples
    --------
    >>> class_of_space_group(225), class_of_space_group(194), class_of_space_group(2)
    ('fcc', 'hex/rh', 'unknown')
    """
    return SPACE_GROUP_CLASSES.get(int(number), "unknown")


def element_pool():
    """Symbols of the elements the generator draws from.

    Atomic numbers 3 to 96 (so that the fingerprint's form factor of Z + 2 is tabulated) with
    an empirical atomic radius in pymatgen, noble gases excluded: 86 elements.

    Returns
    -------
    tuple of str
        Chemical symbols, by atomic number.

    Examples
    --------
    >>> pool = element_pool()
    >>> len(pool), pool[:3], "Cu" in pool, "Ar" in pool
    (86, ('Li', 'Be', 'B'), True, False)
    """
    from pymatgen.core import Element

    return tuple(
        e.symbol
        for e in Element
        if 3 <= e.Z <= 96 and e.atomic_radius is not None and not e.is_noble_gas
    )


@dataclass(frozen=True)
class Prototype:
    """An AFLOW prototype with the ranges its free parameters are sampled from.

    Attributes
    ----------
    aflow : str
        AFLOW prototype label.
    label : str
        Class, one of :data:`CLASSES`.
    space_group : int
    ranges : dict
        Parameter name -> list of ``(low, high)`` intervals, sampled uniformly (an interval
        drawn with probability proportional to its width).
    cell : callable
        Free parameters -> ``(lattice, fractional coordinates)`` of the conventional cell, at
        an arbitrary scale.

    Examples
    --------
    >>> hcp = next(p for p in PROTOTYPES if p.aflow == "A_hP2_194_c")
    >>> hcp.label, hcp.space_group, hcp.ranges
    ('hex/rh', 194, {'c/a': [(1.45, 1.95)]})
    >>> lattice, coords = hcp.cell({"c/a": 1.633})
    >>> round(lattice.c / lattice.a, 3), len(coords)
    (1.633, 2)
    """

    aflow: str
    label: str
    space_group: int
    ranges: dict
    cell: object


#: The prototypes of the seven classes and their parameter ranges.
#:
#: How the ranges were chosen: they span the values of the elemental crystals of each type
#: (c/a of hcp metals from Be 1.57 to Cd 1.89; double-hcp La, Pr, Nd about 3.22; rhombohedral
#: alpha-Hg 70.7 and beta-Po 98.2 degrees; A7 As, Sb, Bi alpha 54 to 57 degrees, z 0.227 to
#: 0.234; alpha-Sm z 0.222; In c/a 1.52 and Pa 0.83; beta-Sn c/a 0.55) with margins, and they
#: keep clear of the values where a prototype turns into a more symmetric one: bct139 is bcc
#: at c/a = 1 and fcc at sqrt(2); the rhombohedral hR1 lattice is fcc at 60, sc at 90 and bcc
#: at 109.47 degrees; A7 (hR2) is sc at alpha = 60 degrees with z = 1/4, and has half its cell
#: at z = 1/4; beta-Sn (bct141) is diamond at c/a = sqrt(2). Every generated crystal is then
#: checked with spglib at the paper's tolerances (see ``VERIFY_SYMPREC``).
_FCC = [(0, 0, 0), (0, 0.5, 0.5), (0.5, 0, 0.5), (0.5, 0.5, 0)]
_R_CENTRING = np.array([(0, 0, 0), (2 / 3, 1 / 3, 1 / 3), (1 / 3, 2 / 3, 2 / 3)])


def _cubic(coords):
    def cell(params):
        from pymatgen.core import Lattice

        return Lattice.cubic(1.0), coords

    return cell


def _hexagonal(coords):
    def cell(params):
        from pymatgen.core import Lattice

        return Lattice.hexagonal(1.0, params["c/a"]), coords

    return cell


def _tetragonal(coords):
    def cell(params):
        from pymatgen.core import Lattice

        return Lattice.tetragonal(1.0, params["c/a"]), coords

    return cell


def _rhombohedral(*basis):
    """Hexagonal setting of an hR prototype; ``basis`` holds ``(0, 0, sign * z)`` positions."""

    def cell(params):
        from pymatgen.core import Lattice

        if "alpha" in params:
            alpha = np.radians(params["alpha"])
            a, c = 2 * np.sin(alpha / 2), np.sqrt(3 * (1 + 2 * np.cos(alpha)))
        else:
            a, c = 1.0, params["c/a"]
        z = params.get("z", 0.0)
        sites = np.array([(0.0, 0.0, sign * z) for sign in basis])
        return Lattice.hexagonal(a, c), (
            (sites[:, None, :] + _R_CENTRING[None, :, :]).reshape(-1, 3) % 1.0
        ).tolist()

    return cell


PROTOTYPES = (
    Prototype("A_cF4_225_a", "fcc", 225, {}, _cubic(_FCC)),
    Prototype("A_cI2_229_a", "bcc", 229, {}, _cubic([(0, 0, 0), (0.5, 0.5, 0.5)])),
    Prototype("A_cP1_221_a", "sc", 221, {}, _cubic([(0, 0, 0)])),
    Prototype(
        "A_cF8_227_a", "diam", 227, {}, _cubic(_FCC + [tuple(np.add(p, 0.25)) for p in _FCC])
    ),
    Prototype(
        "A_hP2_194_c",
        "hex/rh",
        194,
        {"c/a": [(1.45, 1.95)]},
        _hexagonal([(1 / 3, 2 / 3, 0.25), (2 / 3, 1 / 3, 0.75)]),
    ),
    Prototype(
        "A_hP4_194_ac",
        "hex/rh",
        194,
        {"c/a": [(2.9, 3.5)]},
        _hexagonal([(0, 0, 0), (0, 0, 0.5), (1 / 3, 2 / 3, 0.25), (2 / 3, 1 / 3, 0.75)]),
    ),
    Prototype(
        "A_hR1_166_a", "hex/rh", 166, {"alpha": [(65.0, 85.0), (94.0, 104.0)]}, _rhombohedral(0)
    ),
    Prototype(
        "A_hR2_166_c",
        "hex/rh",
        166,
        {"alpha": [(50.0, 58.0)], "z": [(0.215, 0.24)]},
        _rhombohedral(1, -1),
    ),
    Prototype(
        "A_hR3_166_ac",
        "hex/rh",
        166,
        {"c/a": [(6.9, 7.6)], "z": [(0.21, 0.235)]},
        _rhombohedral(0, 1, -1),
    ),
    Prototype(
        "A_tI2_139_a",
        "bct139",
        139,
        {"c/a": [(0.75, 0.93), (1.07, 1.33), (1.5, 1.8)]},
        _tetragonal([(0, 0, 0), (0.5, 0.5, 0.5)]),
    ),
    # Wyckoff 4a of I4_1/amd, origin choice 1, and its body-centred copies.
    Prototype(
        "A_tI4_141_a",
        "bct141",
        141,
        {"c/a": [(0.48, 0.62)]},
        _tetragonal([(0, 0, 0), (0, 0.5, 0.25), (0.5, 0.5, 0.5), (0.5, 0, 0.75)]),
    ),
)


def build(prototype, element, nn_distance, params):
    """Conventional cell of a prototype for one element and parameter set.

    Parameters
    ----------
    prototype : str
        AFLOW label, one of those in :data:`PROTOTYPES`.
    element : str
        Chemical symbol.
    nn_distance : float
        Nearest-neighbour distance to scale the crystal to, Angstrom.
    params : dict
        Free parameters (``"c/a"``, ``"alpha"`` in degrees, ``"z"``), as in
        :data:`PROTOTYPES`.

    Returns
    -------
    pymatgen.core.Structure
        The conventional cell, scaled so that the median nearest-neighbour distance is
        ``nn_distance``.

    Examples
    --------
    >>> build("A_cF4_225_a", "Cu", 2.556, {}).lattice.abc  # doctest: +ELLIPSIS
    (3.614..., 3.614..., 3.614...)
    """
    from pymatgen.core import Structure

    table = {p.aflow: p for p in PROTOTYPES}
    if prototype not in table:
        raise ValueError(f"unknown prototype {prototype!r}; known: {list(table)}")
    lattice, coords = table[prototype].cell(params)
    structure = Structure(lattice, [element] * len(coords), coords)
    from ._cluster import median_neighbour_distance

    supercell = structure * (3, 3, 3)
    current = median_neighbour_distance(supercell.cart_coords)
    structure.scale_lattice(structure.volume * (nn_distance / current) ** 3)
    return structure


def space_groups(structure, symprecs=VERIFY_SYMPREC, angle_tolerance=-1.0):
    """Space-group number of a structure by spglib, at each tolerance (0 where spglib fails).

    Parameters
    ----------
    structure : pymatgen.core.Structure
        The crystal.
    symprecs : sequence of float, default=VERIFY_SYMPREC
        Distance tolerances of spglib, Angstrom.
    angle_tolerance : float, default=-1.0
        Angle tolerance of spglib, degrees; negative: spglib's own choice.

    Returns
    -------
    list of int
        The international space-group number at each tolerance, 0 where spglib finds none.

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> fe = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    >>> space_groups(fe), space_groups(fe, (1e-3,))
    ([229, 229, 229], [229])
    """
    cell = (structure.lattice.matrix, structure.frac_coords, structure.atomic_numbers)
    datasets = (symmetry_dataset(cell, symprec, angle_tolerance) for symprec in symprecs)
    return [0 if dataset is None else int(dataset.number) for dataset in datasets]


@validate_params(
    {
        "n_per_class": [Interval(Integral, 1, None, closed="left")],
        "classes": ["array-like"],
        "elements": ["array-like", None],
        "vary_cell": ["boolean"],
        "return_info": ["boolean"],
        "n_jobs": [Integral, None],
        "random_state": [Interval(Integral, 0, None, closed="left"), np.random.Generator, None],
    },
    prefer_skip_nested_validation=True,
)
def make_prototype_dataset(
    n_per_class=100,
    *,
    classes=CLASSES,
    elements=None,
    vary_cell=True,
    return_info=False,
    n_jobs=None,
    random_state=None,
):
    """Pristine elemental crystals of the seven classes, labelled and verified.

    Each crystal is one prototype of its class (hex/rh draws evenly from hcp, double hcp and
    the three rhombohedral prototypes), one element, a nearest-neighbour distance of twice the
    element's empirical atomic radius times a factor drawn from [0.9, 1.1], and free
    parameters drawn from the ranges of :data:`PROTOTYPES` (whose comment says how they were
    chosen). A crystal is kept only if spglib finds its prototype's space group at each of
    the paper's tolerances (1e-3, 1e-6 and 1e-9 Angstrom), so no generated "bct139" is
    secretly bcc or fcc. With ``vary_cell``, each crystal is then written in a cell drawn at
    random, as users' files are: the conventional cell, the primitive cell or a supercell
    with a random integer matrix (determinant 2 to 4), turned by a random rotation.

    Parameters
    ----------
    n_per_class : int, default=100
        Crystals per class.
    classes : sequence of str, default=CLASSES
        Which classes to generate.
    elements : sequence of str, default=None
        Chemical symbols to draw from; default: the 86 of :func:`element_pool`.
    vary_cell : bool, default=True
        Write the crystals in random cells and orientations (otherwise: conventional cells
        in the standard orientation).
    return_info : bool, default=False
        Also return one dict per crystal: prototype, element, nearest-neighbour distance,
        sampled parameters, cell kind.
    n_jobs : int, default=None
        Processes (joblib semantics: ``None`` is one, ``-1`` all cores).
    random_state : int, numpy.random.Generator or None, default=None
        Seed (a non-negative int); the result does not depend on ``n_jobs``.

    Returns
    -------
    structures : list of pymatgen.core.Structure
        ``n_per_class`` crystals of each class, class by class in the order of ``classes``.
    labels : ndarray of str
        The class of each crystal.
    info : list of dict
        Only with ``return_info=True``.

    Examples
    --------
    >>> structures, labels = make_prototype_dataset(2, classes=["fcc", "hex/rh"], random_state=0)
    >>> sorted(labels.tolist())
    ['fcc', 'fcc', 'hex/rh', 'hex/rh']
    """
    from joblib import Parallel, delayed

    unknown = sorted(set(classes) - set(CLASSES))
    if unknown:
        raise ValueError(f"unknown classes {unknown}; known: {list(CLASSES)}.")
    pool = tuple(elements) if elements is not None else element_pool()
    _check_elements(pool)
    seeds = np.random.SeedSequence(_entropy(random_state)).spawn(len(classes) * n_per_class)
    tasks = [
        (label, seeds[i * n_per_class + k])
        for i, label in enumerate(classes)
        for k in range(n_per_class)
    ]
    results = Parallel(n_jobs=n_jobs)(
        delayed(_one)(label, seed, pool, vary_cell) for label, seed in tasks
    )
    structures = [structure for structure, _ in results]
    labels = np.array([label for label, _ in tasks])
    if return_info:
        return structures, labels, [info for _, info in results]
    return structures, labels


def _entropy(random_state):
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**63))
    if random_state is None:
        return None
    return int(random_state)


def _check_elements(pool):
    from pymatgen.core import Element

    if not pool:
        raise ValueError("elements is empty.")
    for symbol in pool:
        try:
            element = Element(symbol)
        except (ValueError, KeyError):
            raise ValueError(f"elements: {symbol!r} is not a chemical element.") from None
        if element.atomic_radius is None:
            raise ValueError(f"elements: {symbol} has no atomic radius to scale the crystal with.")


def _one(label, seed, pool, vary_cell):
    """One verified crystal of a class (runs in a joblib worker)."""
    from pymatgen.core import Element

    rng = np.random.default_rng(seed)
    candidates = [p for p in PROTOTYPES if p.label == label]
    for _ in range(100):
        prototype = candidates[rng.integers(len(candidates))]
        element = pool[rng.integers(len(pool))]
        nn_distance = 2 * float(Element(element).atomic_radius) * rng.uniform(0.9, 1.1)
        params = {name: _draw(rng, intervals) for name, intervals in prototype.ranges.items()}
        structure = build(prototype.aflow, element, nn_distance, params)
        if all(n == prototype.space_group for n in space_groups(structure)):
            break
    else:  # pragma: no cover -- the ranges keep clear of degenerate parameters
        raise RuntimeError(f"no verified {label} crystal in 100 draws")
    cell = "conventional"
    if vary_cell:
        structure, cell = _recell(structure, rng)
    info = {
        "prototype": prototype.aflow,
        "element": element,
        "nn_distance": nn_distance,
        "cell": cell,
        **params,
    }
    return structure, info


def _draw(rng, intervals):
    widths = np.array([high - low for low, high in intervals])
    low, high = intervals[rng.choice(len(intervals), p=widths / widths.sum())]
    return float(rng.uniform(low, high))


def _recell(structure, rng):
    """The same crystal in a random cell (conventional, primitive or supercell), turned."""
    from pymatgen.core import Lattice, Structure
    from scipy.spatial.transform import Rotation

    kind = ("conventional", "primitive", "supercell")[rng.integers(3)]
    if kind == "primitive":
        structure = structure.get_primitive_structure()
    elif kind == "supercell":
        while True:
            matrix = rng.integers(-1, 2, size=(3, 3)) + np.eye(3, dtype=int)
            if 2 <= abs(round(np.linalg.det(matrix))) <= 4:
                break
        structure = structure.copy()
        structure.make_supercell(matrix)
    rotation = Rotation.random(random_state=rng).as_matrix()
    turned = Structure(
        Lattice(structure.lattice.matrix @ rotation.T), structure.species, structure.frac_coords
    )
    return turned, kind


@validate_params(
    {
        "alpha": [Interval(Real, 0, 120, closed="neither")],
        "element": [str],
        "nn_distance": [Interval(Real, 0, None, closed="neither"), None],
        "conventional": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def rhombohedral_path(alpha, *, element="Po", nn_distance=None, conventional=False):
    """The A_hR1 prototype at rhombohedral angle ``alpha`` (the paper's Fig. 4d).

    One atom per rhombohedral primitive cell of equal edges and angles ``alpha``: fcc at 60,
    simple cubic at 90 and bcc at 109.47 degrees (acos(-1/3)), rhombohedral (R-3m) in between.

    Parameters
    ----------
    alpha : float
        Rhombohedral angle, degrees, in (0, 120).
    element : str, default="Po"
        Chemical symbol of the atom.
    nn_distance : float, default=None
        Edge of the rhombohedral cell, Angstrom; default: twice the element's atomic radius.
        The nearest-neighbour distance equals the edge for alpha >= 60 degrees up to
        90, and shrinks below it beyond, as the body diagonal shortens.
    conventional : bool, default=False
        Return the hexagonal-setting cell (3 atoms) instead of the primitive one.

    Returns
    -------
    pymatgen.core.Structure
        The primitive rhombohedral cell (1 atom), or with ``conventional`` the conventional
        cell of the crystal's space group.

    Examples
    --------
    >>> [round(x, 3) for x in rhombohedral_path(90.0, nn_distance=3.0).lattice.angles]
    [90.0, 90.0, 90.0]
    """
    from pymatgen.core import Element, Lattice, Structure

    edge = 2 * float(Element(element).atomic_radius) if nn_distance is None else float(nn_distance)
    primitive = Structure(
        Lattice.from_parameters(edge, edge, edge, alpha, alpha, alpha), [element], [[0, 0, 0]]
    )
    if conventional:
        from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

        with quiet():
            return SpacegroupAnalyzer(primitive, symprec=1e-5).get_conventional_standard_structure()
    return primitive

"""Structures of none of the seven classes, to test and calibrate the reject option.

Everything here is generated from what the installed packages ship, with no download:

* :func:`other_prototypes`: the AFLOW prototypes of pymatgen's bundled library whose space
  group is none of the classes' (196 of its 288 entries), split into prototype families
  (one family per space group) for validation and for testing only;
* :func:`class_group_prototypes`: the library's other prototypes *with* a class's space group
  that are not a class prototype: superstructures (rock salt, CsCl, L1_2, fluorite,
  perovskite, Heusler...) and elemental crystals with a large basis (graphite, lonsdaleite,
  clathrate, alpha and beta boron). Their diffraction differs from the class's; what the
  model says for them is reported, not gated;
* :func:`random_packing`: random sequential addition of hard spheres in a periodic box;
* :func:`quenched_glass`: a Kob-Andersen binary Lennard-Jones mixture (the standard model of
  a metallic glass, here as Ni80P20) quenched to its nearest energy minimum from a random
  packing: an amorphous solid made by physics, not by a noise model.

Liquids come from molecular dynamics (``tools/make_md_data.py``; the tests ship a few
frames), heavily disordered crystals from :class:`~skcrystal.defects.Displacements` with a
Lindemann ratio of 0.3 or more.
"""

from __future__ import annotations

import gzip
import json
import zlib
from functools import lru_cache
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from .datasets import PROTOTYPES, SPACE_GROUP_CLASSES

#: Parts of :func:`other_prototypes`: families for choosing and calibrating, families for testing.
SPLITS = ("validation", "test", "all")

#: Kob-Andersen (sigma, epsilon) of the pairs AA, AB and BB, in units of sigma_AA and epsilon_AA.
_KOB_ANDERSEN = {(0, 0): (1.0, 1.0), (0, 1): (0.8, 1.5), (1, 1): (0.88, 0.5)}
#: Number density of the Kob-Andersen glass, per sigma_AA cubed.
_GLASS_DENSITY = 1.2
#: Ni-Ni nearest-neighbour distance that sets sigma_AA, Angstrom.
_NI_NN = 2.49


@lru_cache(maxsize=1)
def _library():
    """``(aflow label, space group, Structure)`` of every entry of pymatgen's AFLOW library."""
    from importlib.resources import files

    from pymatgen.core import Structure

    path = files("pymatgen.analysis.prototypes") / "aflow_prototypes.json.gz"
    with path.open("rb") as handle:
        entries = json.loads(gzip.decompress(handle.read()))
    library = []
    for entry in entries:
        label = entry["tags"]["aflow"]
        library.append((label, int(label.split("_")[2]), Structure.from_dict(entry["snl"])))
    return tuple(library)


def prototype_family_split(space_group):
    """``"validation"`` or ``"test"``: the fixed half of the families a space group belongs to.

    The split is a hash of the space-group number (CRC-32, even: test), so it does not depend
    on the library's order or size.

    Parameters
    ----------
    space_group : int
        Space-group number, 1 to 230.

    Returns
    -------
    {"validation", "test"}
        The half of the families the space group's prototypes are in.

    Examples
    --------
    >>> prototype_family_split(223), prototype_family_split(225)
    ('validation', 'test')
    """
    return "test" if zlib.crc32(str(int(space_group)).encode()) % 2 == 0 else "validation"


@validate_params({"split": [StrOptions(set(SPLITS))]}, prefer_skip_nested_validation=True)
def other_prototypes(split="all"):
    """Crystals of the AFLOW prototypes whose space group is none of the classes'.

    Parameters
    ----------
    split : {"validation", "test", "all"}, default="all"
        Which families (space groups, see :func:`prototype_family_split`) to return.
        Choose and calibrate on ``"validation"``, report on ``"test"``.

    Returns
    -------
    structures : list of pymatgen.core.Structure
        The library's cells, with the prototype's own species.
    names : list of str
        AFLOW labels.

    Examples
    --------
    >>> structures, names = other_prototypes("test")
    >>> len(structures) == len(names) > 50
    True
    """
    chosen = [
        (label, structure.copy())
        for label, group, structure in _library()
        if group not in SPACE_GROUP_CLASSES and split in ("all", prototype_family_split(group))
    ]
    return [structure for _, structure in chosen], [label for label, _ in chosen]


def class_group_prototypes():
    """The AFLOW prototypes with a class's space group that are not a class prototype.

    Returns
    -------
    structures : list of pymatgen.core.Structure
        The library's cells, with the prototype's own species.
    names : list of str
        AFLOW labels (with the mineral or common name where the library has one).
    classes : list of str
        The class of their space group, which is what spglib would say.

    Examples
    --------
    >>> structures, names, classes = class_group_prototypes()
    >>> names.index("AB_cF8_225_a_b") >= 0, classes[names.index("AB_cF8_225_a_b")]
    (True, 'fcc')
    """
    own = {prototype.aflow for prototype in PROTOTYPES}
    chosen = [
        (label, group, structure.copy())
        for label, group, structure in _library()
        if group in SPACE_GROUP_CLASSES and label not in own
    ]
    return (
        [structure for _, _, structure in chosen],
        [label for label, _, _ in chosen],
        [SPACE_GROUP_CLASSES[group] for _, group, _ in chosen],
    )


@validate_params(
    {
        "n_atoms": [Interval(Integral, 1, None, closed="left")],
        "packing_fraction": [Interval(Real, 0, 0.64, closed="right")],
        "element": [str],
        # numpy's Generator too, as documented: np.random.default_rng takes it as it is.
        "random_state": ["random_state", np.random.Generator],
    },
    prefer_skip_nested_validation=True,
)
def random_packing(n_atoms=256, packing_fraction=0.6, *, element="Cu", random_state=None):
    """A random dense packing of spheres: random points pushed apart until no two overlap.

    Points are drawn uniformly in a periodic cube and moved to the nearest minimum of a
    harmonic overlap energy (soft spheres, L-BFGS), as in the jamming studies of O'Hern et
    al. (Phys. Rev. E 68, 011306 (2003)). Below random close packing (a packing fraction of
    about 0.64) the minimum has no overlap: a random packing of hard spheres, the Bernal
    model of a simple liquid or metallic glass. The sphere diameter is twice the element's
    atomic radius.

    Parameters
    ----------
    n_atoms : int, default=256
        Spheres (atoms) in the box.
    packing_fraction : float, default=0.6
        Volume of the spheres over the volume of the box, in (0, 0.64].
    element : str, default="Cu"
        Chemical symbol of every atom; its atomic radius sets the sphere diameter.
    random_state : int, numpy.random.RandomState, numpy.random.Generator or None, default=None
        Seed or generator of the random starting points.

    Returns
    -------
    pymatgen.core.Structure
        ``n_atoms`` atoms of ``element`` in a cubic periodic cell.

    Examples
    --------
    >>> packing = random_packing(64, 0.5, random_state=0)
    >>> len(packing), bool(packing.distance_matrix[packing.distance_matrix > 0].min() > 2.5)
    (64, True)
    """
    from pymatgen.core import Element, Lattice, Structure

    rng = np.random.default_rng(random_state)
    diameter = 2 * float(Element(element).atomic_radius)
    side = (n_atoms * np.pi / 6 / packing_fraction) ** (1 / 3)
    positions = _minimise(
        rng.random((n_atoms, 3)) * side, side, _overlap, np.ones((n_atoms, n_atoms))
    )
    # Soft spheres keep overlaps of order the minimiser's tolerance: leave room for them.
    scale = diameter * 1.001
    return Structure(
        Lattice.cubic(side * scale),
        [element] * n_atoms,
        positions * scale,
        coords_are_cartesian=True,
    )


@validate_params(
    {
        "n_atoms": [Interval(Integral, 5, None, closed="left")],
        "species": [list, tuple],
        # numpy's Generator too, as documented: np.random.default_rng takes it as it is.
        "random_state": ["random_state", np.random.Generator],
    },
    prefer_skip_nested_validation=True,
)
def quenched_glass(n_atoms=256, *, species=("Ni", "P"), random_state=None):
    """An amorphous solid: a Kob-Andersen Lennard-Jones glass quenched to an energy minimum.

    80 % A and 20 % B atoms (Kob and Andersen, Phys. Rev. E 51, 4626 (1995): sigma_AB = 0.8,
    sigma_BB = 0.88, epsilon_AB = 1.5, epsilon_BB = 0.5, cut off at 2.5 sigma and shifted),
    at number density 1.2, start from random points and go down to the nearest minimum of the
    energy (L-BFGS), which is an infinitely fast quench. The mixture was made to resist
    crystallisation. Lengths are scaled so that sigma_AA is the Ni-Ni distance of nickel.

    Parameters
    ----------
    n_atoms : int, default=256
        Atoms in the box, at least 5; a fifth of them (rounded) are B atoms.
    species : (str, str), default=("Ni", "P")
        Species of the A and B atoms.
    random_state : int, numpy.random.RandomState, numpy.random.Generator or None, default=None
        Seed or generator of the random starting points.

    Returns
    -------
    pymatgen.core.Structure
        The glass in a cubic periodic cell.

    Examples
    --------
    >>> glass = quenched_glass(100, random_state=0)
    >>> sorted(glass.composition.as_dict().items())
    [('Ni', 80.0), ('P', 20.0)]
    """
    from pymatgen.core import Lattice, Structure

    rng = np.random.default_rng(random_state)
    n_b = round(0.2 * n_atoms)
    kinds = np.r_[np.zeros(n_atoms - n_b, int), np.ones(n_b, int)]
    side = (n_atoms / _GLASS_DENSITY) ** (1 / 3)
    sigma = np.empty((2, 2, 2))
    for (i, j), pair in _KOB_ANDERSEN.items():
        sigma[:, i, j] = sigma[:, j, i] = pair
    pairs = sigma[:, kinds[:, None], kinds[None, :]]
    # Start from a soft-sphere packing, so that no two atoms begin on top of each other.
    start = _minimise(rng.random((n_atoms, 3)) * side, side, _overlap, 0.8 * pairs[0])
    positions = _minimise(start, side, _lennard_jones, pairs)
    return Structure(
        Lattice.cubic(side * _NI_NN),
        [species[k] for k in kinds],
        positions * _NI_NN,
        coords_are_cartesian=True,
    )


def _minimise(start, side, potential, parameters):
    """Positions at the nearest minimum of a pair potential in a periodic cube (L-BFGS)."""
    from scipy.optimize import minimize

    def energy(flat):
        delta = flat.reshape(-1, 3)[:, None, :] - flat.reshape(-1, 3)[None, :, :]
        delta -= side * np.round(delta / side)
        r2 = np.einsum("ijk,ijk->ij", delta, delta)
        np.fill_diagonal(r2, np.inf)
        pair_energy, slope = potential(r2, parameters)
        # slope is dE/dr / r, so that the force on i from j is slope * (r_i - r_j).
        return 0.5 * pair_energy.sum(), np.einsum("ij,ijk->ik", slope, delta).ravel()

    result = minimize(
        energy,
        start.ravel(),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 10_000, "gtol": 1e-8},
    )
    return result.x.reshape(-1, 3) % side


def _overlap(r2, diameter):
    """Harmonic repulsion of soft spheres: (1 - r / d)^2 where they overlap."""
    r = np.sqrt(r2)
    overlap = np.clip(1 - r / diameter, 0, None)
    return overlap**2, np.where(overlap > 0, -2 * overlap / (diameter * r), 0.0)


def _lennard_jones(r2, parameters, cutoff=2.5):
    """Lennard-Jones, truncated at ``cutoff`` sigma and shifted to zero there."""
    sigma, epsilon = parameters
    inside = r2 < (cutoff * sigma) ** 2
    s6 = np.where(inside, (sigma**2 / r2) ** 3, 0.0)
    shift = np.where(inside, 4 * epsilon * (cutoff**-12 - cutoff**-6), 0.0)
    return 4 * epsilon * (s6**2 - s6) - shift, np.where(
        inside, -24 * epsilon * (2 * s6**2 - s6) / r2, 0.0
    )
